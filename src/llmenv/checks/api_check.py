"""The `api` check (being built)."""

from llmenv.findings import skipped

ID = "api"


def run(ctx):
    """Not built yet."""
    return [skipped("not built yet")]
