"""The `code` check: not part of this release yet (its issue is still to come)."""

from __future__ import annotations

from llmenv.context import Context
from llmenv.findings import Finding, skipped

ID = "code"
TITLE = "SDK and code"


def run(ctx: Context) -> list[Finding]:
    """Say plainly that this version does not inspect code yet."""
    return [skipped("not implemented in this version of llmenv")]
