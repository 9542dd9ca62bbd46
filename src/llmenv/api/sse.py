"""Server-sent events: an incremental decoder for the bytes of a `text/event-stream` body."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class ServerSentEvent:
    """One dispatched event: its `event:` name (empty when none was given) and its joined `data:` lines."""

    event: str
    data: str


class SseDecoder:
    """Turn chunks of bytes, split anywhere, into events, following the WHATWG event-stream rules.

    Lines end in LF, CRLF or CR; a blank line dispatches the event; `:` starts a comment; several
    `data:` lines are joined with LF; one space after the colon is dropped; an event with no data
    is not dispatched. Bytes are buffered until a whole line is there, so a multi-byte UTF-8
    character split across chunks decodes correctly.
    """

    def __init__(self) -> None:
        self._buffer = b""
        self._event = ""
        self._data: list[str] = []
        self._pending_cr = False

    def feed(self, chunk: bytes) -> Iterator[ServerSentEvent]:
        """Decode `chunk` and yield every event it completes."""
        if self._pending_cr and chunk:
            if chunk.startswith(b"\n"):
                chunk = chunk[1:]  # the LF of a CRLF split between two chunks
            self._pending_cr = False
        self._buffer += chunk
        while True:
            found = _line_end(self._buffer)
            if found is None:
                return
            end, width = found
            line = self._buffer[:end]
            # A CR that ends the buffer may be the first half of a CRLF: remember to drop that LF.
            self._pending_cr = width == 1 and end + 1 == len(self._buffer) and self._buffer.endswith(b"\r")
            self._buffer = self._buffer[end + width :]
            event = self._line(line.decode("utf-8", "replace"))
            if event is not None:
                yield event

    def _line(self, line: str) -> ServerSentEvent | None:
        if line == "":
            if not self._data:
                self._event = ""
                return None
            event = ServerSentEvent(self._event, "\n".join(self._data))
            self._event, self._data = "", []
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        return None

    @property
    def pending(self) -> bool:
        """True when bytes or an unfinished event are held: the stream ended mid-event."""
        return bool(self._buffer.strip()) or bool(self._data)


def _line_end(buffer: bytes) -> tuple[int, int] | None:
    """Index and width of the first line ending (CRLF, LF or a lone CR) in `buffer`."""
    lf = buffer.find(b"\n")
    cr = buffer.find(b"\r")
    if cr == -1 and lf == -1:
        return None
    if cr == -1 or (lf != -1 and lf < cr):
        return lf, 1
    if cr + 1 < len(buffer):
        return (cr, 2) if buffer[cr + 1 : cr + 2] == b"\n" else (cr, 1)
    return cr, 1
