"""Everything the checks need to know about this machine, gathered once before any check runs."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from llmenv.dotenv_file import DotenvEntry, DotenvFile, read_dotenv
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
    location: Location | None  # the dotenv line, or the start-up file line that set the shell's value
    label: str  # for people: "the shell (set by ~/.bashrc line 2)" or ".env line 5"
    origin: RcAssignment | None = None  # for a shell value: the start-up file line that sets this value
    entry: DotenvEntry | None = None  # for a dotenv value: its binding

    @property
    def in_shell(self) -> bool:
        """True when the value comes from the process environment rather than the dotenv file."""
        return self.source == "shell"


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
        """A file as the user names it: relative to the project, or with `~` under HOME, else absolute.

        Only the folder is resolved: a `.env` or `~/.bashrc` that is a symlink (into a dotfiles
        repository, or a loop) keeps the name the user knows it by.
        """
        path = Path(path)
        try:
            full = path.parent.resolve() / path.name
        except (OSError, RuntimeError):  # RuntimeError: a symlink loop on Python < 3.13
            return str(path)
        for base, prefix in ((self.project, ""), (self.home, "~/")):
            if base is None:
                continue
            try:
                rel = full.relative_to(base.resolve()).as_posix()
            except (ValueError, OSError, RuntimeError):
                continue
            return prefix + rel if rel != "." else (prefix.rstrip("/") or ".")
        return str(full)

    def setting(self, name: str) -> Setting | None:
        """The value of `name` a program sees after `load_dotenv()`: the shell's (even empty) wins over `.env`."""
        if name not in self.environ:
            return self.dotenv_setting(name)
        value = self.environ[name]
        origin = next((a for a in reversed(self.shell_rc) if a.name == name and a.value == value), None)
        if origin is None:
            return Setting(name, value, "shell", None, "the shell")
        where = self.relpath(origin.path)
        label = f"the shell (set by {where} line {origin.line})"
        return Setting(name, value, "shell", Location(where, origin.line), label, origin=origin)

    def dotenv_setting(self, name: str) -> Setting | None:
        """The value the dotenv file gives `name` (after `${VAR}` expansion), whatever the shell says."""
        entry = self.dotenv.lookup(name)
        if entry is None or entry.value is None:
            return None
        rel = self.relpath(self.dotenv.path)
        value = self._dotenv_values().get(name, entry.value)
        return Setting(
            name, value, f"{rel}:{entry.line}", Location(rel, entry.line), f"{rel} line {entry.line}", entry=entry
        )

    def _dotenv_values(self) -> dict[str, str]:
        """The dotenv values after python-dotenv's `${VAR}` expansion (computed once)."""
        with self._memo_lock:
            if "dotenv_values" not in self._memo:
                self._memo["dotenv_values"] = self.dotenv.interpolated(self.environ)
            return self._memo["dotenv_values"]

    def effective_env(self) -> dict[str, str]:
        """The environment of a program that calls `load_dotenv()` (without override): the shell wins."""
        return {**self._dotenv_values(), **self.environ}

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
    ctx = Context(
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
    if ctx.dotenv.bom and _strips_bom(ctx.interpreter()):
        # Only a file with a BOM pays for asking the interpreter; the probe's result is shared (same memo).
        ctx = replace(ctx, dotenv=ctx.dotenv.without_bom())
    return ctx


# The first python-dotenv whose parser drops a leading byte-order mark (theskumar/python-dotenv#640).
_DOTENV_STRIPS_BOM = (1, 2, 3)


def _strips_bom(facts: InterpreterFacts | None) -> bool:
    """Whether the checked interpreter's python-dotenv ignores a BOM (unknown or absent: assume it does not)."""
    from packaging.version import InvalidVersion, Version

    version = facts.version_of("python-dotenv") if facts is not None and not facts.error else None
    try:
        return version is not None and Version(version).release[:3] >= _DOTENV_STRIPS_BOM
    except InvalidVersion:
        return False
