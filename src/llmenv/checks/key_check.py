"""The `key` check: which API key (and base URL, organization, project) a program sees, from where, in what shape.

Like `gh auth status` and `aws configure list`, every value is shown masked with its source, and the fix
offered depends on that source: a key from the shell is not fixed by editing `.env`.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path
from urllib.parse import urlsplit

from llmenv.context import DEFAULT_BASE_URL, Context, Setting
from llmenv.dotenv_file import DotenvEntry, read_dotenv
from llmenv.findings import FileAction, Finding, Fix, Location
from llmenv.key_shapes import (
    OPENAI_KEY_PAGE,
    display_url,
    is_local_host,
    issuer_of,
    looks_like_key,
    placeholder_reason,
    provider_for_host,
    shape_problem,
    universal_problem,
)
from llmenv.secrets import mask

ID = "key"
TITLE = "API key"

KEY = "OPENAI_API_KEY"
OTHER_SETTINGS = ("OPENAI_BASE_URL", "OPENAI_API_BASE", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID")
EXAMPLE_NAMES = (".env.example", ".env.sample", ".env.template", ".env.dist")
# Names people write when they mean OPENAI_API_KEY; the SDK reads none of them.
NEAR_MISS_NAMES = frozenset(
    {"OPENAI_KEY", "OPENAIKEY", "OPENAI_APIKEY", "OPEN_AI_API_KEY", "OPENAI_API_TOKEN", "OPENAI_TOKEN"}
    | {"OPENAI_SECRET_KEY", "OPENAI_API_SECRET", "CHATGPT_API_KEY", "OPENAI_API_KEYS", "OPENAPI_API_KEY"}
)
_VALID_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ASSIGNMENT_LINE = re.compile(r"^\s*(?:export\s+)?[A-Za-z_][A-Za-z0-9_]*\s*=", re.MULTILINE)
_MAX_LINE_FINDINGS = 5

# What a code scan looks for: anything that loads a .env into the environment.
_LOADER_HINTS = (b"load_dotenv", b"dotenv_values", b"find_dotenv", b"read_env", b"env_file", b"decouple", b"%dotenv")
_SKIP_DIRS = frozenset(
    {"node_modules", "__pycache__", "venv", "site-packages", "build", "dist", "target", "htmlcov", "__pypackages__"}
)
_MAX_SCANNED_FILES = 3000
_MAX_SCANNED_BYTES = 1 << 20


def run(ctx: Context) -> list[Finding]:
    """Report the effective key and settings with their sources, and everything that keeps the key from working."""
    example = _find_example(ctx)
    example_value = _example_value(example)
    source = ctx.setting(KEY)
    host = _host_of(ctx.base_url())
    findings: list[Finding] = []
    findings += _key_findings(ctx, source, host, example_value)
    findings += _shadow_findings(ctx, source)
    findings += _rc_findings(ctx, source)
    findings += _dotenv_findings(ctx, example)
    findings += _not_loaded_findings(ctx, source)
    findings += _setting_findings(ctx)
    return findings


# --- where the key comes from ------------------------------------------------------------------------------


def _host_of(url: str) -> str:
    try:
        return (urlsplit(url if "://" in url else "//" + url).hostname or "").lower()
    except ValueError:  # e.g. an unclosed `[` of an IPv6 address; the network check reports the URL
        return ""


def _key_page(host: str) -> str:
    provider = provider_for_host(host)
    return provider.key_page if provider else OPENAI_KEY_PAGE


def _find_example(ctx: Context) -> Path | None:
    """The project's sample dotenv file (`.env.example` and its cousins), next to `.env` or in the project."""
    for folder in dict.fromkeys((ctx.env_file.parent, ctx.project)):
        for name in EXAMPLE_NAMES:
            candidate = folder / name
            if candidate.is_file() and candidate != ctx.env_file:
                return candidate
    return None


def _example_value(example: Path | None) -> str | None:
    if example is None:
        return None
    entry = read_dotenv(example).lookup(KEY)
    return entry.value if entry is not None else None


# --- the key itself -----------------------------------------------------------------------------------------


def _change_fixes(ctx: Context, source: Setting, page: str) -> tuple[Fix, ...]:
    """Where to correct the key depends on where it comes from (the gh/aws lesson)."""
    if not source.in_shell and source.entry is not None:
        return (Fix(f"Put your real key on {source.label}; make or copy one at {page}"),)
    if source.origin is not None:
        where = f"{ctx.relpath(source.origin.path)} line {source.origin.line}"
        return (
            Fix(
                f"Correct it on {where}, then open a new terminal; or drop it from this shell to use .env's",
                f"unset {KEY}",
            ),
        )
    return (
        Fix(
            f"It was set in this shell's environment (not by a start-up file): unset it and keep the key in "
            f"{ctx.relpath(ctx.dotenv.path)}; make or copy one at {page}",
            f"unset {KEY}",
        ),
    )


def _key_found(ctx: Context, source: Setting, host: str, stand_in: str | None) -> Finding:
    """The aws-configure-list line: the key, masked, and where it comes from; all sources under -v."""
    notes = []
    if source.entry is not None:
        lines = [e.line for e in ctx.dotenv.bindings_of(KEY)]
        if len(lines) > 1:
            notes.append(f"{ctx.relpath(ctx.dotenv.path)} sets it on lines {', '.join(map(str, lines))}; the last wins")
        if source.entry.value != source.value:
            notes.append("expanded from ${…} in .env")
    later = [a for a in ctx.shell_rc if a.name == KEY and a.literal and a.value != source.value]
    if source.in_shell and later:
        last = later[-1]
        notes.append(f"new terminals get {mask(last.value)} from {ctx.relpath(last.path)} line {last.line}")
    if stand_in:
        notes.append(f"a stand-in value; fine only if {host or 'the server'} ignores keys")
    message = f"{KEY} {mask(source.value)} from {source.label}" + (f" ({'; '.join(notes)})" if notes else "")
    return Finding("key-found", "info", message, source.location, detail=_sources_table(ctx))


def _sources_table(ctx: Context) -> str:
    """Every place the key is set, masked: what `-v` shows."""
    rows = [f"shell: {mask(ctx.environ[KEY]) if KEY in ctx.environ else 'not set'}"]
    for entry in ctx.dotenv.bindings_of(KEY):
        rows.append(f"{ctx.relpath(ctx.dotenv.path)} line {entry.line}: {mask(entry.value or '')}")
    if not ctx.dotenv.exists:
        rows.append(f"{ctx.relpath(ctx.dotenv.path)}: no such file")
    for a in ctx.shell_rc:
        if a.name == KEY:
            shown = mask(a.value) if a.literal else "(computed when the shell starts)"
            rows.append(f"{ctx.relpath(a.path)} line {a.line}: {shown}")
    rows += [f"{ctx.relpath(ctx.dotenv.path)} {note}" for note in ctx.dotenv.notes]
    return "\n".join(rows)


def _key_findings(ctx: Context, source: Setting | None, host: str, example_value: str | None) -> list[Finding]:
    """key-found, then what makes the key unusable: key-missing, key-placeholder, key-malformed."""
    if source is None or not source.value.strip():
        return [_key_missing(ctx, source, host)]
    value = source.value
    needs_real_key = provider_for_host(host) is not None
    stand_in = placeholder_reason(value, example_value)
    broken = universal_problem(value)
    findings = [_key_found(ctx, source, host, stand_in if not (needs_real_key or broken) else None)]
    page = _key_page(host)
    if needs_real_key and stand_in:
        if stand_in.startswith("is the sample value") and looks_like_key(value):
            stand_in += " (if it is a real key, it is shared with everyone who has the project: rotate it)"
        findings.append(
            Finding(
                "key-placeholder",
                "fail",
                f"{KEY} ({mask(value)}, from {source.label}) {stand_in}",
                source.location,
                _change_fixes(ctx, source, page),
            )
        )
        return findings
    if broken:
        findings.append(
            Finding(
                "key-malformed",
                "fail",
                f"{KEY} ({mask(value)}, from {source.label}) {broken}",
                source.location,
                _change_fixes(ctx, source, page),
            )
        )
        return findings
    wrong = shape_problem(value, host)
    if wrong:
        fixes = _change_fixes(ctx, source, page)
        if wrong.issuer is not None and wrong.issuer.base_url and provider_for_host(host) is not wrong.issuer:
            fixes += (
                Fix(
                    f"Or, to use {wrong.issuer.name} with this key, point the SDK at its OpenAI-compatible endpoint",
                    f"export OPENAI_BASE_URL={wrong.issuer.base_url}",
                ),
            )
        findings.append(
            Finding(
                "key-malformed",
                "fail",
                f"{KEY} ({mask(value)}, from {source.label}) {wrong.reason}",
                source.location,
                fixes,
            )
        )
    return findings


def _near_misses(ctx: Context) -> list[str]:
    """`.env` lines and shell variables that set a name that is almost OPENAI_API_KEY."""
    found = []
    for entry in ctx.dotenv.entries:
        if entry.name is None or entry.value is None or entry.name == KEY:
            continue
        cleaned = entry.name.lstrip("\ufeff").strip("\"' ")
        if cleaned.upper() in NEAR_MISS_NAMES or cleaned.upper() == KEY:
            found.append(f"{ctx.relpath(ctx.dotenv.path)} line {entry.line} sets {_shown(entry.name)}")
    for name in ctx.environ:
        if name != KEY and (name.upper() in NEAR_MISS_NAMES or name.upper() == KEY):
            found.append(f"the shell sets {_shown(name)}")
    return found


def _swallowed_key_line(ctx: Context) -> DotenvEntry | None:
    """A quoted value that runs on and swallows the line meant to set the key."""
    pattern = re.compile(rf"^\s*(?:export\s+)?{KEY}\s*=", re.MULTILINE)
    for entry in ctx.dotenv.entries:
        if entry.name != KEY and entry.value and "\n" in entry.value and pattern.search(entry.value):
            return entry
    return None


def _key_missing(ctx: Context, source: Setting | None, host: str) -> Finding:
    """No key, or an empty one, with the most likely reason and a fix fitting the server."""
    rel = ctx.relpath(ctx.dotenv.path)
    reasons: list[str] = []
    fixes: list[Fix] = []
    location = Location(rel) if ctx.dotenv.exists else None
    if source is not None and source.in_shell:
        message = f"{KEY} is set but empty in the shell"
        if source.origin is not None:
            message += f" (by {ctx.relpath(source.origin.path)} line {source.origin.line})"
        hidden = ctx.dotenv_setting(KEY)
        if hidden is not None and hidden.value:
            message += f", and it hides the key on {hidden.label}: load_dotenv() never overrides a set variable"
            location = hidden.location
        fixes.append(Fix("Remove the empty variable from this shell", f"unset {KEY}"))
    elif source is not None and source.entry is not None:
        message = f"{KEY} is empty on {rel} line {source.entry.line}"
        location = source.location
    else:
        message = f"no {KEY} in the shell or in {rel}"
        if ctx.dotenv.problem:
            reasons.append(f"{rel} cannot be read (see below)")
        elif not ctx.dotenv.exists:
            reasons.append(f"there is no {rel}")
        unread = [a for a in ctx.shell_rc if a.name == KEY and a.value]
        if unread:
            a = unread[-1]
            where = ctx.relpath(a.path)
            reasons.append(
                f"{where} line {a.line} sets it, but this shell does not have it (a terminal opened before the "
                "line was added, or a shell that does not read that file)"
            )
            fixes.append(Fix("Open a new terminal, or load the file into this one", f"source {where}"))
        unparsed = [e for e in ctx.dotenv.entries if e.error and re.match(rf"\s*(export\s+)?{KEY}\s*=", e.text)]
        if unparsed:
            reasons.append(f"the line meant to set it, {rel} line {unparsed[0].line}, cannot be parsed (see below)")
        swallowed = _swallowed_key_line(ctx)
        if swallowed is not None:
            reasons.append(
                f"the {KEY} line is inside the quoted value of {_shown(swallowed.name or '')} opened on "
                f"{rel} line {swallowed.line} (see below)"
            )
        bom = [e for e in ctx.dotenv.entries if e.name == "\ufeff" + KEY]
        if bom:
            reasons.append(f"{rel} line {bom[0].line} names it with a byte-order mark in front (see below)")
        bare = [e for e in ctx.dotenv.entries if e.name and e.value is None and looks_like_key(e.name)]
        if bare:
            reasons.append(f"{rel} line {bare[0].line} holds a key with no {KEY}= in front (see below)")
        reasons += [f"{hint}, but the SDK reads only {KEY}" for hint in _near_misses(ctx)]
    if reasons:
        message += ": " + "; ".join(reasons)
    provider = provider_for_host(host)
    if provider is not None:
        fixes.append(Fix(f"Make a key at {provider.key_page} and add the line {KEY}=<your key> to {rel}"))
    else:
        fixes.append(
            Fix(
                f"The openai SDK will not start without a key, even for a server that ignores it ({host or 'custom'}): "
                f"add {KEY}=<the server's key, or any text> to {rel}"
            )
        )
    return Finding("key-missing", "fail", message, location, tuple(fixes))


def _shadow_findings(ctx: Context, source: Setting | None) -> list[Finding]:
    """key-shell-overrides-dotenv: the shell and `.env` disagree, and load_dotenv() keeps the shell's."""
    if source is None or not source.in_shell:
        return []
    hidden = ctx.dotenv_setting(KEY)
    if hidden is None or hidden.value == source.value:
        return []
    dot_value, rel, line = hidden.value, ctx.relpath(ctx.dotenv.path), hidden.location.line
    shell_shown = mask(source.value) if source.value else "empty"
    set_by = f", set by {ctx.relpath(source.origin.path)} line {source.origin.line}" if source.origin else ""
    message = (
        f"the shell's {KEY} ({shell_shown}{set_by}) differs from the one on {rel} line {line} "
        f"({mask(dot_value)}); load_dotenv() keeps the shell's, so your program uses {shell_shown}"
    )
    if source.value.strip() == dot_value.strip():
        message += " (they differ only in blanks or line ends around the key)"
    elif source.value and mask(source.value) == mask(dot_value):
        message += " (same ending, but different keys)"
    fixes = [Fix(f"To use the key in {rel}: remove the shell's", f"unset {KEY}")]
    if source.origin is not None:
        where = f"{ctx.relpath(source.origin.path)} line {source.origin.line}"
        fixes.append(Fix(f"…and delete the export on {where}, or every new terminal sets the old key again"))
    fixes.append(Fix(f"Or let {rel} win, in your code: load_dotenv(override=True)"))
    fixes.append(Fix(f"Or, if the shell's key is the right one, put it on {rel} line {line} too"))
    return [Finding("key-shell-overrides-dotenv", "warn", message, hidden.location, tuple(fixes))]


def _git_repo_holding(path: Path) -> Path | None:
    """The git work tree a (possibly symlinked) dotfile really lives in, e.g. a dotfiles repository."""
    try:
        real = path.resolve()
    except OSError:
        return None
    for folder in real.parents:
        if (folder / ".git").exists():
            return folder
    return None


def _rc_findings(ctx: Context, source: Setting | None) -> list[Finding]:
    """key-in-shell-rc: a key written out in a shell start-up file, where dotfiles leak it."""
    findings = []
    for a in ctx.shell_rc:
        if a.name != KEY or not a.literal or not looks_like_key(a.value):
            continue
        where = ctx.relpath(a.path)
        message = (
            f"{where} line {a.line} holds the key {mask(a.value)} in plain text: every program you start gets it, "
            "and dotfiles get shared, synced and committed"
        )
        repo = _git_repo_holding(a.path)
        if repo is not None:
            message += f"; this file is in the git repository {ctx.relpath(repo)}"
        if source is not None and source.in_shell and source.value == a.value:
            message += "; it is the key your programs use now"
        issuer = issuer_of(a.value)
        page = issuer.key_page if issuer is not None else OPENAI_KEY_PAGE
        fixes = (
            Fix(
                f"Delete line {a.line} of {where}; keep the key in the project's git-ignored .env, or fetch it "
                f"from a password manager: export {KEY}=$(pass show openai)"
            ),
            Fix(f"If {where} was ever shared, synced or committed, revoke the key and make a new one at {page}"),
        )
        findings.append(Finding("key-in-shell-rc", "warn", message, Location(where, a.line), fixes))
    return findings


# --- the .env file's syntax ---------------------------------------------------------------------------------


def _shown(text: str, limit: int = 60) -> str:
    """A name safe to print: invisible and non-ASCII characters escaped, a key-like name masked, long ones cut."""
    if looks_like_key(text) and issuer_of(text.strip()):
        return mask(text)
    escaped = "".join(c if 32 <= ord(c) < 127 else c.encode("unicode_escape").decode("ascii") for c in text)
    return escaped if len(escaped) <= limit else escaped[: limit - 1] + "…"


def _parse_error_reason(text: str) -> str:
    """Why python-dotenv skipped this statement, in words; the text itself may hold a key and is never shown."""
    first = text.lstrip(" \t\n").split("\n", 1)[0]
    body = re.sub(r"^\s*export\s+", "", first)
    match = re.match(r"([^=\s]+)\s*=\s*(.*)$", body)
    if match:
        value = match.group(2)
        if value[:1] in ("'", '"') and value.count(value[0]) % 2 == 1:
            return f"the {value[0]} quote opened here is never closed"
        if value[:1] in ("'", '"'):
            return "there is text after the closing quote (a comment needs a space and #)"
        return f"the name {_shown(match.group(1))} has characters a dotenv name cannot have"
    if re.match(r"^\s*[A-Za-z_][A-Za-z0-9_.]*\s*:", body):
        return "it uses `:` (YAML or JSON); a dotenv line is NAME=value"
    if re.match(r"(?i)^\s*set\s+\S+=", body):
        return "it is Windows cmd syntax (`set NAME=value`); a dotenv line is NAME=value"
    if "=" not in body:
        if looks_like_key(body.strip()):
            return f"it is a bare key with no name: write it as {KEY}=<the key>"
        return "it has no `=`; a dotenv line is NAME=value"
    return "python-dotenv cannot read it as NAME=value"


def _line_note(entry: DotenvEntry) -> str:
    return f" (python-dotenv's warning says line {entry.dotenv_line})" if entry.dotenv_line != entry.line else ""


def _dotenv_findings(ctx: Context, example: Path | None) -> list[Finding]:
    """dotenv-missing, dotenv-parse-error and dotenv-invalid-name: the file as python-dotenv reads it."""
    rel = ctx.relpath(ctx.dotenv.path)
    dotenv = ctx.dotenv
    if not dotenv.exists:
        if example is None:
            return []
        rel_example = ctx.relpath(example)
        fix = Fix(
            f"Copy {rel_example} to {rel} (readable by you only) and put your own values in it",
            f"cp {rel_example} {rel} && chmod 600 {rel}",
            auto=True,
            action=FileAction("copy", path=str(ctx.env_file.absolute()), source=str(example.absolute())),
        )
        message = f"{rel_example} exists but {rel} does not: a program calling load_dotenv() gets none of its settings"
        return [Finding("dotenv-missing", "warn", message, Location(rel_example), (fix,))]
    if dotenv.problem:
        fixes: tuple[Fix, ...] = ()
        if "UTF" in dotenv.problem:
            fixes = (
                Fix(
                    f"Re-save {rel} as UTF-8 (without a byte-order mark)",
                    f"iconv -f UTF-16 -t UTF-8 {rel} > {rel}.utf8 && mv {rel}.utf8 {rel}",
                ),
            )
        return [Finding("dotenv-parse-error", "warn", f"{rel} {dotenv.problem}", Location(rel), fixes)]
    findings = _parse_error_findings(ctx, rel) + _swallow_findings(ctx, rel) + _invalid_name_findings(ctx, rel)
    return findings


def _parse_error_findings(ctx: Context, rel: str) -> list[Finding]:
    errors = [e for e in ctx.dotenv.entries if e.error]
    findings = [
        Finding(
            "dotenv-parse-error",
            "warn",
            f"{rel} line {e.line} cannot be parsed, so python-dotenv skips it{_line_note(e)}: "
            + _parse_error_reason(e.text),
            Location(rel, e.line),
            (Fix(f"Rewrite line {e.line} as NAME=value (quote a value that holds spaces or #)"),),
        )
        for e in errors[:_MAX_LINE_FINDINGS]
    ]
    if len(errors) > _MAX_LINE_FINDINGS:
        rest = errors[_MAX_LINE_FINDINGS:]
        findings.append(
            Finding(
                "dotenv-parse-error",
                "warn",
                f"{rel}: {len(rest)} more lines cannot be parsed (lines {rest[0].line}–{rest[-1].line}); "
                "is this a dotenv file at all?",
                Location(rel, rest[0].line),
            )
        )
    return findings


def _swallow_findings(ctx: Context, rel: str) -> list[Finding]:
    """A quote that closes many lines later turns the settings in between into one value."""
    findings = []
    for e in ctx.dotenv.entries:
        if e.name is None or not e.value or "\n" not in e.value:
            continue
        swallowed = len(_ASSIGNMENT_LINE.findall(e.value))
        if not swallowed:
            continue
        end = e.line + e.text.lstrip(" \t\n").count("\n")
        findings.append(
            Finding(
                "dotenv-parse-error",
                "warn",
                f"the quote opened on {rel} line {e.line} closes only on line {end}: {swallowed} NAME=value line(s) "
                f"in between are part of {_shown(e.name)}'s value, and python-dotenv does not set them",
                Location(rel, e.line),
                (Fix(f"Close the quote on line {e.line}, or remove it"),),
            )
        )
    return findings


def _pip_install(ctx: Context, requirement: str) -> str:
    """The pip command that installs `requirement` into the checked interpreter."""
    python = ctx.python or "python3"
    return f"{shlex.quote(python)} -m pip install {shlex.quote(requirement)}"


def _invalid_name_reason(ctx: Context, entry: DotenvEntry) -> tuple[str, tuple[Fix, ...]]:
    rel = ctx.relpath(ctx.dotenv.path)
    name = entry.name or ""
    shown = _shown(name)
    if name.startswith("\ufeff"):
        clean = name.lstrip("\ufeff")
        return (
            f"the name on {rel} line {entry.line} starts with an invisible byte-order mark (BOM): python-dotenv "
            f"1.2.2 and older set {shown}, so {_shown(clean)} is not set",
            (
                Fix(f"Re-save {rel} as UTF-8 without BOM", f"sed -i '1s/^\\xEF\\xBB\\xBF//' {rel}"),
                Fix(
                    "Or upgrade python-dotenv, which ignores the BOM from 1.2.3 on",
                    _pip_install(ctx, "python-dotenv>=1.2.3"),
                ),
            ),
        )
    if any(c in name for c in ".[("):
        if re.search(r"(?i)api_?key|openai", name):
            key_line = ctx.dotenv.lookup(KEY)
            then = (
                f"{KEY} is already set on line {key_line.line}: delete this line"
                if key_line
                else (f"write it as {KEY}=<the key>")
            )
        else:
            then = "write it as NAME=value"
        return (
            f"{rel} line {entry.line} is Python, not dotenv syntax: it sets a variable named {shown}, which nothing "
            f"reads" + (f" (the SDK reads {KEY})" if "key" in name.lower() else ""),
            (Fix(f"On line {entry.line}: {then}"),),
        )
    if name.lower().startswith("$env:"):
        return (
            f"{rel} line {entry.line} is PowerShell, not dotenv syntax: it sets a variable named {shown}",
            (Fix(f"Write line {entry.line} as {_shown(name[5:])}=value"),),
        )
    if name[:1] in ("'", '"') or name[-1:] in ("'", '"'):
        return (
            f"the name on {rel} line {entry.line} keeps its quotes: python-dotenv sets {shown}",
            (Fix(f"Remove the quotes around the name on line {entry.line}"),),
        )
    return (
        f"{shown} on {rel} line {entry.line} is not an environment variable name (letters, digits and _, "
        "not starting with a digit), so no program reads it",
        (Fix(f"Rename it on line {entry.line}, or delete the line"),),
    )


def _invalid_name_findings(ctx: Context, rel: str) -> list[Finding]:
    findings = [
        Finding(
            "dotenv-invalid-name",
            "warn",
            f"{rel} line {e.line} is a bare key with no name in front ({mask(e.name or '')}): python-dotenv reads "
            "it as a variable name without a value, and sets nothing",
            Location(rel, e.line),
            (Fix(f"Write line {e.line} as {KEY}=<the key>"),),
        )
        for e in ctx.dotenv.entries
        if e.name and e.value is None and looks_like_key(e.name)
    ][:_MAX_LINE_FINDINGS]
    bad = [e for e in ctx.dotenv.entries if e.name and e.value is not None and not _VALID_NAME.fullmatch(e.name)]
    for entry in bad[:_MAX_LINE_FINDINGS]:
        message, fixes = _invalid_name_reason(ctx, entry)
        findings.append(Finding("dotenv-invalid-name", "warn", message, Location(rel, entry.line), fixes))
    if len(bad) > _MAX_LINE_FINDINGS:
        findings.append(
            Finding(
                "dotenv-invalid-name",
                "warn",
                f"{rel}: {len(bad) - _MAX_LINE_FINDINGS} more names are not environment variable names",
                Location(rel, bad[_MAX_LINE_FINDINGS].line),
            )
        )
    return findings


# --- is .env loaded at all ----------------------------------------------------------------------------------


def _code_loads_dotenv(project: Path) -> bool | None:
    """Whether the project's Python code (or notebooks) loads a .env; None when there is no code to tell by."""
    seen = 0
    for root, dirs, files in os.walk(project):
        dirs[:] = [
            d
            for d in dirs
            if not d.startswith(".") and d not in _SKIP_DIRS and not os.path.exists(os.path.join(root, d, "pyvenv.cfg"))
        ]
        for name in files:
            if not name.endswith((".py", ".ipynb")):
                continue
            seen += 1
            if seen > _MAX_SCANNED_FILES:
                return None  # too much code to be sure; say nothing rather than something wrong
            path = os.path.join(root, name)
            try:
                if os.path.getsize(path) > _MAX_SCANNED_BYTES:
                    continue
                with open(path, "rb") as handle:
                    data = handle.read()
            except OSError:
                continue
            if any(hint in data for hint in _LOADER_HINTS):
                return True
    return False if seen else None


def _not_loaded_findings(ctx: Context, source: Setting | None) -> list[Finding]:
    """dotenv-not-loaded: the key is only in .env, and nothing would put it into the environment."""
    if source is None or source.in_shell or source.entry is None or not source.value.strip():
        return []
    if _code_loads_dotenv(ctx.project) is not False:
        return []
    facts = ctx.interpreter()
    if facts is None or facts.error or facts.has("python-dotenv"):
        return []
    rel = ctx.relpath(ctx.dotenv.path)
    message = (
        f"{KEY} is only in {rel}, but no Python file in the project calls load_dotenv() and python-dotenv is not "
        f"installed in {facts.executable}: a program started from this shell does not see the key"
    )
    fixes = (
        Fix("Install python-dotenv", _pip_install(ctx, "python-dotenv")),
        Fix("…and load the file first thing in your program: from dotenv import load_dotenv; load_dotenv()"),
    )
    return [Finding("dotenv-not-loaded", "warn", message, source.location, fixes)]


# --- the other settings -------------------------------------------------------------------------------------


def _shown_setting(name: str, value: str) -> str:
    if name in ("OPENAI_BASE_URL", "OPENAI_API_BASE"):
        return display_url(value.strip())
    return _shown(value.strip(), limit=100)


def _setting_findings(ctx: Context) -> list[Finding]:
    """setting-found for each OpenAI setting in use, then base-url-legacy-var and insecure-base-url."""
    findings = []
    for name in OTHER_SETTINGS:
        found = ctx.setting(name)
        if found is None:
            continue
        message = f"{name}={_shown_setting(name, found.value)} from {found.label}"
        hidden = ctx.dotenv_setting(name) if found.in_shell else None
        if hidden is not None and hidden.value != found.value:
            message += (
                f" (it hides {_shown_setting(name, hidden.value)} on {hidden.label}: load_dotenv() keeps the shell's)"
            )
        if name == "OPENAI_BASE_URL" and ctx.options.base_url:
            message += f"; --base-url {display_url(ctx.options.base_url)} overrides it for this run"
        findings.append(Finding("setting-found", "info", message, found.location))
    findings += _legacy_base_findings(ctx)
    findings += _insecure_url_findings(ctx)
    return findings


def _legacy_base_findings(ctx: Context) -> list[Finding]:
    """base-url-legacy-var: OPENAI_API_BASE, which openai>=1 no longer reads."""
    found = ctx.setting("OPENAI_API_BASE")
    if found is None or not found.value.strip():
        return []
    value, where, location = found.value, found.label, found.location
    current = ctx.setting("OPENAI_BASE_URL")
    if current is not None and current.value.strip().rstrip("/") == value.strip().rstrip("/"):
        return []
    facts = ctx.interpreter()
    version = facts.version_of("openai") if facts is not None and not facts.error else None
    if version is None or _major(version) < 1:
        return []
    uses = display_url(current.value.strip()) if current is not None and current.value.strip() else DEFAULT_BASE_URL
    message = (
        f"OPENAI_API_BASE={display_url(value.strip())} (from {where}) is ignored by the installed openai {version}, "
        f"which reads OPENAI_BASE_URL: your program talks to {uses}"
    )
    if location is not None and not location.path.startswith("~"):
        fix = Fix(f"Rename it to OPENAI_BASE_URL on {location.path} line {location.line}")
    elif location is not None:
        fix = Fix(f"Rename it to OPENAI_BASE_URL on {location.path} line {location.line}, then open a new terminal")
    else:
        fix = Fix("Set the new name in this shell", 'export OPENAI_BASE_URL="$OPENAI_API_BASE"')
    note = Fix("LangChain's ChatOpenAI still reads OPENAI_API_BASE: keeping both names set to the same URL is fine")
    return [Finding("base-url-legacy-var", "warn", message, location, (fix, note))]


def _major(version: str) -> int:
    match = re.match(r"\s*(\d+)", version)
    return int(match.group(1)) if match else 0


def _insecure_url_findings(ctx: Context) -> list[Finding]:
    """insecure-base-url: plain http to another machine, where the key travels in clear."""
    url = ctx.base_url()
    host = _host_of(url)
    if not url.lower().startswith("http://") or not host or is_local_host(host):
        return []
    parts = urlsplit(url)  # parses: _host_of found a host
    if ctx.options.base_url:
        where, location = "--base-url", None
    else:
        found = ctx.setting("OPENAI_BASE_URL")
        where, location = (found.label, found.location) if found else ("the default", None)
    try:
        port = parts.port or 80
    except ValueError:
        port = 80
    message = (
        f"the base URL {display_url(url)} (from {where}) is plain http:// to {host}, which is not this "
        "machine: the key and every prompt would cross the network unencrypted"
    )
    fixes = (
        Fix("Use https:// if the server offers it"),
        Fix(
            f"Or reach it through an SSH tunnel and use http://localhost:{port}{parts.path}",
            f"ssh -N -L {port}:localhost:{port} {host}",
        ),
    )
    return [Finding("insecure-base-url", "warn", message, location, fixes)]
