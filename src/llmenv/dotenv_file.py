"""Read a `.env` file the way python-dotenv's `load_dotenv()` does, keeping line numbers and problems."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path

# A .env is a few hundred bytes; past this we still parse (python-dotenv would), but say so.
LARGE_DOTENV_BYTES = 1 << 20
# Beyond this we stop reading: no real .env is this big and parsing it would stall the doctor.
MAX_DOTENV_BYTES = 16 << 20


@dataclass(frozen=True)
class DotenvEntry:
    """One binding python-dotenv produced; `line` is where its text starts, `dotenv_line` python-dotenv's."""

    name: str | None
    value: str | None
    line: int
    dotenv_line: int
    error: bool
    text: str


@dataclass(frozen=True)
class DotenvFile:
    """What a program calling `load_dotenv(path)` would get, and why it might not."""

    path: Path
    exists: bool
    entries: tuple[DotenvEntry, ...] = ()
    problem: str | None = None  # why python-dotenv cannot read it at all (then entries is empty)
    notes: tuple[str, ...] = field(default=())  # harmless oddities worth a mention (BOM, CRLF, size)
    size: int = 0

    def values(self) -> dict[str, str]:
        """Name → value as `dotenv_values()` builds it: the last binding of a name wins."""
        return {e.name: e.value for e in self.entries if e.name and e.value is not None}

    def lookup(self, name: str) -> DotenvEntry | None:
        """The binding of `name` that wins (the last one), if any."""
        found = None
        for entry in self.entries:
            if entry.name == name and entry.value is not None:
                found = entry
        return found


def _decode(raw: bytes) -> tuple[str | None, str | None, list[str]]:
    """Decode as python-dotenv does (UTF-8); return (text, problem, notes)."""
    notes: list[str] = []
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None, "is UTF-16 encoded; python-dotenv reads UTF-8, so it cannot load it (re-save as UTF-8)", notes
    if b"\x00" in raw[:8192]:
        return None, "is a binary file, not a text file of NAME=value lines", notes
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return (
            None,
            (
                f"is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                "python-dotenv raises UnicodeDecodeError on it (re-save as UTF-8)"
            ),
            notes,
        )
    if b"\r\n" in raw:
        notes.append("has Windows (CRLF) line ends; python-dotenv copes, but `source .env` in a shell keeps the \\r")
    # open(..., newline=None) in python-dotenv turns \r\n and \r into \n before parsing.
    return text.replace("\r\n", "\n").replace("\r", "\n"), None, notes


def _entry_line(start_line: int, text: str) -> int:
    """python-dotenv counts a binding from the blank lines before it; the name sits after them."""
    stripped = text.lstrip(" \t\n")
    return start_line + text[: len(text) - len(stripped)].count("\n")


def read_dotenv(path: Path) -> DotenvFile:
    """Parse the dotenv file at `path`; any reason it cannot be read becomes `problem`, never an exception."""
    from dotenv.parser import parse_stream

    try:
        if not path.exists():
            return DotenvFile(path, exists=False)
        if path.is_dir():
            return DotenvFile(path, exists=True, problem="is a directory, not a file")
        size = path.stat().st_size
        if size > MAX_DOTENV_BYTES:
            return DotenvFile(
                path, True, problem=f"is {size / 1e6:.1f} MB, far too large for a .env; not read", size=size
            )
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        return DotenvFile(path, exists=True, problem=f"cannot be read: {exc.strerror or exc}")
    text, problem, notes = _decode(raw)
    if problem or text is None:
        return DotenvFile(path, True, problem=problem, size=len(raw))
    if text.startswith("\ufeff"):
        notes.append("starts with a byte-order mark (BOM)")
    if len(raw) > LARGE_DOTENV_BYTES:
        notes.append(f"is {len(raw) / 1e6:.1f} MB; a .env is usually a few lines")
    entries = tuple(
        DotenvEntry(
            name=b.key,
            value=b.value,
            line=_entry_line(b.original.line, b.original.string),
            dotenv_line=b.original.line,
            error=b.error,
            text=b.original.string.strip("\n"),
        )
        for b in parse_stream(io.StringIO(text))
        if b.error or b.key is not None
    )
    return DotenvFile(path, True, entries=entries, notes=tuple(notes), size=len(raw))


def is_readable_by_others(path: Path) -> bool:
    """True when group or other users may read the file."""
    try:
        return bool(os.stat(path).st_mode & 0o044)
    except OSError:
        return False
