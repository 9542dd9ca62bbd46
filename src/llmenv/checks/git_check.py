"""The `git` check: is every env file ignored, untracked, private, and absent from every commit of every ref?"""

from __future__ import annotations

import os
import posixpath
import shlex
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from llmenv.context import Context
from llmenv.findings import FileAction, Finding, Fix, Location, skipped
from llmenv.gitrepo import (
    BlobSearch,
    Git,
    GitError,
    IgnoreRule,
    WorkTree,
    check_ignore,
    commits_adding,
    count_commits,
    find_git,
    finish_history_paths,
    list_files,
    search_reachable_blobs,
    start_history_paths,
    stop,
    work_tree,
)
from llmenv.secrets import mask

ID = "git"
TITLE = ".env and git"

KEY_PAGE = "https://platform.openai.com/api-keys"
# `.env.example` and its kin are meant to be committed: they hold names and placeholders, not keys.
EXAMPLE_SUFFIXES = frozenset({"example", "examples", "sample", "template", "tmpl", "tpl", "dist"})
# git is local: a call gets at least this long even when the run's deadline is close, so a slow disk
# does not turn into a false "not ignored"; the history search alone is bounded by the deadline.
_CALL_FLOOR = 2.0
_SHOWN_COMMITS = 3
_SEVERITY_ORDER = {"fail": 0, "warn": 1, "info": 2}


def is_env_name(name: str) -> bool:
    """True for `.env`, `.env.local` and any other `.env.*`, false for `.env.example` and its kin."""
    if name == ".env":
        return True
    if not name.startswith(".env.") or len(name) == len(".env."):
        return False
    return not any(part.lower() in EXAMPLE_SUFFIXES for part in name[len(".env.") :].split("."))


def _is_example_name(name: str) -> bool:
    return name.startswith(".env.") and not is_env_name(name)


@dataclass(frozen=True)
class _EnvFile:
    """An env file as git is asked about it (`arg`, relative to the project) and as the report shows it."""

    path: Path
    arg: str
    shown: str


def run(ctx: Context) -> list[Finding]:
    """Check the project's env files against git: ignore rules, the index, every ref's history, file modes."""
    local = _local_env_files(ctx)
    git = find_git(ctx.project, ctx.environ)
    if git is None:
        return _without_git(ctx, "git is not on PATH: cannot tell whether .env is ignored, tracked or committed", local)
    try:
        tree = work_tree(git, _timeout(ctx))
    except GitError as exc:
        hint = "; `git status` says how to trust it" if "dubious ownership" in str(exc) else ""
        return _without_git(ctx, f"git cannot read this repository: {exc}{hint}", local)
    if tree is None:
        return _ordered([_not_a_repo(ctx, local), *_permission_findings(ctx, local)])
    try:
        findings = _work_tree_findings(ctx, git, tree, local)
    except GitError as exc:
        return _without_git(ctx, f"git failed: {exc}", local)
    return _ordered(findings + _history_findings(ctx, git, tree))


def _ordered(findings: list[Finding]) -> list[Finding]:
    # Problems first, then notes that suggest something (a search cut short), so the summary line shows them.
    return sorted(findings, key=lambda f: (_SEVERITY_ORDER[f.severity], not f.fixes))


def _timeout(ctx: Context) -> float:
    return max(_CALL_FLOOR, ctx.remaining())


def _local_env_files(ctx: Context) -> list[Path]:
    """Env files that exist in the project's top directory, plus the configured dotenv file."""
    found: list[Path] = []
    try:
        with os.scandir(ctx.project) as entries:
            found = [Path(e.path) for e in entries if is_env_name(e.name) and e.is_file()]
    except OSError:
        pass
    if ctx.env_file.is_file() and not any(_same_file(ctx.env_file, p) for p in found):
        found.append(ctx.env_file)
    return sorted(found)


def _same_file(a: Path, b: Path) -> bool:
    return a.parent.resolve() / a.name == b.parent.resolve() / b.name


def _without_git(ctx: Context, reason: str, local: list[Path]) -> list[Finding]:
    """What can be said without git: file modes, and why the rest was not checked."""
    modes = _permission_findings(ctx, local)
    return [*modes, skipped(reason)] if modes else [skipped(reason)]


def _not_a_repo(ctx: Context, local: list[Path]) -> Finding:
    fixes: tuple[Fix, ...] = ()
    if local:
        line = _append_command(ctx, ctx.project / ".gitignore", _escape_pattern(local[0].name))
        fixes = (Fix("Before you put this project under git, make git ignore the env file", line),)
    return Finding("not-a-git-repo", "info", "the project is not in a git work tree", fixes=fixes)


def _loose_files(paths: list[Path]) -> list[tuple[Path, int]]:
    """(path, mode) of the files other users can read."""
    if os.name != "posix":
        return []  # Windows has ACLs, not mode bits
    loose = []
    for path in paths:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except OSError:
            continue
        if mode & 0o044:
            loose.append((path, mode))
    return loose


def _permission_findings(ctx: Context, paths: list[Path]) -> list[Finding]:
    return [_permission_finding(ctx, path, mode) for path, mode in _loose_files(paths)]


def _permission_finding(ctx: Context, path: Path, mode: int) -> Finding:
    shown = ctx.relpath(path)
    who = "group and others" if mode & 0o040 and mode & 0o004 else ("others" if mode & 0o004 else "its group")
    return Finding(
        "env-permissions",
        "warn",
        f"{shown} has mode {mode:o}: readable by {who}, and it may hold a key",
        Location(shown),
        fixes=(
            Fix(
                "Make it readable by you only",
                f"chmod 600 {_shell_path(ctx, path)}",
                auto=True,
                action=FileAction("chmod", path=str(path.absolute()), mode=0o600),
            ),
        ),
    )


def _shell_path(ctx: Context, path: Path) -> str:
    shown = ctx.relpath(path)
    if shown.startswith("~/"):
        return "~/" + shlex.quote(shown[2:])
    return shlex.quote(shown)


def _append_command(ctx: Context, gitignore: Path, pattern: str) -> str:
    """The shell command that appends `pattern` as a line of `gitignore`.

    A file lacking its final newline needs one first, or `echo` would glue the pattern onto the last line.
    """
    target = _shell_path(ctx, gitignore)
    last = b""
    try:
        with open(gitignore, "rb") as handle:
            if handle.seek(0, os.SEEK_END):
                handle.seek(-1, os.SEEK_END)
                last = handle.read(1)
    except OSError:  # no file yet: echo creates it
        pass
    if last and last not in (b"\n", b"\r"):
        return f"printf '\\n%s\\n' {shlex.quote(pattern)} >> {target}"
    return f"echo {shlex.quote(pattern)} >> {target}"


def _inside(tree: WorkTree, path: Path) -> bool:
    try:
        path.parent.resolve().relative_to(tree.top.resolve())
    except (ValueError, OSError):
        return False
    return True


def _as_env_file(ctx: Context, path: Path) -> _EnvFile:
    real = path.parent.resolve() / path.name  # the file itself may be a symlink: git sees the link
    return _EnvFile(path, os.path.relpath(real, ctx.project.resolve()), ctx.relpath(path))


def _work_tree_findings(ctx: Context, git: Git, tree: WorkTree, local: list[Path]) -> list[Finding]:
    """Ignore rules, the index and file modes for the env files in (and under) the project."""
    timeout = _timeout(ctx)
    explicit = _as_env_file(ctx, ctx.env_file) if _inside(tree, ctx.env_file) else None
    pathspecs = [":(glob)**/.env", ":(glob)**/.env.*"]
    if explicit is not None and not is_env_name(ctx.env_file.name):
        pathspecs.append(":(literal)" + explicit.arg)
    listed_tracked, listed_untracked = list_files(git, pathspecs, timeout)

    def wanted(arg: str) -> bool:
        return is_env_name(posixpath.basename(arg)) or (explicit is not None and arg == explicit.arg)

    tracked = {a for a in listed_tracked if wanted(a)}
    files = {f.arg: f for f in (_as_env_file(ctx, p) for p in local if _inside(tree, p))}
    for arg in [a for a in listed_untracked if wanted(a)] + sorted(tracked):
        path = ctx.project / arg
        if arg not in files and path.is_file():
            files[arg] = _EnvFile(path, arg, ctx.relpath(path))

    # With no env file yet, ask about the one a user is about to create (the default .env).
    future = None
    if not files and not ctx.env_file.exists() and _has_example(ctx.project) and _inside(tree, ctx.env_file):
        future = _as_env_file(ctx, ctx.env_file)
    asked = [*files, *([future.arg] if future else [])]
    rules = check_ignore(git, asked, timeout)

    findings: list[Finding] = []
    for arg, env_file in sorted(files.items()):
        rule = rules.get(arg)
        if rule is None or not rule.ignores:
            findings.append(_not_ignored(ctx, env_file, rule, tracked=arg in tracked))
        elif arg not in tracked:
            findings.append(_ignored(ctx, env_file, rule, tree))
    if future is not None and (rules.get(future.arg) is None or not rules[future.arg].ignores):
        findings.append(_not_ignored(ctx, future, rules.get(future.arg), tracked=False, exists=False))
    for arg in sorted(tracked):
        findings.append(
            _tracked(ctx, files.get(arg) or _EnvFile(ctx.project / arg, arg, ctx.relpath(ctx.project / arg)))
        )
    findings += _permission_findings(ctx, [f.path for f in files.values()] + [p for p in local if not _inside(tree, p)])
    return findings


def _has_example(project: Path) -> bool:
    try:
        with os.scandir(project) as entries:
            return any(_is_example_name(e.name) and e.is_file() for e in entries)
    except OSError:
        return False


def _gitignore_for(ctx: Context, env_file: _EnvFile) -> tuple[Path, str]:
    """The .gitignore to add a line to, and the line: the bare name matches the file in every directory."""
    project = ctx.project.resolve()
    real = env_file.path.parent.resolve() / env_file.path.name
    try:
        inside = real.relative_to(project).as_posix()
        gitignore = ctx.project.absolute() / ".gitignore"
    except ValueError:
        inside = real.name
        gitignore = env_file.path.parent.resolve() / ".gitignore"
    if is_env_name(real.name):
        return gitignore, _escape_pattern(real.name)
    return gitignore, "/" + _escape_pattern(inside)  # an unusual name: anchor it, so only this file matches


def _escape_pattern(text: str) -> str:
    """`text` as a gitignore pattern that matches exactly that name."""
    escaped = "".join("\\" + ch if ch in "\\*?[" else ch for ch in text)
    if escaped[:1] in ("#", "!"):
        escaped = "\\" + escaped
    if escaped.endswith(" "):
        escaped = escaped[:-1] + "\\ "
    return escaped


def _not_ignored(ctx: Context, env_file: _EnvFile, rule: IgnoreRule | None, tracked: bool, exists=True) -> Finding:
    gitignore, pattern = _gitignore_for(ctx, env_file)
    shown_gitignore = ctx.relpath(gitignore)
    if rule is not None:  # a negation: someone un-ignored it on purpose, so appending would not win
        return Finding(
            "env-not-ignored",
            "fail",
            f"{env_file.shown} is explicitly un-ignored by {rule.source}:{rule.line} ({rule.pattern})",
            Location(env_file.shown),
            fixes=(Fix(f"Remove the line {rule.pattern} from {rule.source}, then add {pattern} to .gitignore"),),
        )
    fix = Fix(
        f"Ignore it: add {pattern} to {shown_gitignore}",
        _append_command(ctx, gitignore, pattern),
        auto=True,
        action=FileAction("append-line", path=str(gitignore), text=pattern),
    )
    if not exists:
        message = (
            f"{env_file.shown} does not exist yet, but git would not ignore it once you create it from the example"
        )
        return Finding("env-not-ignored", "warn", message, Location(env_file.shown), fixes=(fix,))
    message = f"{env_file.shown} is not ignored by git" + (
        ": `git add .` would commit it" if not tracked else " (and it is tracked)"
    )
    return Finding("env-not-ignored", "fail", message, Location(env_file.shown), fixes=(fix,))


def _ignored(ctx: Context, env_file: _EnvFile, rule: IgnoreRule, tree: WorkTree) -> Finding:
    personal = Path(rule.source).is_absolute() or rule.source.startswith(".git/")
    where = ctx.relpath(Path(rule.source) if Path(rule.source).is_absolute() else tree.top / rule.source)
    if not personal:
        message = f"{env_file.shown} is ignored by git ({where}:{rule.line}: {rule.pattern})"
        return Finding("env-ignored", "info", message, Location(env_file.shown))
    gitignore, pattern = _gitignore_for(ctx, env_file)
    return Finding(
        "env-ignored",
        "info",
        f"{env_file.shown} is ignored only by your own {where}:{rule.line}: "
        "a fresh clone of this repository would not ignore it",
        Location(env_file.shown),
        fixes=(Fix("Ignore it for everyone", _append_command(ctx, gitignore, pattern)),),
    )


def _tracked(ctx: Context, env_file: _EnvFile) -> Finding:
    return Finding(
        "env-tracked",
        "fail",
        f"{env_file.shown} is tracked by git: every commit and push carries what it holds",
        Location(env_file.shown),
        fixes=(
            Fix(
                "Stop tracking it (the file stays on disk), then commit", f"git rm --cached {shlex.quote(env_file.arg)}"
            ),
            Fix(f"Rotate the key it holds: create a new one at {KEY_PAGE} and revoke the old one"),
        ),
    )


def _current_key(ctx: Context) -> str | None:
    """The key a program would use, when it looks real enough that finding it elsewhere means a leak."""
    setting = ctx.setting("OPENAI_API_KEY")
    if setting is None:
        return None
    key = setting.value.strip().strip("\"'")
    body = key.removeprefix("sk-proj-").removeprefix("sk-")
    # Placeholders (`sk-xxxx…`, `your-api-key-here`) would match every .env.example: not worth searching.
    if len(key) < 20 or any(ch.isspace() for ch in key) or len(set(body)) < 8:
        return None
    return key


def _history_findings(ctx: Context, git: Git, tree: WorkTree) -> list[Finding]:
    """Env files in any commit of any ref, and the current key in any committed file."""
    started = time.monotonic()
    key = _current_key(ctx)
    top_explicit = None
    if not is_env_name(ctx.env_file.name) and _inside(tree, ctx.env_file):
        top_explicit = (ctx.env_file.parent.resolve() / ctx.env_file.name).relative_to(tree.top.resolve()).as_posix()
    pathspecs = [":(top,glob)**/.env", ":(top,glob)**/.env.*"]
    if top_explicit:
        pathspecs.append(":(top,literal)" + top_explicit)
    try:
        names_proc = start_history_paths(git, pathspecs)  # runs while the blobs are searched
    except OSError as exc:
        return [_searched_finding(f"could not search the history: {exc}")]
    search: BlobSearch | None = None
    located: dict[str, list[tuple[str, str]]] = {}
    problems: list[str] = []
    committed: dict[str, list[str]] = {}
    commits = None
    try:
        if key is not None:
            # Leave a share of the deadline for naming the commits of what is found.
            budget = max(0.5, ctx.remaining() * 0.75)
            search = search_reachable_blobs(git, key.encode("utf-8"), budget, tree.version)
            if search.error:
                problems.append(search.error)
            if search.hits:
                located = commits_adding(git, list(search.hits)[:50], _timeout(ctx))
        committed = finish_history_paths(names_proc, _timeout(ctx))
        commits = count_commits(git, _timeout(ctx))
    except GitError as exc:
        problems.append(str(exc))
    finally:
        if names_proc.returncode is None:  # not collected: something above failed first
            stop(names_proc)
            names_proc.communicate()
    committed = {p: c for p, c in committed.items() if is_env_name(posixpath.basename(p)) or p == top_explicit}

    findings = _history_hits(ctx, tree, key, committed, search, located)
    findings.append(_searched(tree, key, committed, search, commits, problems, time.monotonic() - started))
    return findings


def _shown_history_path(tree: WorkTree, top_path: str) -> str:
    """A path of the history as the report shows it: relative to the project."""
    return posixpath.relpath(top_path, tree.prefix.rstrip("/") or ".")


def _commit_list(commits: list[str]) -> str:
    unique = list(dict.fromkeys(commits))
    text = ", ".join(unique[:_SHOWN_COMMITS])
    more = len(unique) - _SHOWN_COMMITS
    head = f"{len(unique)} commits" if len(unique) > 1 else "commit"
    return f"{head} {text}" + (f" and {more} more" if more > 0 else "")


def _history_hits(
    ctx: Context,
    tree: WorkTree,
    key: str | None,
    committed: dict[str, list[str]],
    search: BlobSearch | None,
    located: dict[str, list[tuple[str, str]]],
) -> list[Finding]:
    key_paths: dict[str, list[str]] = {}
    for oid, path in (search.hits if search else {}).items():
        pairs = located.get(oid) or [("", path)]
        for commit, where in pairs:
            key_paths.setdefault(where, [])
            if commit:
                key_paths[where].append(commit)
    incomplete = search is not None and not search.complete
    note = " (the search for the key ran out of time; there may be more)" if incomplete else ""
    rotate = Fix(
        f"Rotate the key first: create a new one at {KEY_PAGE} and revoke the old one; "
        "a pushed commit lives on in clones, forks and caches even after a rewrite"
    )
    findings = []
    for path, commits in sorted(committed.items()):
        shown = _shown_history_path(tree, path)
        holds = " and holds the current key" if path in key_paths else ""
        bfg = f"bfg --delete-files {shlex.quote(posixpath.basename(path))}"
        rewrite = Fix(
            f"Then drop the file from every commit (or with BFG: {bfg}) "
            "and force-push every branch and tag; collaborators must re-clone",
            f"git filter-repo --invert-paths --path {shlex.quote(path)}",
        )
        message = f"{shown} is in the history: {_commit_list(commits)}{holds}{note}"
        findings.append(Finding("env-in-history", "fail", message, Location(shown), fixes=(rotate, rewrite)))
    for path, commits in sorted(key_paths.items()):
        if path in committed:
            continue
        shown = _shown_history_path(tree, path)
        where = _commit_list(commits) if commits else "a commit of the history"
        rewrite = Fix(
            "Then replace the key in every commit and force-push: write the old key as one line of a file "
            "outside the repository (never type it on a command line) and run",
            "git filter-repo --replace-text ../old-key.txt",
        )
        message = f"the current key ({mask(key or '')}) is committed in {shown}: {where}{note}"
        findings.append(Finding("env-in-history", "fail", message, Location(shown), fixes=(rotate, rewrite)))
    return findings


def _searched(
    tree: WorkTree,
    key: str | None,
    committed: dict[str, list[str]],
    search: BlobSearch | None,
    commits: int | None,
    problems: list[str],
    seconds: float,
) -> Finding:
    """One line on what the history search covered; it says so when time or git cut it short."""
    if commits == 0:
        return _searched_finding("no commits yet: nothing in the history")
    parts = [f"searched {commits} commits of every ref" if commits is not None else "searched every ref"]
    parts.append(f"{len(committed)} env file(s) committed" if committed else "no env file committed")
    fixes: tuple[Fix, ...] = ()
    if search is None:
        parts.append("no real-looking OPENAI_API_KEY to search for")
    elif search.complete:
        found = len(set(search.hits.values()))
        where = f"in {found} committed file(s)" if found else "in no committed file"
        parts.append(f"the current key is {where} ({search.blobs} file versions read)")
    else:
        parts.append(
            f"the search for the current key stopped at the time limit after {search.blobs} file versions "
            f"({search.bytes / 1e6:.1f} MB, {search.seconds:.1f} s): the rest of the history was not read"
        )
        fixes = (Fix("Search the whole history with more time", "llmenv doctor --only git --timeout 120"),)
    if tree.shallow:
        parts.append("a shallow clone: older commits are not here to search")
    parts += [f"git: {p}" for p in problems]
    detail = f"history search: {seconds:.2f} s"
    if search is not None:
        detail += f"; key search: {search.seconds:.2f} s over {search.blobs} blobs ({search.bytes} bytes)"
    return _searched_finding("; ".join(parts), detail, fixes)


def _searched_finding(message: str, detail: str | None = None, fixes: tuple[Fix, ...] = ()) -> Finding:
    return Finding("history-searched", "info", message, fixes=fixes, detail=detail)
