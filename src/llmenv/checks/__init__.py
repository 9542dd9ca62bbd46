"""The doctor's checks, in the fixed order of SPEC.md. Each is a module with ID, TITLE and run()."""

from __future__ import annotations

import importlib
from types import ModuleType

# id → title, in report order. Modules are imported only when a check runs.
CHECKS: dict[str, str] = {
    "key": "API key",
    "git": ".env and git",
    "network": "Network and proxy",
    "api": "API access",
    "completion": "Test completion",
    "deps": "Python packages",
    "code": "SDK and code",
}


def load_check(check_id: str) -> ModuleType:
    """Import the module implementing `check_id`."""
    return importlib.import_module(f"llmenv.checks.{check_id}_check")
