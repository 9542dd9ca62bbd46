"""The `key` check (being built)."""

from llmenv.findings import skipped

ID = "key"


def run(ctx):
    """Not built yet."""
    return [skipped("not built yet")]
