"""What another Python interpreter has installed, asked of that interpreter itself (one subprocess)."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field

# Runs inside the checked interpreter: stdlib only, works on Python 3.8+.
_PROBE = r"""
import json, sys
try:
    from importlib import metadata
except ImportError:
    metadata = None
pkgs = {}
if metadata is not None:
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name and name not in pkgs:
            pkgs[name] = dist.version
print(json.dumps({"version": "%d.%d.%d" % sys.version_info[:3], "executable": sys.executable,
                  "prefix": sys.prefix, "packages": pkgs}))
"""


def normalize_name(name: str) -> str:
    """PEP 503 normalization: `Python_Dotenv` and `python-dotenv` are the same project."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class InterpreterFacts:
    """The interpreter's version and installed distributions (normalized name → version)."""

    executable: str
    version: str = ""
    prefix: str = ""
    packages: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    def has(self, name: str) -> bool:
        """Whether a distribution of that name is installed."""
        return normalize_name(name) in self.packages

    def version_of(self, name: str) -> str | None:
        """The installed version of a distribution, or None."""
        return self.packages.get(normalize_name(name))


def probe_interpreter(python: str, timeout: float = 10.0) -> InterpreterFacts:
    """Run `python` once to list its distributions; any failure is recorded in `error`, not raised."""
    try:
        proc = subprocess.run(
            [python, "-I", "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        return InterpreterFacts(python, error=f"{python}: no such interpreter")
    except subprocess.TimeoutExpired:
        return InterpreterFacts(python, error=f"{python} did not answer within {timeout:g}s")
    except OSError as exc:
        return InterpreterFacts(python, error=f"{python} cannot be run: {exc.strerror or exc}")
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return InterpreterFacts(python, error=f"{python} failed: {last}")
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        return InterpreterFacts(python, error=f"{python} printed something unexpected")
    packages = {normalize_name(k): v for k, v in data.get("packages", {}).items()}
    return InterpreterFacts(data.get("executable", python), data.get("version", ""), data.get("prefix", ""), packages)
