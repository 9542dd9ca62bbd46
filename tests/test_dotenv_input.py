"""Bad `.env` input: each gives a clear finding, no traceback, and leaves the file as it was."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from conftest import assert_no_secret, fake_key, make_venv, run_cli

from llmenv.checks import key_check
from llmenv.context import Options, gather_context
from llmenv.dotenv_file import MAX_DOTENV_BYTES, read_dotenv
from llmenv.findings import Finding
from llmenv.secrets import mask


def check(project: Path, home: Path, environ: dict[str, str] | None = None) -> list[Finding]:
    ctx = gather_context(project, options=Options(offline=True), environ={"HOME": str(home), **(environ or {})})
    return key_check.run(ctx)


def said(findings: list[Finding]) -> str:
    return "\n".join(
        [f.message for f in findings]
        + [f.detail or "" for f in findings]
        + [x for f in findings for fix in f.fixes for x in (fix.summary, fix.command or "")]
    )


def snapshot(path: Path) -> tuple[int, bytes] | None:
    """The file's mode and bytes (None for what is not a readable regular file), to prove nothing changed it."""
    try:
        return path.lstat().st_mode, (path.read_bytes() if path.is_file() else b"")
    except OSError:
        return None


def five_megabytes() -> bytes:
    line = b"SOME_VARIABLE=some-value-that-is-moderately-long-1234567890\n"
    return line * (5_000_000 // len(line))


# (name, bytes of .env, code expected, words expected in its message)
BAD_FILES = [
    ("utf16", "OPENAI_API_KEY={key}\n".encode("utf-16"), "dotenv-parse-error", "UTF-16"),
    ("utf16-no-bom", "OPENAI_API_KEY={key}\n".encode("utf-16-le"), "dotenv-parse-error", "UTF-16"),
    ("binary", bytes(range(256)) * 4, "dotenv-parse-error", "binary"),
    ("latin-1", "# clé\nOPENAI_API_KEY={key}\n".encode("latin-1"), "dotenv-parse-error", "not valid UTF-8"),
    ("unterminated", b"A=1\n\nOPENAI_API_KEY='{key}\nB=2\n", "dotenv-parse-error", "never closed"),
    ("five-mb", five_megabytes(), "dotenv-parse-error", "too large"),
]


@pytest.mark.parametrize("name, content, code, words", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_dotenv_gives_a_clear_finding(project, home, name, content, code, words):
    key = fake_key()
    content = content.replace(b"{key}", key.encode()).replace("{key}".encode("utf-16-le"), key.encode("utf-16-le"))
    env_file = project / ".env"
    env_file.write_bytes(content)
    before = snapshot(env_file)

    findings = check(project, home)

    assert code in [f.code for f in findings]
    assert any(words in f.message for f in findings if f.code == code), said(findings)
    assert snapshot(env_file) == before
    assert_no_secret(said(findings), key)


def test_unterminated_quote_gives_both_line_numberings(project, home):
    key = fake_key()
    (project / ".env").write_text(f"A=1\n\nOPENAI_API_KEY='{key}\nB=2\n")
    findings = check(project, home)
    (error,) = [f for f in findings if f.code == "dotenv-parse-error"]
    assert error.location.line == 3
    assert "python-dotenv's warning says line 2" in error.message
    (missing,) = [f for f in findings if f.code == "key-missing"]
    assert "the line meant to set it, .env line 3, cannot be parsed" in missing.message
    assert_no_secret(said(findings), key)


def _python_with_dotenv(root: Path, version: str) -> dict[str, str]:
    """The environment selecting a real venv whose python-dotenv is `version` (its BOM handling differs)."""
    make_venv(root, {"python-dotenv": version})
    return {"VIRTUAL_ENV": str(root)}


def test_bom_and_crlf(project, home, tmp_path):
    key = fake_key()
    env_file = project / ".env"
    env_file.write_bytes(f"\ufeffFLASK_APP=app\r\nOPENAI_API_KEY={key}\r\n".encode())
    before = snapshot(env_file)
    findings = check(project, home, _python_with_dotenv(tmp_path / "venv", "1.2.2"))
    bom = [f for f in findings if f.code == "dotenv-invalid-name"]
    assert len(bom) == 1 and "byte-order mark" in bom[0].message and bom[0].location.line == 1
    found = [f for f in findings if f.code == "key-found"]
    assert found and mask(key) in found[0].message  # CRLF: python-dotenv drops the \r, so the key is clean
    assert "key-malformed" not in [f.code for f in findings]
    assert "CRLF" in found[0].detail
    assert snapshot(env_file) == before


def test_bom_in_front_of_the_key_name_means_no_key_for_python_dotenv_1_2_2(project, home, tmp_path):
    key = fake_key()
    (project / ".env").write_bytes(f"\ufeffOPENAI_API_KEY={key}\n".encode())
    findings = check(project, home, _python_with_dotenv(tmp_path / "venv", "1.2.2"))
    missing = [f for f in findings if f.code == "key-missing"]
    assert missing and "byte-order mark" in missing[0].message
    invalid = next(f for f in findings if f.code == "dotenv-invalid-name")
    assert any("python-dotenv>=1.2.3" in (fix.command or "") for fix in invalid.fixes)
    assert_no_secret(said(findings), key)


@pytest.mark.parametrize("version", ["1.2.3", "1.2.4"])
def test_a_bom_is_harmless_where_python_dotenv_strips_it(project, home, tmp_path, version):
    key = fake_key()
    (project / ".env").write_bytes(f"\ufeffOPENAI_API_KEY={key}\n".encode())
    findings = check(project, home, _python_with_dotenv(tmp_path / "venv", version))
    codes_found = [f.code for f in findings]
    assert "key-missing" not in codes_found and "dotenv-invalid-name" not in codes_found
    found = next(f for f in findings if f.code == "key-found")
    assert mask(key) in found.message and "byte-order mark" in (found.detail or "")
    assert_no_secret(said(findings), key)


def test_a_quote_that_swallows_the_following_lines(project, home):
    key = fake_key()
    (project / ".env").write_text(f'GREETING="hello\nOPENAI_API_KEY={key}\nDEBUG=1"\n')
    findings = check(project, home)
    swallow = [f for f in findings if f.code == "dotenv-parse-error"]
    assert swallow and "closes only on line 3" in swallow[0].message
    assert "quoted value of GREETING" in next(f for f in findings if f.code == "key-missing").message
    assert_no_secret(said(findings), key)


def test_many_bad_lines_are_summarised(project, home):
    (project / ".env").write_text("this is not a dotenv file\n" * 50)
    errors = [f for f in check(project, home) if f.code == "dotenv-parse-error"]
    assert len(errors) == 6 and "45 more lines" in errors[-1].message


def test_a_directory(project, home):
    (project / ".env").mkdir()
    findings = check(project, home)
    assert any(f.code == "dotenv-parse-error" and "directory" in f.message for f in findings)
    assert (project / ".env").is_dir()


def test_unreadable_by_permissions(project, home):
    if getattr(os, "geteuid", lambda: -1)() == 0:
        pytest.skip("root reads files whatever their mode; test_unreadable_symlink_loop covers a failing read")
    env_file = project / ".env"
    env_file.write_text(f"OPENAI_API_KEY={fake_key()}\n")
    env_file.chmod(0)
    try:
        findings = check(project, home)
        assert any(f.code == "dotenv-parse-error" and "cannot be read" in f.message for f in findings)
        assert env_file.stat().st_mode & 0o777 == 0
    finally:
        env_file.chmod(0o600)


def test_unreadable_symlink_loop(project, home):
    # A read that fails even for root: the path exists (lstat works) but opening it cannot succeed.
    os.symlink(".env", project / ".env")
    findings = check(project, home)
    assert any(f.code == "dotenv-parse-error" and "cannot be read" in f.message for f in findings)
    assert os.readlink(project / ".env") == ".env"


def test_dangling_symlink(project, home):
    os.symlink("secrets/real.env", project / ".env")
    findings = check(project, home)
    assert any(f.code == "dotenv-parse-error" and "does not exist" in f.message for f in findings)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_named_pipe_without_writer_does_not_hang(project, home):
    os.mkfifo(project / ".env")
    started = time.perf_counter()
    dotenv = read_dotenv(project / ".env")
    assert time.perf_counter() - started < 3
    assert dotenv.exists and dotenv.entries == ()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_named_pipe_with_a_writer_is_read(project, home):
    key = fake_key()
    pipe = project / ".env"
    os.mkfifo(pipe)

    def serve():
        with open(pipe, "w") as handle:
            handle.write(f"OPENAI_API_KEY={key}\n")

    writer = threading.Thread(target=serve, daemon=True)
    writer.start()
    dotenv = read_dotenv(pipe)
    writer.join(timeout=5)
    assert dotenv.lookup("OPENAI_API_KEY").value == key


def test_five_megabytes_is_read_fast(project):
    (project / ".env").write_bytes(five_megabytes())
    started = time.perf_counter()
    dotenv = read_dotenv(project / ".env")
    assert time.perf_counter() - started < 0.5
    assert dotenv.problem and "too large" in dotenv.problem


def test_the_largest_parsed_file_stays_quick(project):
    line = b"SOME_VARIABLE=some-value-that-is-moderately-long-1234567890\n"
    (project / ".env").write_bytes(line * (MAX_DOTENV_BYTES // len(line)))
    started = time.perf_counter()
    dotenv = read_dotenv(project / ".env")
    assert time.perf_counter() - started < 3  # about 0.2 s on a laptop; generous for slow CI
    assert dotenv.problem is None and len(dotenv.entries) == MAX_DOTENV_BYTES // len(line)


@pytest.mark.parametrize("name", ["utf16", "binary", "five-mb", "unterminated", "directory", "bom-crlf"])
def test_bad_dotenv_through_the_cli_has_no_traceback(project, env, name):
    key = fake_key()
    env_file = project / ".env"
    if name == "directory":
        env_file.mkdir()
    elif name == "bom-crlf":
        env_file.write_bytes(f"\ufeffOPENAI_API_KEY={key}\r\n".encode())
    else:
        content = dict((b[0], b[1]) for b in BAD_FILES)[name]
        env_file.write_bytes(content.replace(b"{key}", key.encode()))
    before = snapshot(env_file)
    for extra in ([], ["--json"], ["-v"]):
        run = run_cli(["doctor", "--offline", "--only", "key", "--project", str(project), *extra], env)
        assert run.returncode in (0, 1)
        assert "Traceback" not in run.output and "internal-error" not in run.output
        assert "dotenv-" in run.output or "dotenv" in run.output or ".env" in run.output
        assert_no_secret(run.output, key)
    assert snapshot(env_file) == before


# --- read_dotenv agrees with python-dotenv --------------------------------------------------------------------


def test_line_numbers_and_values_match_python_dotenv(tmp_path):
    from dotenv import dotenv_values

    text = "# c\n\n\nA=1\nexport B='two words'\nC=\"multi\nline\"\n\nD=${A}-x\nE\nA=3\n"
    path = tmp_path / ".env"
    path.write_text(text)
    dotenv = read_dotenv(path)
    assert {e.name: e.line for e in dotenv.entries if e.name} == {"A": 11, "B": 5, "C": 6, "D": 9, "E": 10}
    expected = {k: v for k, v in dotenv_values(path, interpolate=False).items() if v is not None}
    assert dotenv.values() == expected
    assert dotenv.interpolated({})["D"] == dotenv_values(path)["D"]


def test_a_bare_name_after_a_value_unsets_it_as_python_dotenv_does(tmp_path):
    from dotenv import dotenv_values

    path = tmp_path / ".env"
    path.write_text("A=1\nA\n")
    assert dotenv_values(path)["A"] is None
    assert read_dotenv(path).lookup("A") is None and "A" not in read_dotenv(path).values()


def test_interpolation_prefers_the_shell(tmp_path):
    path = tmp_path / ".env"
    path.write_text("X=fromfile\nY=${X}\nZ=${NOPE:-dflt}\n")
    values = read_dotenv(path).interpolated({"X": "fromshell"})
    assert values["Y"] == "fromshell" and values["Z"] == "dflt"
