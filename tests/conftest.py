"""Shared fixtures: a clean environment, a temporary HOME, projects, and running the CLI as users do."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest


def fake_key(prefix: str = "sk-proj-", length: int = 48) -> str:
    """A key-shaped random string: never a real key, unique per call so a leak is unambiguous."""
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


def assert_no_secret(text: str, *keys: str) -> None:
    """Fail if any whole key appears in `text` (the product's promise: secrets are never printed)."""
    for key in keys:
        assert key not in text, "a whole key was printed"
        stripped = key.strip()
        if len(stripped) >= 8:
            assert stripped not in text, "a whole key was printed"


def all_text(findings) -> str:
    """Everything a list of findings could print: messages, fix summaries and commands, details."""
    parts = []
    for f in findings:
        parts += [f.message, f.detail or ""]
        parts += [x.summary + " " + (x.command or "") for x in f.fixes]
    return "\n".join(parts)


def codes(findings) -> list[str]:
    """The finding codes, in order."""
    return [f.code for f in findings]


def one(findings, code: str):
    """The single finding with `code` (fails the test when there are none or several)."""
    matching = [f for f in findings if f.code == code]
    assert len(matching) == 1, f"expected one {code}, got {codes(findings)}: {[f.message for f in findings]}"
    return matching[0]


def make_venv(root: Path, packages: dict[str, str]) -> str:
    """A real virtual environment whose installed distributions are exactly `packages` (name → version)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, capture_output=True)
    (site,) = root.glob("lib/python*/site-packages") if os.name != "nt" else [root / "Lib" / "site-packages"]
    for name, version in packages.items():
        info = site / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return str(root / ("Scripts/python.exe" if os.name == "nt" else "bin/python"))


@dataclass
class Run:
    """What one CLI invocation did."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def base_env(home: Path) -> dict[str, str]:
    """An environment with nothing of the developer's: no OpenAI variables, no proxies, HOME given."""
    keep = ("PATH", "LANG", "LC_ALL", "SYSTEMROOT", "PYENV_ROOT", "PYENV_VERSION", "TMPDIR")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update({"HOME": str(home), "NO_COLOR": "1", "PYTHONIOENCODING": "utf-8"})
    return env


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty HOME directory for the shell start-up files a test writes."""
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An empty project directory."""
    path = tmp_path / "project"
    path.mkdir()
    return path


@pytest.fixture
def env(home: Path) -> dict[str, str]:
    """The clean environment for a CLI run, with HOME pointing at the temporary home."""
    return base_env(home)


def run_cli(args: list[str], env: dict[str, str], cwd: Path | None = None, timeout: float = 60) -> Run:
    """Run `python -m llmenv ARGS` as a subprocess, as a user would."""
    proc = subprocess.run(
        [sys.executable, "-m", "llmenv", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def run_cli_inprocess(args: list[str], env: dict[str, str]) -> Run:
    """Run the CLI in this process (typer's runner) with exactly `env` as the environment."""
    from typer.testing import CliRunner

    from llmenv.cli import app

    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        result = CliRunner().invoke(app, args, catch_exceptions=False)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return Run(result.exit_code, result.stdout, result.stderr)


def git(cwd: Path, *args: str) -> str:
    """Run git in `cwd` with a fixed identity and no user/system config."""
    genv = {
        "PATH": os.environ["PATH"],
        "HOME": str(cwd),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
    }
    return subprocess.run(["git", *args], cwd=cwd, env=genv, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="session")
def fake_api():
    """The session's local OpenAI-compatible server (tests/openai_server.py), shared by every API test."""
    from openai_server import shared_server

    return shared_server()


@pytest.fixture(scope="session")
def servers_dir(tmp_path_factory) -> Path:
    """A folder for the session's servers: CA files, proxy logs."""
    return tmp_path_factory.mktemp("servers")


@pytest.fixture(scope="session")
def http_proxy(servers_dir):
    """A real HTTP proxy with CONNECT (the proxy.py package) on loopback, logging what it forwards."""
    from proxies import proxy_py

    with proxy_py(servers_dir) as proxy:
        yield proxy


@pytest.fixture(scope="session")
def socks_proxy(servers_dir):
    """A real SOCKS5 proxy (the pproxy package) on loopback, logging what it forwards."""
    from proxies import pproxy

    with pproxy(servers_dir) as proxy:
        yield proxy
