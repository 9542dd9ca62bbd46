"""The `completion` check (being built)."""

from llmenv.findings import skipped

ID = "completion"


def run(ctx):
    """Not built yet."""
    return [skipped("not built yet")]
