"""Apply the automatic fixes: local, reversible, idempotent file changes, written atomically."""

from __future__ import annotations

import difflib
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from llmenv.findings import CheckResult, FileAction


@dataclass(frozen=True)
class FixOutcome:
    """What one action did (or, in a dry run, would do)."""

    action: FileAction
    changed: bool
    description: str
    diff: str = ""
    error: str | None = None


def collect_actions(results: list[CheckResult]) -> list[FileAction]:
    """The distinct file actions of every automatic fix, in report order."""
    seen: list[FileAction] = []
    for result in results:
        for finding in result.findings:
            for fix in finding.fixes:
                if fix.auto and fix.action is not None and fix.action not in seen:
                    seen.append(fix.action)
    return seen


def _write_atomic(path: Path, data: bytes, mode: int | None) -> None:
    """Replace `path` with `data` so that a crash leaves either the old or the new file, never half."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".llmenv-tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_SECRET_NAME_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD")


def _mask_values(data: bytes) -> bytes:
    """`NAME=value` lines with each secret-looking value masked (prefix…last4)."""
    from llmenv.secrets import mask

    lines = data.decode("utf-8", "replace").splitlines(keepends=True)
    out = []
    for line in lines:
        name, sep, rest = line.partition("=")
        body = rest.rstrip("\r\n")
        value = body.strip().strip("\"'")
        secret_name = any(word in name.upper() for word in _SECRET_NAME_WORDS)
        if sep and value and (secret_name or value.startswith("sk-")) and len(value) >= 8:
            line = f"{name}={mask(value)}{rest[len(body) :]}"
        out.append(line)
    return "".join(out).encode("utf-8")


def _diff(path: str, old: bytes, new: bytes, existed: bool) -> str:
    old_lines = old.decode("utf-8", "replace").splitlines(keepends=True)
    new_lines = new.decode("utf-8", "replace").splitlines(keepends=True)
    if old_lines and not old_lines[-1].endswith(("\n", "\r")):
        old_lines[-1] += "\n\\ No newline at end of file\n"
    return "".join(difflib.unified_diff(old_lines, new_lines, "a/" + path if existed else "/dev/null", "b/" + path))


def _real_target(path: Path) -> Path:
    """Where a write lands: through a symlink to its target, so the link itself is kept."""
    return path.resolve() if path.is_symlink() else path


def _append_line(action: FileAction, dry_run: bool) -> FixOutcome:
    name = Path(action.path).name  # what the user knows it as, even when it is a symlink
    path = _real_target(Path(action.path))
    existed = path.exists()
    old = path.read_bytes() if existed else b""
    lines = old.decode("utf-8", "replace").removeprefix("\ufeff").splitlines()
    if any(line.strip() == action.text for line in lines):
        return FixOutcome(action, False, f"{name} already has the line {action.text}")
    newline = b"\r\n" if b"\r\n" in old else b"\n"
    new = old
    if old and not old.endswith((b"\n", b"\r")):
        new += newline  # the file lacked a final newline: without one our line would join the last
    new += action.text.encode("utf-8") + newline
    diff = _diff(name, old, new, existed)
    if not dry_run:
        mode = stat.S_IMODE(path.stat().st_mode) if existed else 0o644
        _write_atomic(path, new, mode)
    verb = "add" if dry_run else "added"
    return FixOutcome(action, True, f"{verb} {action.text} to {name}", diff)


def _copy(action: FileAction, dry_run: bool) -> FixOutcome:
    target, source = Path(action.path), Path(action.source)
    if target.exists():
        return FixOutcome(action, False, f"{target.name} exists already; not overwritten")
    data = source.read_bytes()
    # The diff is printed: a real key someone left in the example must not reach the terminal whole.
    diff = _diff(target.name, b"", _mask_values(data), existed=False)
    if not dry_run:
        # The copy will hold a key: readable by its owner only.
        _write_atomic(target, data, 0o600)
    verb = "create" if dry_run else "created"
    return FixOutcome(action, True, f"{verb} {target.name} from {source.name} (mode 600)", diff)


def _chmod(action: FileAction, dry_run: bool) -> FixOutcome:
    path = Path(action.path)
    current = stat.S_IMODE(path.stat().st_mode)
    if current == action.mode:
        return FixOutcome(action, False, f"{path.name} already has mode {action.mode:o}")
    if not dry_run:
        os.chmod(path, action.mode)
    verb = "change" if dry_run else "changed"
    return FixOutcome(action, True, f"{verb} the mode of {path.name} from {current:o} to {action.mode:o}")


_APPLIERS = {"append-line": _append_line, "copy": _copy, "chmod": _chmod}


def apply_actions(actions: list[FileAction], dry_run: bool = False) -> list[FixOutcome]:
    """Apply (or with `dry_run` only describe) each action; a failure is reported, not raised."""
    outcomes = []
    for action in actions:
        try:
            outcomes.append(_APPLIERS[action.kind](action, dry_run))
        except OSError as exc:
            outcomes.append(FixOutcome(action, False, f"could not change {action.path}", error=str(exc)))
    return outcomes
