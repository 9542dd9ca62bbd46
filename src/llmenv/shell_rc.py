"""Find literal assignments of OpenAI settings in the shell start-up files under $HOME."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

RC_FILES = (
    ".bashrc",
    ".bash_profile",
    ".bash_login",
    ".profile",
    ".zshrc",
    ".zprofile",
    ".zshenv",
    ".config/fish/config.fish",
)
WATCHED_NAMES = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_BASE", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID")
_MAX_RC_BYTES = 4 << 20

_NAMES = "|".join(WATCHED_NAMES)
_PATTERNS = (
    # sh, bash, zsh: NAME=value, export NAME=value, declare -x / typeset -x NAME=value
    re.compile(rf"^\s*(?:export\s+|(?:declare|typeset)\s+-[a-zA-Z]*x[a-zA-Z]*\s+)?({_NAMES})=(.*)$"),
    # fish: set -gx NAME value
    re.compile(rf"^\s*set\s+(?:-[a-zA-Z]+\s+|--[a-z]+\s+)*({_NAMES})\s+(.*)$"),
    # csh family, occasionally pasted into the wrong file
    re.compile(rf"^\s*setenv\s+({_NAMES})\s+(.*)$"),
)


@dataclass(frozen=True)
class RcAssignment:
    """`name` set to `value` at `path`:`line`; `literal` when the value is written out, not computed."""

    path: Path
    line: int
    name: str
    value: str
    literal: bool


def _unquote(raw: str) -> str:
    """The value a shell would assign, for the plain cases: quotes removed, the rest of the line dropped."""
    raw = raw.strip()
    if raw[:1] in ("'", '"'):
        end = raw.find(raw[0], 1)
        return raw[1:end] if end > 0 else raw[1:]
    # An unquoted word ends at blanks and at `;`, `&`, `|` (`export K=v; other` or `K=v # note`).
    match = re.match(r"[^\s;&|]*", raw)
    return match.group(0) if match else ""


def _is_computed(raw: str, value: str, fish: bool) -> bool:
    """A value the shell computes when it starts (`$(pass show x)`, `$VAR`, fish's `(cmd)`): no secret is written."""
    if raw.startswith("'"):
        return False  # single quotes: everything inside is literal
    if value.startswith(("$", "`")) or "$(" in raw or "`" in raw:
        return True
    return fish and value.startswith("(")


def parse_rc_text(path: Path, text: str) -> list[RcAssignment]:
    """Assignments of the watched names in one start-up file's text."""
    found = []
    fish = path.name.endswith(".fish")
    for number, line in enumerate(text.splitlines(), start=1):
        if "OPENAI_" not in line:
            continue
        for pattern in _PATTERNS:
            match = pattern.match(line)
            if match:
                raw = match.group(2).strip()
                value = _unquote(raw)
                literal = bool(value) and not _is_computed(raw, value, fish)
                found.append(RcAssignment(path, number, match.group(1), value, literal))
                break
    return found


def scan_shell_rc(home: Path | None) -> tuple[RcAssignment, ...]:
    """Every watched assignment in the usual start-up files under `home` (missing or unreadable files skipped)."""
    if home is None:
        return ()
    found: list[RcAssignment] = []
    for name in RC_FILES:
        path = home / name
        try:
            if not path.is_file() or path.stat().st_size > _MAX_RC_BYTES:
                continue
            text = path.read_bytes().decode("utf-8", errors="replace")
        except OSError:
            continue
        found.extend(parse_rc_text(path, text))
    return tuple(found)
