"""The scratch project every benchmark runs the doctor in, so all figures come from the same setting."""

from __future__ import annotations

import os
from pathlib import Path

BENCH_KEY = "sk-proj-" + "x" * 48  # key-shaped, never a real key


def scratch_project(
    tmp: str | Path, dotenv: str | None = f"OPENAI_API_KEY={BENCH_KEY}\n"
) -> tuple[Path, dict[str, str]]:
    """A project (with `dotenv` as its .env) and an environment without the developer's OpenAI or proxy settings."""
    project = Path(tmp, "project")
    project.mkdir()
    if dotenv is not None:
        (project / ".env").write_text(dotenv)
    home = Path(tmp, "home")
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_") and not k.lower().endswith("_proxy")}
    env.update({"HOME": str(home), "NO_COLOR": "1"})
    return project, env
