"""The `key` check: which key a program sees and from where, its shape, start-up files, and the .env's syntax."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from conftest import assert_no_secret, base_env, codes, fake_key, make_venv, one, run_cli

from llmenv.checks import key_check
from llmenv.context import Options, gather_context
from llmenv.findings import Finding
from llmenv.secrets import mask

KEY_PAGE = "https://platform.openai.com/api-keys"


# --- helpers ------------------------------------------------------------------------------------------------


def check(project: Path, home: Path | None = None, environ: dict[str, str] | None = None, **options) -> list[Finding]:
    """Run the key check on a context gathered from real files, with exactly `environ` as the shell."""
    env = dict(environ or {})
    if home is not None:
        env["HOME"] = str(home)
    ctx = gather_context(project, options=Options(offline=True, **options), environ=env)
    return key_check.run(ctx)


def everything_said(findings: list[Finding]) -> str:
    """Every text a finding carries, as the renderers would show it (with -v)."""
    parts = []
    for f in findings:
        parts += [f.message, f.detail or "", f.location.path if f.location else ""]
        parts += [x for fix in f.fixes for x in (fix.summary, fix.command or "")]
    return "\n".join(parts)


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def scenario(project: Path, home: Path) -> tuple[str, str]:
    """The issue's set-up: .env holds key A (and Python on line 7), ~/.bashrc line 2 exports the older key B."""
    key_a, key_b = fake_key(), fake_key()
    write(
        project / ".env",
        "FLASK_APP=app\n"
        "FLASK_ENV=development\n"
        "\n"
        "# Once you add your API key below, make sure to not share it with anyone!\n"
        f"OPENAI_API_KEY={key_a}\n"
        "\n"
        f"openai.api_key = {key_a}\n",
    )
    write(home / ".bashrc", f"# ~/.bashrc\nexport OPENAI_API_KEY={key_b}\nalias ll='ls -l'\n")
    return key_a, key_b


# --- the scenario -----------------------------------------------------------------------------------


def test_scenario_through_run(project, home):
    key_a, key_b = scenario(project, home)
    findings = check(project, home, {"OPENAI_API_KEY": key_b})

    assert codes(findings) == ["key-found", "key-shell-overrides-dotenv", "key-in-shell-rc", "dotenv-invalid-name"]
    found = one(findings, "key-found")
    assert found.severity == "info"
    assert mask(key_b) in found.message and "shell" in found.message and "~/.bashrc line 2" in found.message

    shadow = one(findings, "key-shell-overrides-dotenv")
    assert shadow.severity == "warn"
    assert (shadow.location.path, shadow.location.line) == (".env", 5)
    assert "~/.bashrc line 2" in shadow.message and "load_dotenv()" in shadow.message
    assert mask(key_a) in shadow.message and mask(key_b) in shadow.message
    assert "unset OPENAI_API_KEY" in [fix.command for fix in shadow.fixes]
    assert any("~/.bashrc line 2" in fix.summary for fix in shadow.fixes)
    assert any("load_dotenv(override=True)" in fix.summary for fix in shadow.fixes)

    in_rc = one(findings, "key-in-shell-rc")
    assert in_rc.severity == "warn"
    assert (in_rc.location.path, in_rc.location.line) == ("~/.bashrc", 2)
    assert any(KEY_PAGE in fix.summary for fix in in_rc.fixes)

    python_line = one(findings, "dotenv-invalid-name")
    assert (python_line.location.path, python_line.location.line) == (".env", 7)
    assert "Python" in python_line.message and "openai.api_key" in python_line.message

    assert_no_secret(everything_said(findings), key_a, key_b)


def test_scenario_through_the_cli_text_json_and_verbose(project, home, env):
    key_a, key_b = scenario(project, home)
    env = {**env, "OPENAI_API_KEY": key_b}
    args = ["doctor", "--offline", "--only", "key", "--project", str(project)]

    text = run_cli(args, env)
    verbose = run_cli([*args, "-v"], env)
    as_json = run_cli([*args, "--json"], env)

    for run in (text, verbose, as_json):
        assert run.returncode == 0, run.output  # warnings only
        assert "Traceback" not in run.output
        assert_no_secret(run.output, key_a, key_b)
    report = json.loads(as_json.stdout)
    (key,) = [c for c in report["checks"] if c["id"] == "key"]
    assert key["status"] == "warn"
    located = {(f["code"], f["location"]["path"], f["location"]["line"]) for f in key["findings"] if f["location"]}
    assert ("key-shell-overrides-dotenv", ".env", 5) in located
    assert ("key-in-shell-rc", "~/.bashrc", 2) in located
    assert ("dotenv-invalid-name", ".env", 7) in located
    assert {f["code"] for f in key["findings"]} == {
        "key-found",
        "key-shell-overrides-dotenv",
        "key-in-shell-rc",
        "dotenv-invalid-name",
    }
    assert "~/.bashrc line 2" in text.stdout and "unset OPENAI_API_KEY" in text.stdout
    assert mask(key_b) in text.stdout and mask(key_a) in text.stdout
    assert "(key-found)" in verbose.stdout and ".env line 5: " + mask(key_a) in verbose.stdout


def test_doctor_offline_only_key_is_fast(project, home, env):
    scenario(project, home)
    started = time.perf_counter()
    run = run_cli(["doctor", "--offline", "--only", "key", "--project", str(project)], env)
    elapsed = time.perf_counter() - started
    assert run.returncode in (0, 1)
    assert elapsed < 5  # the whole process, Python start-up included; typically ~0.3 s


# --- where the key comes from -------------------------------------------------------------------------------


def test_key_from_dotenv_names_the_line(project, home):
    key = fake_key()
    write(project / ".env", f"# settings\n\nOPENAI_API_KEY={key}\n")
    findings = check(project, home, {})
    found = one(findings, "key-found")
    assert (found.location.path, found.location.line) == (".env", 3)
    assert found.message == f"OPENAI_API_KEY {mask(key)} from .env line 3"
    assert codes(findings) == ["key-found"]
    assert_no_secret(everything_said(findings), key)


def test_same_key_in_shell_and_dotenv_is_not_a_conflict(project, home):
    key = fake_key()
    write(project / ".env", f"OPENAI_API_KEY={key}\n")
    findings = check(project, home, {"OPENAI_API_KEY": key})
    assert codes(findings) == ["key-found"]
    assert "the shell" in findings[0].message


def test_a_key_set_twice_in_dotenv_says_the_last_wins(project, home):
    old, new = fake_key(), fake_key()
    write(project / ".env", f"OPENAI_API_KEY={old}\nX=1\nOPENAI_API_KEY={new}\n")
    found = one(check(project, home, {}), "key-found")
    assert mask(new) in found.message and found.location.line == 3
    assert "lines 1, 3; the last wins" in found.message


def test_dotenv_interpolation_is_followed(project, home):
    key = fake_key()
    write(project / ".env", "OPENAI_API_KEY=${MY_OPENAI_KEY}\n")
    findings = check(project, home, {"MY_OPENAI_KEY": key})
    assert codes(findings) == ["key-found"]
    assert mask(key) in findings[0].message and "expanded" in findings[0].message


def test_verbose_detail_lists_every_source_masked(project, home):
    key_a, key_b, key_c = fake_key(), fake_key(), fake_key()
    write(project / ".env", f"OPENAI_API_KEY={key_a}\n")
    write(home / ".zshrc", f"export OPENAI_API_KEY={key_c}\n")
    findings = check(project, home, {"OPENAI_API_KEY": key_b})
    found = one(findings, "key-found")
    assert f"new terminals get {mask(key_c)} from ~/.zshrc line 1" in found.message
    assert f"shell: {mask(key_b)}" in found.detail
    assert f".env line 1: {mask(key_a)}" in found.detail
    assert f"~/.zshrc line 1: {mask(key_c)}" in found.detail
    assert_no_secret(everything_said(findings), key_a, key_b, key_c)


# --- key-missing --------------------------------------------------------------------------------------------


def test_no_key_anywhere_is_a_failure_with_the_key_page(project, home):
    findings = check(project, home, {})
    missing = one(findings, "key-missing")
    assert missing.severity == "fail"
    assert "no OPENAI_API_KEY in the shell or in .env" in missing.message
    assert any(KEY_PAGE in fix.summary and ".env" in fix.summary for fix in missing.fixes)


def test_no_key_exits_1_through_the_cli(project, env):
    run = run_cli(["doctor", "--offline", "--only", "key", "--project", str(project)], env)
    assert run.returncode == 1
    assert "OPENAI_API_KEY" in run.stdout and KEY_PAGE in run.stdout


def test_key_in_a_start_up_file_this_shell_has_not_read(project, home):
    key = fake_key()
    write(home / ".zshrc", f"# zsh\n\nexport OPENAI_API_KEY='{key}'\n")
    findings = check(project, home, {})
    missing = one(findings, "key-missing")
    assert "~/.zshrc line 3 sets it" in missing.message
    assert "source ~/.zshrc" in [fix.command for fix in missing.fixes]
    assert one(findings, "key-in-shell-rc").location.line == 3
    assert_no_secret(everything_said(findings), key)


def test_an_empty_shell_variable_hides_the_dotenv_key(project, home):
    key = fake_key()
    write(project / ".env", f"OPENAI_API_KEY={key}\n")
    findings = check(project, home, {"OPENAI_API_KEY": ""})
    missing = one(findings, "key-missing")
    assert "empty in the shell" in missing.message and "hides the key on .env line 1" in missing.message
    assert "unset OPENAI_API_KEY" in [fix.command for fix in missing.fixes]
    assert "key-shell-overrides-dotenv" in codes(findings)
    assert_no_secret(everything_said(findings), key)


def test_an_empty_value_in_dotenv(project, home):
    write(project / ".env", "OPENAI_API_KEY=\n")
    missing = one(check(project, home, {}), "key-missing")
    assert "empty on .env line 1" in missing.message and missing.location.line == 1


def test_a_near_miss_name_is_pointed_out(project, home):
    key = fake_key()
    write(project / ".env", f"OPENAI_KEY={key}\n")
    findings = check(project, home, {})
    missing = one(findings, "key-missing")
    assert ".env line 1 sets OPENAI_KEY, but the SDK reads only OPENAI_API_KEY" in missing.message
    assert_no_secret(everything_said(findings), key)


def test_a_bare_key_line_is_named(project, home):
    key = fake_key()
    write(project / ".env", f"{key}\n")
    findings = check(project, home, {})
    assert "bare key" in one(findings, "dotenv-invalid-name").message
    assert "holds a key with no OPENAI_API_KEY= in front" in one(findings, "key-missing").message
    assert_no_secret(everything_said(findings), key)


def test_a_missing_key_for_a_local_server_explains_the_sdk_still_wants_one(project, home):
    write(project / ".env", "OPENAI_BASE_URL=http://localhost:11434/v1\n")
    missing = one(check(project, home, {}), "key-missing")
    assert any("any text" in fix.summary for fix in missing.fixes)
    assert not any(KEY_PAGE in fix.summary for fix in missing.fixes)


# --- key-placeholder ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["sk-...", "sk-xxxx", "your-api-key-here", "<key>", "YOUR_OPENAI_API_KEY", "sk-your-api-key-here", "sk-…Ab12"],
)
def test_placeholders_fail(project, home, value):
    write(project / ".env", f"OPENAI_API_KEY={value}\n")
    findings = check(project, home, {})
    placeholder = one(findings, "key-placeholder")
    assert placeholder.severity == "fail"
    assert (placeholder.location.path, placeholder.location.line) == (".env", 1)
    assert any("line 1" in fix.summary and KEY_PAGE in fix.summary for fix in placeholder.fixes)


def test_the_value_of_dotenv_example_is_a_placeholder(project, home):
    sample = "sk-proj-TEAM-SHARED-SAMPLE-0000000000000000000000000000000"
    write(project / ".env.example", f"OPENAI_API_KEY={sample}\n")
    write(project / ".env", f"OPENAI_API_KEY={sample}\n")
    placeholder = one(check(project, home, {}), "key-placeholder")
    assert ".env.example" in placeholder.message


def test_a_placeholder_in_the_shell_gets_a_shell_fix(project, home):
    write(home / ".bashrc", "export OPENAI_API_KEY=sk-xxxxxxxx\n")
    findings = check(project, home, {"OPENAI_API_KEY": "sk-xxxxxxxx"})
    placeholder = one(findings, "key-placeholder")
    assert placeholder.location.path == "~/.bashrc"
    assert any("~/.bashrc line 1" in fix.summary and fix.command == "unset OPENAI_API_KEY" for fix in placeholder.fixes)
    assert "key-in-shell-rc" not in codes(findings)  # a placeholder is no exposed secret


@pytest.mark.parametrize("value", ["ollama", "EMPTY", "sk-xxxx", "your-api-key-here"])
def test_a_local_server_takes_any_string(project, home, value):
    write(project / ".env", f"OPENAI_BASE_URL=http://localhost:11434/v1\nOPENAI_API_KEY={value}\n")
    findings = check(project, home, {})
    assert not {"key-placeholder", "key-malformed", "key-missing"} & set(codes(findings))


# --- key-malformed ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda k: k + " ", "spaces"),
        (lambda k: " " + k, "spaces"),
        (lambda k: k + "\r", "carriage return"),
        (lambda k: k[:20] + "\n" + k[20:], "line break"),
        (lambda k: f'"{k}"', "quote"),
        (lambda k: f"'{k}'", "quote"),
        (lambda k: "Bearer " + k, "Bearer"),
        (lambda k: k.replace("sk-", "ｓｋ-", 1), "full-width"),
        (lambda k: k[:10] + "\u200b" + k[10:], "ZERO WIDTH"),
        (lambda k: "OPENAI_API_KEY=" + k, "OPENAI_API_KEY="),
        (lambda k: k[:25], "cut off"),
        (lambda k: k + k, "two keys"),
    ],
)
def test_malformed_keys_in_the_shell(project, home, make, words):
    key = fake_key()
    value = make(key)
    findings = check(project, home, {"OPENAI_API_KEY": value})
    malformed = one(findings, "key-malformed")
    assert malformed.severity == "fail"
    assert words in malformed.message
    assert "unset OPENAI_API_KEY" in [fix.command for fix in malformed.fixes]
    assert_no_secret(everything_said(findings), key, value)
    assert "\r" not in everything_said(findings) and "\u200b" not in everything_said(findings)


def test_quotes_kept_inside_a_dotenv_value(project, home):
    key = fake_key()
    write(project / ".env", f"OPENAI_API_KEY='\"{key}\"'\n")
    findings = check(project, home, {})
    malformed = one(findings, "key-malformed")
    assert "quote" in malformed.message and malformed.location.line == 1
    assert_no_secret(everything_said(findings), key)


@pytest.mark.parametrize(
    "prefix, length, provider",
    [("sk-ant-api03-", 93, "Anthropic"), ("hf_", 34, "Hugging Face"), ("AIza", 35, "Google"), ("gsk_", 52, "Groq")],
)
def test_another_providers_key_sent_to_openai_is_named(project, home, prefix, length, provider):
    key = fake_key(prefix, length)
    write(project / ".env", f"OPENAI_API_KEY={key}\n")
    findings = check(project, home, {})
    malformed = one(findings, "key-malformed")
    assert f"{provider} key" in malformed.message and "api.openai.com" in malformed.message
    assert any((fix.command or "").startswith("export OPENAI_BASE_URL=") for fix in malformed.fixes)
    assert_no_secret(everything_said(findings), key)


def test_the_matching_providers_key_is_fine_at_its_host(project, home):
    key = fake_key("gsk_", 52)
    write(project / ".env", f"OPENAI_BASE_URL=https://api.groq.com/openai/v1\nOPENAI_API_KEY={key}\n")
    assert "key-malformed" not in codes(check(project, home, {}))


def test_an_openai_key_sent_to_groq_is_named(project, home):
    key = fake_key()
    write(project / ".env", f"OPENAI_BASE_URL=https://api.groq.com/openai/v1\nOPENAI_API_KEY={key}\n")
    malformed = one(check(project, home, {}), "key-malformed")
    assert "OpenAI key" in malformed.message and "Groq" in malformed.message


@pytest.mark.parametrize("value", ["anything-goes", "hf_" + "a" * 30, "abc"])
def test_shape_is_not_judged_for_vllm_or_ollama(project, home, value):
    write(project / ".env", f"OPENAI_BASE_URL=http://127.0.0.1:8000/v1\nOPENAI_API_KEY={value}\n")
    assert "key-malformed" not in codes(check(project, home, {}))


def test_a_broken_header_value_fails_whatever_the_server(project, home):
    findings = check(project, home, {"OPENAI_API_KEY": "token-for-vllm\r"}, base_url="http://127.0.0.1:8000/v1")
    assert "carriage return" in one(findings, "key-malformed").message


# --- key-in-shell-rc ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, line",
    [
        (".bashrc", "export OPENAI_API_KEY={key}"),
        (".bash_profile", 'export OPENAI_API_KEY="{key}"'),
        (".profile", "OPENAI_API_KEY={key}; export OPENAI_API_KEY"),
        (".zshrc", "export OPENAI_API_KEY='{key}'  # work"),
        (".zprofile", "typeset -x OPENAI_API_KEY={key}"),
        (".config/fish/config.fish", "set -gx OPENAI_API_KEY {key}"),
    ],
)
def test_a_literal_key_in_each_start_up_file(project, home, name, line):
    key = fake_key()
    write(home / name, "# start-up\n" + line.format(key=key) + "\n")
    findings = check(project, home, {})
    in_rc = one(findings, "key-in-shell-rc")
    assert (in_rc.location.path, in_rc.location.line) == (f"~/{name}", 2)
    assert mask(key) in in_rc.message
    assert_no_secret(everything_said(findings), key)


@pytest.mark.parametrize(
    "name, line",
    [
        (".bashrc", "export OPENAI_API_KEY=$(pass show openai)"),
        (".zshrc", 'export OPENAI_API_KEY="$(security find-generic-password -s openai -w)"'),
        (".bashrc", "export OPENAI_API_KEY=`cat ~/.openai`"),
        (".bashrc", 'export OPENAI_API_KEY="$WORK_OPENAI_KEY"'),
        (".config/fish/config.fish", "set -gx OPENAI_API_KEY (pass show openai)"),
        (".bashrc", "# export OPENAI_API_KEY=sk-proj-commented-out-0000000000000000000000000000"),
        (".bashrc", "export OPENAI_API_KEY=ollama"),
    ],
)
def test_computed_or_harmless_values_are_not_findings(project, home, name, line):
    write(home / name, line + "\n")
    assert "key-in-shell-rc" not in codes(check(project, home, {}))


def test_a_start_up_file_in_a_dotfiles_repository_is_named(project, home, tmp_path):
    key = fake_key()
    dotfiles = tmp_path / "dotfiles"
    write(dotfiles / "bashrc", f"export OPENAI_API_KEY={key}\n")
    (dotfiles / ".git").mkdir()
    (home / ".bashrc").symlink_to(dotfiles / "bashrc")
    in_rc = one(check(project, home, {}), "key-in-shell-rc")
    assert "git repository" in in_rc.message and str(dotfiles) in in_rc.message
    assert in_rc.location.path == "~/.bashrc"  # named as the user knows it, not by the symlink's target


def test_home_unset_reads_no_start_up_files(project):
    key = fake_key()
    write(project / ".env", f"OPENAI_API_KEY={key}\n")
    findings = check(project, None, {})
    assert codes(findings) == ["key-found"]


def test_home_unset_through_the_cli(project, home):
    env = {k: v for k, v in base_env(home).items() if k != "HOME"}
    write(project / ".env", f"OPENAI_API_KEY={fake_key()}\n")
    run = run_cli(["doctor", "--offline", "--only", "key", "--project", str(project)], env)
    assert run.returncode == 0, run.output
    assert "Traceback" not in run.output


# --- dotenv-missing -----------------------------------------------------------------------------------------


def test_dotenv_missing_offers_an_automatic_copy(project, home):
    write(project / ".env.example", "OPENAI_API_KEY=sk-your-api-key-here\n")
    findings = check(project, home, {})
    missing = one(findings, "dotenv-missing")
    (fix,) = missing.fixes
    assert fix.auto and fix.action.kind == "copy"
    assert Path(fix.action.path) == (project / ".env").absolute()
    assert Path(fix.action.source) == (project / ".env.example").absolute()


def test_dotenv_missing_fixed_by_the_cli_then_the_placeholder_shows(project, env):
    write(project / ".env.example", "# sample\nOPENAI_API_KEY=sk-your-api-key-here\n")
    run = run_cli(["doctor", "--offline", "--only", "key", "--fix", "--json", "--project", str(project)], env)
    assert (project / ".env").read_bytes() == (project / ".env.example").read_bytes()
    findings = json.loads(run.stdout)["checks"][0]["findings"]
    assert "key-placeholder" in [f["code"] for f in findings]
    assert "dotenv-missing" not in [f["code"] for f in findings]


# --- dotenv-not-loaded --------------------------------------------------------------------------------------


def test_key_only_in_dotenv_that_nothing_loads(project, home, tmp_path):
    python = make_venv(tmp_path / "venv", {"openai": "1.40.0"})
    write(project / ".env", f"OPENAI_API_KEY={fake_key()}\n")
    write(project / "app.py", "import os\nfrom openai import OpenAI\nclient = OpenAI()\n")
    findings = check(project, home, {}, python=python)
    not_loaded = one(findings, "dotenv-not-loaded")
    assert not_loaded.location.line == 1
    assert any("pip install python-dotenv" in (fix.command or "") for fix in not_loaded.fixes)


@pytest.mark.parametrize(
    "code, packages",
    [
        ("from dotenv import load_dotenv\nload_dotenv()\n", {}),
        ("import os\n", {"python-dotenv": "1.0.1"}),
    ],
)
def test_dotenv_loaded_by_code_or_installed(project, home, tmp_path, code, packages):
    python = make_venv(tmp_path / "venv", packages)
    write(project / ".env", f"OPENAI_API_KEY={fake_key()}\n")
    write(project / "src" / "main.py", code)
    assert "dotenv-not-loaded" not in codes(check(project, home, {}, python=python))


def test_code_in_a_virtualenv_does_not_count(project, home, tmp_path):
    python = make_venv(tmp_path / "venv", {})
    write(project / ".env", f"OPENAI_API_KEY={fake_key()}\n")
    write(project / "app.py", "print('hi')\n")
    make_venv(project / "env", {})
    write(project / "env" / "lib" / "x.py", "from dotenv import load_dotenv\n")
    write(project / "node_modules" / "x.py", "load_dotenv()\n")
    assert "dotenv-not-loaded" in codes(check(project, home, {}, python=python))


# --- base URL and other settings ----------------------------------------------------------------------------


def test_legacy_base_variable_with_openai_1(project, home, tmp_path):
    python = make_venv(tmp_path / "venv", {"openai": "1.40.0"})
    write(project / ".env", f"OPENAI_API_KEY={fake_key()}\nOPENAI_API_BASE=https://llm.example.com/v1\n")
    legacy = one(check(project, home, {}, python=python), "base-url-legacy-var")
    assert legacy.location.line == 2 and "1.40.0" in legacy.message
    assert "https://api.openai.com/v1" in legacy.message


def test_legacy_base_variable_with_openai_0(project, home, tmp_path):
    python = make_venv(tmp_path / "venv", {"openai": "0.28.1"})
    write(project / ".env", f"OPENAI_API_KEY={fake_key()}\nOPENAI_API_BASE=https://llm.example.com/v1\n")
    assert "base-url-legacy-var" not in codes(check(project, home, {}, python=python))


@pytest.mark.parametrize(
    "url, insecure",
    [
        ("http://10.1.2.3:8000/v1", True),
        ("http://gpu-box.lan/v1", True),
        ("http://localhost:11434/v1", False),
        ("http://127.0.0.1:8000/v1", False),
        ("http://[::1]:8000/v1", False),
        ("https://api.deepseek.com", False),
        ("http://[::1", False),
        ("localhost:11434/v1", False),
    ],
)
def test_insecure_base_url(project, home, url, insecure):
    write(project / ".env", f"OPENAI_API_KEY=token-abc\nOPENAI_BASE_URL={url}\n")
    findings = check(project, home, {})
    assert ("insecure-base-url" in codes(findings)) is insecure
    if insecure:
        assert one(findings, "insecure-base-url").location.line == 2


def test_insecure_base_url_from_the_flag(project, home):
    findings = check(project, home, {"OPENAI_API_KEY": "x"}, base_url="http://203.0.113.9/v1")
    assert "--base-url" in one(findings, "insecure-base-url").message


def test_settings_are_reported_with_their_sources(project, home):
    write(
        project / ".env",
        "OPENAI_BASE_URL=https://proxy-user:hunter2secret@gateway.example.com/v1\n"
        "OPENAI_ORG_ID=org-fromdotenv\n"
        "OPENAI_PROJECT_ID=proj_abc\n",
    )
    findings = check(project, home, {"OPENAI_API_KEY": fake_key(), "OPENAI_ORG_ID": "org-fromshell"})
    settings = {f.message.split("=", 1)[0]: f for f in findings if f.code == "setting-found"}
    assert set(settings) == {"OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"}
    assert settings["OPENAI_BASE_URL"].location.line == 1
    assert "hunter2secret" not in everything_said(findings)
    org = settings["OPENAI_ORG_ID"]
    assert "org-fromshell from the shell" in org.message and "hides org-fromdotenv on .env line 2" in org.message
    assert all(f.severity == "info" for f in settings.values())
