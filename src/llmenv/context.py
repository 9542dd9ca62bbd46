"""Everything the checks need to know about this machine, gathered once before any check runs."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from llmenv.dotenv_file import DotenvFile, read_dotenv
from llmenv.findings import Location
from llmenv.interpreter import InterpreterFacts, probe_interpreter
from llmenv.shell_rc import RcAssignment, scan_shell_rc

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Options:
    """Settings from the command line that checks read."""

    offline: bool = False
    no_completion: bool = False
    timeout: float = DEFAULT_TIMEOUT
    model: str | None = None
    base_url: str | None = None
    python: str | None = None
    requirements: tuple[str, ...] = ()
    verbose: bool = False


@dataclass(frozen=True)
class Setting:
    """An environment setting as a program that calls `load_dotenv()` sees it, and where it came from."""

    name: str
    value: str
    source: str  # "shell" or ".env:LINE" (relative path of the dotenv file)
    location: Location | None
    origin: RcAssignment | None = None  # for a shell value: the start-up file line that sets this value


@dataclass(frozen=True)
class Context:
    """The facts about the project and machine, shared read-only by every check."""

    project: Path
    env_file: Path
    environ: Mapping[str, str]
    home: Path | None
    dotenv: DotenvFile
    shell_rc: tuple[RcAssignment, ...]
    python: str | None
    python_source: str
    options: Options = field(default_factory=Options)
    # One deadline for the whole run (time.monotonic()): network steps that run one after another
    # (models, then completion) share it, so the doctor ends within about one --timeout.
    deadline: float = field(default_factory=lambda: time.monotonic() + DEFAULT_TIMEOUT)

    _memo: dict = field(default_factory=dict, compare=False, repr=False)
    _memo_lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    def interpreter(self) -> InterpreterFacts | None:
        """The checked interpreter's installed packages, probed once and shared by every check."""
        if self.python is None:
            return None
        with self._memo_lock:
            if "interpreter" not in self._memo:
                self._memo["interpreter"] = probe_interpreter(self.python, timeout=max(5.0, self.options.timeout))
            return self._memo["interpreter"]

    def remaining(self, floor: float = 0.05) -> float:
        """Seconds left before the run's deadline, at most one --timeout, never below `floor`."""
        return max(floor, min(self.options.timeout, self.deadline - time.monotonic()))

    def relpath(self, path: Path) -> str:
        """`path` relative to the project when inside it, else with `~` for the home directory."""
        path = Path(path)
        try:
            return path.resolve().relative_to(self.project.resolve()).as_posix()
        except ValueError:
            pass
        if self.home is not None:
            try:
                return "~/" + path.resolve().relative_to(self.home.resolve()).as_posix()
            except ValueError:
                pass
        return str(path)

    def setting(self, name: str) -> Setting | None:
        """The value of `name` a program sees after `load_dotenv()`: the shell's wins over `.env`."""
        if name in self.environ:
            value = self.environ[name]
            origin = next((a for a in reversed(self.shell_rc) if a.name == name and a.value == value), None)
            return Setting(name, value, "shell", None, origin)
        entry = self.dotenv.lookup(name)
        if entry is None or entry.value is None:
            return None
        rel = self.relpath(self.dotenv.path)
        return Setting(name, entry.value, f"{rel}:{entry.line}", Location(rel, entry.line))

    def effective_env(self) -> dict[str, str]:
        """The environment of a program that calls `load_dotenv()` (without override)."""
        merged = dict(self.dotenv.values())
        merged.update(self.environ)
        return merged

    def base_url(self) -> str:
        """The API base URL: the flag, else `OPENAI_BASE_URL` as a program sees it, else OpenAI's."""
        if self.options.base_url:
            return self.options.base_url.rstrip("/")
        setting = self.setting("OPENAI_BASE_URL")
        return (setting.value.strip() if setting and setting.value.strip() else DEFAULT_BASE_URL).rstrip("/")

    def known_secrets(self) -> set[str]:
        """Every credential value seen anywhere, so output can be scrubbed of them as a last safety net."""
        values = [v for k, v in self.environ.items() if _looks_secret(k, v)]
        values += [e.value for e in self.dotenv.entries if e.value and _looks_secret(e.name, e.value)]
        values += [a.value for a in self.shell_rc if a.name == "OPENAI_API_KEY"]
        return {form for v in values for form in (v, v.strip()) if len(form) >= 8}


def _looks_secret(name: str | None, value: str) -> bool:
    """Names and values that are credentials whatever the provider."""
    upper = (name or "").upper()
    return (
        any(w in upper for w in ("KEY", "TOKEN", "SECRET", "PASSWORD"))
        or "api_key" in (name or "").lower()
        or (value.strip().startswith(("sk-", "Bearer sk-")))
    )


def find_interpreter(project: Path, explicit: str | None, environ: Mapping[str, str]) -> tuple[str | None, str]:
    """The interpreter whose packages are checked and why it was chosen (SPEC: --python, venvs, PATH)."""
    if explicit:
        return explicit, "--python"
    bin_dir = "Scripts" if os.name == "nt" else "bin"
    exe = "python.exe" if os.name == "nt" else "python"
    venv = environ.get("VIRTUAL_ENV")
    if venv and (Path(venv) / bin_dir / exe).exists():
        return str(Path(venv) / bin_dir / exe), "$VIRTUAL_ENV"
    for name in (".venv", "venv"):
        candidate = project / name / bin_dir / exe
        if candidate.exists():
            return str(candidate), f"{name}/ in the project"
    on_path = shutil.which("python3", path=environ.get("PATH")) or shutil.which("python", path=environ.get("PATH"))
    return on_path, "python3 on PATH" if on_path else "none found"


def gather_context(
    project: Path,
    env_file: Path | None = None,
    options: Options | None = None,
    environ: Mapping[str, str] | None = None,
) -> Context:
    """Read the project, the environment, the dotenv file and the shell start-up files once."""
    environ = dict(os.environ if environ is None else environ)
    project = Path(project)
    env_path = Path(env_file) if env_file else project / ".env"
    home_value = environ.get("HOME") or None
    home = Path(home_value) if home_value else None
    options = options or Options()
    python, python_source = find_interpreter(project, options.python, environ)
    return Context(
        project=project,
        env_file=env_path,
        environ=environ,
        home=home,
        dotenv=read_dotenv(env_path),
        shell_rc=scan_shell_rc(home),
        python=python,
        python_source=python_source,
        options=options,
        deadline=time.monotonic() + options.timeout,
    )
