"""The `deps` check: not part of this release yet (its issue is still to come)."""

from __future__ import annotations

from llmenv.context import Context
from llmenv.findings import Finding, skipped

ID = "deps"
TITLE = "Python packages"


def run(ctx: Context) -> list[Finding]:
    """Say plainly that this version does not check packages yet."""
    return [skipped("not implemented in this version of llmenv; run `python -m pip check` meanwhile")]
