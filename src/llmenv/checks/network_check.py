"""The `network` check (being built)."""

from llmenv.findings import skipped

ID = "network"


def run(ctx):
    """Not built yet."""
    return [skipped("not built yet")]
