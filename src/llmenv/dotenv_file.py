"""Read a `.env` file the way python-dotenv's `load_dotenv()` does, keeping line numbers and problems."""

from __future__ import annotations

import io
import os
import select
import stat
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

# A .env is a few hundred bytes; past this we still parse (python-dotenv would), but say so.
LARGE_DOTENV_BYTES = 64 << 10
# Beyond this we stop reading. python-dotenv's parser needs about 0.2 s per MB of ordinary lines and
# up to 1.5 s per MB of quote-heavy ones; no real .env comes near this, so the doctor stays fast.
MAX_DOTENV_BYTES = 256 << 10
# A named pipe (1Password and other secret managers serve .env that way) may have no writer.
_FIFO_WAIT_SECONDS = 1.0


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
    bom: bool = False  # starts with a UTF-8 byte-order mark (kept in the first name: python-dotenv <= 1.2.2)

    def values(self) -> dict[str, str]:
        """Name → value as `load_dotenv()` sets them: the last binding of a name wins, even a bare `NAME`."""
        last: dict[str, str | None] = {}
        for entry in self.entries:
            if entry.name is not None:
                last[entry.name] = entry.value
        return {name: value for name, value in last.items() if value is not None}

    def lookup(self, name: str) -> DotenvEntry | None:
        """The binding of `name` that `load_dotenv()` would set, if any."""
        found = None
        for entry in self.entries:
            if entry.name == name:
                found = entry
        return found if found is not None and found.value is not None else None

    def without_bom(self) -> DotenvFile:
        """The file as python-dotenv >= 1.2.3 reads it: a leading byte-order mark is not part of the first name."""
        if not self.bom:
            return self
        entries = tuple(
            replace(e, name=e.name[1:]) if e.name and e.name.startswith("\ufeff") else e for e in self.entries
        )
        note = "starts with a byte-order mark (BOM); this python-dotenv ignores it, python-dotenv <= 1.2.2 does not"
        return replace(self, entries=entries, notes=(*self.notes, note))

    def bindings_of(self, name: str) -> list[DotenvEntry]:
        """Every binding of `name` with a value, in file order (the last one wins)."""
        return [e for e in self.entries if e.name == name and e.value is not None]

    def interpolated(self, environ: Mapping[str, str]) -> dict[str, str]:
        """The values after python-dotenv's `${VAR}` expansion with `override=False`: the shell wins."""
        from dotenv.variables import parse_variables

        resolved: dict[str, str | None] = {}
        for entry in self.entries:
            if entry.name is None:
                continue
            if entry.value is None or "${" not in entry.value:
                resolved[entry.name] = entry.value
                continue
            scope: dict[str, str | None] = {**resolved, **environ}
            resolved[entry.name] = "".join(atom.resolve(scope) for atom in parse_variables(entry.value))
        return {name: value for name, value in resolved.items() if value is not None}


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1_000_000 else f"{n / 1e3:.0f} kB"


def _looks_utf16_without_bom(raw: bytes) -> bool:
    """ASCII text saved as UTF-16 has a zero in every other byte."""
    sample = raw[:4096]
    if len(sample) < 4:
        return False
    evens, odds = sample[0::2], sample[1::2]
    return odds.count(0) >= 0.9 * len(odds) or evens.count(0) >= 0.9 * len(evens)


def _decode(raw: bytes) -> tuple[str | None, str | None, list[str]]:
    """Decode as python-dotenv does (UTF-8); return (text, problem, notes)."""
    notes: list[str] = []
    resave = "re-save it as UTF-8, e.g. `iconv -f UTF-16 -t UTF-8 .env > .env.new && mv .env.new .env`"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None, f"is UTF-16 encoded (PowerShell's `>` writes that); python-dotenv reads UTF-8: {resave}", notes
    if b"\x00" in raw[:8192]:
        if _looks_utf16_without_bom(raw):
            return None, f"looks UTF-16 encoded (no byte-order mark); python-dotenv reads UTF-8: {resave}", notes
        return None, "is a binary file, not a text file of NAME=value lines", notes
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return (
            None,
            (
                f"is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                "python-dotenv raises UnicodeDecodeError on it (re-save it as UTF-8)"
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


def _read_fifo(path: Path) -> bytes:
    """Read a named pipe without blocking forever when nothing writes to it."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    chunks: list[bytes] = []
    size = 0
    try:
        deadline = time.monotonic() + _FIFO_WAIT_SECONDS
        while size <= MAX_DOTENV_BYTES:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                break
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                continue  # a writer is attached but has not written yet
            if not chunk:
                # No writer (yet, or any more): an empty read; give a writer that is just starting a moment.
                if chunks:
                    break
                time.sleep(0.02)
                continue
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks)


def _read_bytes(path: Path) -> tuple[bytes | None, DotenvFile | None]:
    """The file's bytes, or the DotenvFile that says why there are none."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if path.is_symlink():
            target = os.readlink(path)
            return None, DotenvFile(path, True, problem=f"is a symbolic link to {target}, which does not exist")
        return None, DotenvFile(path, exists=False)
    except OSError as exc:
        return None, DotenvFile(path, True, problem=f"cannot be read: {exc.strerror or exc}")
    if stat.S_ISDIR(info.st_mode):
        return None, DotenvFile(path, True, problem="is a directory, not a file")
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISFIFO(info.st_mode)):
        return None, DotenvFile(path, True, problem="is not a regular file (a device or a socket)")
    if info.st_size > MAX_DOTENV_BYTES:
        return None, DotenvFile(
            path,
            True,
            problem=(
                f"is {_size(info.st_size)}, far too large for a .env (they are a few hundred bytes), so llmenv did "
                "not parse it; python-dotenv would, slowly. Is it the file you meant?"
            ),
            size=info.st_size,
        )
    try:
        if stat.S_ISFIFO(info.st_mode):
            raw = _read_fifo(path)
        else:
            with open(path, "rb") as handle:
                # Read one byte past the limit: a file that grew since stat() still cannot stall the doctor.
                raw = handle.read(MAX_DOTENV_BYTES + 1)
    except OSError as exc:
        return None, DotenvFile(path, True, problem=f"cannot be read: {exc.strerror or exc}")
    if len(raw) > MAX_DOTENV_BYTES:
        return None, DotenvFile(
            path, True, problem=f"grew past {MAX_DOTENV_BYTES >> 10} kB while being read; not parsed", size=len(raw)
        )
    return raw, None


def read_dotenv(path: Path) -> DotenvFile:
    """Parse the dotenv file at `path`; any reason it cannot be read becomes `problem`, never an exception."""
    from dotenv.parser import parse_stream

    path = Path(path)
    raw, unreadable = _read_bytes(path)
    if unreadable is not None or raw is None:
        return unreadable or DotenvFile(path, True, problem="cannot be read")
    text, problem, notes = _decode(raw)
    if problem or text is None:
        return DotenvFile(path, True, problem=problem, size=len(raw))
    # python-dotenv <= 1.2.2 keeps a BOM in the first name, 1.2.3 and later strip it. Parse the same way
    # whatever python-dotenv llmenv itself has: the BOM stays in the name here, and gather_context()
    # removes it when the checked interpreter's python-dotenv would (DotenvFile.without_bom).
    bom = text.startswith("\ufeff")
    if bom:
        text = text[1:]
    if len(raw) > LARGE_DOTENV_BYTES:
        notes.append(f"is {_size(len(raw))}; a .env is usually a few lines")
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
    if bom and entries and entries[0].name is not None and entries[0].line == 1:
        entries = (replace(entries[0], name="\ufeff" + entries[0].name), *entries[1:])
    return DotenvFile(path, True, entries=entries, notes=tuple(notes), size=len(raw), bom=bom)


def is_readable_by_others(path: Path) -> bool:
    """True when group or other users may read the file."""
    try:
        return bool(os.stat(path).st_mode & 0o044)
    except OSError:
        return False
