"""The `git` check (being built)."""

from llmenv.findings import skipped

ID = "git"


def run(ctx):
    """Not built yet."""
    return [skipped("not built yet")]
