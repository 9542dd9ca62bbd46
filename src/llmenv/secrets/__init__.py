"""Secret handling shared by the doctor and `llmenv scan`: masking (and, later, the scan rules)."""

from llmenv.secrets.masking import mask, redact

__all__ = ["mask", "redact"]
