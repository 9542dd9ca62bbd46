"""The one way llmenv shows a secret: its prefix, an ellipsis, its last four characters."""

from __future__ import annotations

from collections.abc import Iterable

# Longest first, so `sk-proj-` wins over `sk-`.
KNOWN_PREFIXES = (
    "sk-ant-api03-",
    "sk-ant-admin01-",
    "sk-svcacct-",
    "sk-admin-",
    "sk-proj-",
    "sk-or-v1-",
    "sk-",
    "github_pat_",
    "ghp_",
    "gsk_",
    "hf_",
    "xai-",
    "AIza",
    "pplx-",
    "r8_",
)

# Below this many characters after the prefix, even four revealed characters are too many.
_MIN_BODY_FOR_TAIL = 12


def _printable(text: str) -> str:
    """Escape control and non-ASCII characters so a mask never carries a raw `\\r` or the like."""
    return "".join(ch if 32 <= ord(ch) < 127 else ch.encode("unicode_escape").decode("ascii") for ch in text)


def mask(secret: str) -> str:
    """Mask a secret as PREFIX…LAST4, e.g. `sk-proj-…a1B2`; short values reveal no tail."""
    value = secret or ""
    prefix = next((p for p in KNOWN_PREFIXES if value.startswith(p)), "")
    body = value[len(prefix) :]
    if len(body) < _MIN_BODY_FOR_TAIL:
        return f"{_printable(prefix)}…({len(value)} chars)"
    return f"{_printable(prefix)}…{_printable(body[-4:])}"


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each secret in `text` by its mask (a last safety net on output)."""
    for secret in sorted({s for s in secrets if s and len(s) >= 8}, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, mask(secret))
    return text
