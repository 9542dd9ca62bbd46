"""The `git` check on real repositories: ignore rules, the index, every ref's history, file modes, and --fix."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest
from conftest import assert_no_secret, fake_key, git, run_cli

from llmenv.checks import git_check
from llmenv.context import Options, gather_context
from llmenv.gitrepo import find_git, search_reachable_blobs

REAL_PATH = os.environ["PATH"]


def _environ(home: Path, **extra: str) -> dict[str, str]:
    return {"PATH": REAL_PATH, "HOME": str(home), **extra}


def _check(project: Path, home: Path, timeout: float = 10.0, **extra: str):
    ctx = gather_context(project, options=Options(timeout=timeout), environ=_environ(home, **extra))
    return git_check.run(ctx)


def _by_code(findings) -> dict[str, list]:
    grouped: dict[str, list] = {}
    for finding in findings:
        grouped.setdefault(finding.code, []).append(finding)
    return grouped


def _repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    return path


def _commit(repo: Path, files: dict[str, str], message: str = "change") -> None:
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
        git(repo, "add", "-f", name)
    git(repo, "commit", "-q", "-m", message)


def _all_text(findings) -> str:
    parts = []
    for f in findings:
        parts += [f.message, f.detail or "", *(x.summary + (x.command or "") for x in f.fixes)]
    return "\n".join(parts)


def _shim(tmp_path: Path, body: str) -> dict[str, str]:
    """A `git` earlier on PATH that runs `body` and then the real git: sees every command line."""
    real = find_git(tmp_path, {"PATH": REAL_PATH}).exe
    bin_dir = tmp_path / "shim-bin"
    bin_dir.mkdir()
    script = bin_dir / "git"
    script.write_text(f'#!/bin/sh\n{body}\nexec "{real}" "$@"\n')
    script.chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{REAL_PATH}"}


@pytest.mark.parametrize(
    "name, counts",
    [
        (".env", True),
        (".env.local", True),
        (".env.production.local", True),
        (".env.example", False),
        (".env.sample", False),
        (".env.template", False),
        (".env.dist", False),
        (".env.local.example", False),
        (".envrc", False),
        ("env", False),
        (".env.", False),
    ],
)
def test_which_files_are_env_files(name, counts):
    assert git_check.is_env_name(name) is counts


def test_an_env_file_git_does_not_ignore_fails_with_an_automatic_gitignore_fix(project, home):
    _repo(project)
    (project / ".env").write_text("OPENAI_API_KEY=x\n")
    (project / ".env.local").write_text("X=1\n")
    (project / ".env.example").write_text("OPENAI_API_KEY=\n")
    found = _by_code(_check(project, home))
    failures = {f.location.path: f for f in found["env-not-ignored"]}
    assert set(failures) == {".env", ".env.local"}  # .env.example is meant to be committed
    fix = failures[".env"].fixes[0]
    assert failures[".env"].severity == "fail"
    assert fix.auto and fix.action.kind == "append-line"
    assert fix.action.path == str(project.absolute() / ".gitignore") and fix.action.text == ".env"
    assert failures[".env.local"].fixes[0].action.text == ".env.local"
    assert "env-tracked" not in found and "env-in-history" not in found


@pytest.mark.parametrize("existing", [None, b"", b"node_modules/", b"node_modules/\n", b"a\r\nb"])
def test_the_printed_gitignore_command_really_makes_git_ignore_env(project, home, existing):
    """The manual command must work as printed, also on a .gitignore that lacks its final newline."""
    import subprocess

    _repo(project)
    (project / ".env").write_text("DEBUG=1\n")
    if existing is not None:
        (project / ".gitignore").write_bytes(existing)
    (finding,) = _by_code(_check(project, home))["env-not-ignored"]
    subprocess.run(["sh", "-c", finding.fixes[0].command], cwd=project, check=True)
    assert "env-not-ignored" not in _by_code(_check(project, home))
    if existing:
        assert (project / ".gitignore").read_bytes().startswith(existing)


def test_an_ignored_env_file_passes_and_says_which_rule_ignores_it(project, home):
    _repo(project)
    (project / ".gitignore").write_text("*.log\n.env\n")
    (project / ".env").write_text("OPENAI_API_KEY=x\n")
    os.chmod(project / ".env", 0o600)
    findings = _check(project, home)
    assert {f.severity for f in findings} == {"info"}
    (ignored,) = _by_code(findings)["env-ignored"]
    assert ignored.message == ".env is ignored by git (.gitignore:2: .env)"


def test_a_directory_rule_and_the_users_global_excludes_file_count(project, home):
    # The user's own git config (HOME) is what git reads: core.excludesFile applies.
    (home / ".gitconfig").write_text(f"[core]\n\texcludesFile = {home / 'my-ignores'}\n")
    (home / "my-ignores").write_text(".env\n")
    _repo(project)
    (project / ".gitignore").write_text("secrets/\n")
    (project / "secrets").mkdir()
    (project / ".env").write_text("A=1\n")
    (project / "secrets" / ".env").write_text("A=1\n")
    os.chmod(project / ".env", 0o600)
    os.chmod(project / "secrets" / ".env", 0o600)
    ctx = gather_context(project, env_file=project / "secrets" / ".env", environ=_environ(home))
    found = _by_code(git_check.run(ctx))
    assert "env-not-ignored" not in found
    ignored = {f.location.path: f for f in found["env-ignored"]}
    assert "only by your own ~/my-ignores:1" in ignored[".env"].message
    assert ignored[".env"].fixes and not ignored[".env"].fixes[0].auto
    assert ignored["secrets/.env"].message == "secrets/.env is ignored by git (.gitignore:1: secrets/)"


def test_a_negation_rule_is_named_and_not_auto_fixed(project, home):
    _repo(project)
    (project / ".gitignore").write_text(".env*\n!.env\n")
    (project / ".env").write_text("A=1\n")
    (failure,) = _by_code(_check(project, home))["env-not-ignored"]
    assert "explicitly un-ignored by .gitignore:2 (!.env)" in failure.message
    assert not any(fix.auto for fix in failure.fixes)


def test_a_tracked_env_file_fails_with_git_rm_cached_and_the_key_page(project, home):
    _repo(project)
    (project / ".gitignore").write_text(".env\n")
    git(project, "add", ".gitignore")
    (project / ".env").write_text("A=1\n")
    git(project, "add", "-f", ".env")  # staged, not yet committed: tracked, but not in history
    found = _by_code(_check(project, home))
    (tracked,) = found["env-tracked"]
    assert tracked.severity == "fail" and tracked.location.path == ".env"
    assert tracked.fixes[0].command == "git rm --cached .env"
    assert "https://platform.openai.com/api-keys" in tracked.fixes[1].summary
    assert "env-not-ignored" not in found  # the rules do ignore it; only the index holds it
    assert "env-in-history" not in found


def test_env_files_in_subdirectories_are_found(project, home):
    _repo(project)
    (project / "backend").mkdir()
    (project / "backend" / ".env").write_text("A=1\n")
    (project / "web").mkdir()
    _commit(project, {"web/.env.production": "B=2\n"})
    found = _by_code(_check(project, home))
    assert [f.location.path for f in found["env-not-ignored"]] == ["backend/.env", "web/.env.production"]
    assert found["env-not-ignored"][0].fixes[0].action.text == ".env"  # a bare name matches in every directory
    assert [f.location.path for f in found["env-tracked"]] == ["web/.env.production"]


def test_history_finds_an_env_file_committed_on_a_merged_and_deleted_branch(project, home):
    repo = _repo(project)
    _commit(repo, {"README.md": "hi\n"}, "start")
    git(repo, "checkout", "-q", "-b", "feature")
    _commit(repo, {"app/.env": "OPENAI_API_KEY=sk-placeholder\n"}, "oops")
    oops = git(repo, "rev-parse", "--short=10", "HEAD").strip()
    git(repo, "rm", "-q", "app/.env")
    git(repo, "commit", "-q", "-m", "remove it")
    git(repo, "checkout", "-q", "main")
    _commit(repo, {"main.py": "print()\n"}, "main work")
    git(repo, "merge", "-q", "--no-ff", "feature", "-m", "merge feature")
    git(repo, "branch", "-q", "-D", "feature")
    # The claim this check exists for: history simplification hides the side branch from a plain log.
    assert git(repo, "log", "--all", "--format=%h", "--", "app/.env") == ""
    (found,) = _by_code(_check(project, home))["env-in-history"]
    assert found.severity == "fail" and found.location.path == "app/.env"
    assert oops in found.message
    commands = [fix.command for fix in found.fixes if fix.command]
    assert commands == ["git filter-repo --invert-paths --path app/.env"]
    assert any("https://platform.openai.com/api-keys" in fix.summary for fix in found.fixes)


def test_history_ignores_committed_examples_but_not_other_env_names(project, home):
    repo = _repo(project)
    _commit(repo, {".env.example": "OPENAI_API_KEY=\n", "docs/.env.sample": "X=\n"})
    assert "env-in-history" not in _by_code(_check(project, home))
    _commit(repo, {".env.local": "X=1\n"})
    git(repo, "rm", "-q", ".env.local")
    git(repo, "commit", "-q", "-m", "gone")
    (found,) = _by_code(_check(project, home))["env-in-history"]
    assert found.location.path == ".env.local"


def test_history_finds_the_current_key_under_another_name_without_it_on_any_command_line(tmp_path, project, home):
    key = fake_key()
    repo = _repo(project)
    _commit(repo, {"README.md": "x\n"})
    git(repo, "checkout", "-q", "-b", "spike")
    _commit(repo, {"src/config.py": f'API_KEY = "{key}"\n'}, "hardcode")
    leak = git(repo, "rev-parse", "--short=10", "HEAD").strip()
    git(repo, "rm", "-q", "src/config.py")
    git(repo, "commit", "-q", "-m", "unhardcode")
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--no-ff", "spike", "-m", "merge")
    git(repo, "branch", "-q", "-D", "spike")
    (project / ".gitignore").write_text(".env\n")
    (project / ".env").write_text(f"OPENAI_API_KEY={key}\n")
    os.chmod(project / ".env", 0o600)
    log = tmp_path / "argv.log"
    findings = _check(project, home, **_shim(tmp_path, f'printf "%s\\n" "$*" >> "{log}"'))
    (found,) = _by_code(findings)["env-in-history"]
    assert found.location.path == "src/config.py"
    assert leak in found.message and "sk-proj-…" + key[-4:] in found.message
    assert "--replace-text" in found.fixes[1].command
    assert "cat-file" in log.read_text()  # the shim saw the search …
    assert_no_secret(log.read_text(), key)  # … and never the key
    assert_no_secret(_all_text(findings), key)
    (searched,) = _by_code(findings)["history-searched"]
    assert "the current key is in 1 committed file(s)" in searched.message


def test_a_placeholder_key_is_not_searched_for(project, home):
    repo = _repo(project)
    _commit(repo, {".env.example": "OPENAI_API_KEY=sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"})
    (project / ".gitignore").write_text(".env\n")
    (project / ".env").write_text("OPENAI_API_KEY=sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n")
    found = _by_code(_check(project, home))
    assert "env-in-history" not in found
    assert "no real-looking OPENAI_API_KEY" in found["history-searched"][0].message


def test_the_key_search_stops_at_its_time_bound_and_says_so(tmp_path, project, home):
    key = fake_key()
    repo = _repo(project)
    _commit(repo, {"a.txt": "a\n"})
    (project / ".gitignore").write_text(".env\n")
    (project / ".env").write_text(f"OPENAI_API_KEY={key}\n")
    os.chmod(project / ".env", 0o600)
    slow_cat_file = 'case "$*" in *cat-file*) sleep 30;; esac'
    started = time.monotonic()
    findings = _check(project, home, timeout=1.0, **_shim(tmp_path, slow_cat_file))
    assert time.monotonic() - started < 5  # bounded, and the shim's sleep was stopped with it
    (searched,) = _by_code(findings)["history-searched"]
    assert "stopped at the time limit" in searched.message
    assert "--timeout" in searched.fixes[0].command
    assert findings[0].code == "history-searched"  # shown on the summary line of a passing check
    assert_no_secret(_all_text(findings), key)


def test_the_blob_search_reads_nothing_with_no_time(project, home):
    repo = _repo(project)
    _commit(repo, {"a.txt": "needle-needle-needle\n"})
    git_ = find_git(repo, _environ(home))
    assert search_reachable_blobs(git_, b"needle-needle", budget=10).hits
    assert not search_reachable_blobs(git_, b"needle-needle", budget=0).complete


def test_a_repository_without_commits_works(project, home):
    _repo(project)
    (project / ".env").write_text("OPENAI_API_KEY=x\n")
    os.chmod(project / ".env", 0o600)
    found = _by_code(_check(project, home))
    assert set(found) == {"env-not-ignored", "history-searched"}
    assert found["history-searched"][0].message == "no commits yet: nothing in the history"


def test_a_project_in_a_subdirectory_reports_paths_relative_to_the_project(tmp_path, home):
    repo = _repo(tmp_path / "monorepo")
    project = repo / "services" / "api"
    project.mkdir(parents=True)
    _commit(repo, {"services/api/.env": "A=1\n", "other/.env": "B=2\n"})
    found = _by_code(_check(project, home))
    (not_ignored,) = found["env-not-ignored"]
    assert not_ignored.location.path == ".env"
    assert not_ignored.fixes[0].action.path == str(project.absolute() / ".gitignore")
    assert [f.location.path for f in found["env-tracked"]] == [".env"]
    history = {f.location.path: f for f in found["env-in-history"]}
    assert set(history) == {".env", "../../other/.env"}
    assert history[".env"].fixes[1].command == "git filter-repo --invert-paths --path services/api/.env"


def test_no_env_file_yet_warns_only_when_an_example_says_one_is_coming(project, home):
    _repo(project)
    assert "env-not-ignored" not in _by_code(_check(project, home))
    (project / ".env.example").write_text("OPENAI_API_KEY=\n")
    (coming,) = _by_code(_check(project, home))["env-not-ignored"]
    assert coming.severity == "warn" and "does not exist yet" in coming.message
    assert coming.fixes[0].auto and coming.fixes[0].action.text == ".env"
    (project / ".gitignore").write_text(".env\n")
    assert "env-not-ignored" not in _by_code(_check(project, home))


def test_an_env_file_above_the_project_is_ignored_through_its_own_directory(tmp_path, home):
    repo = _repo(tmp_path / "repo")
    project = repo / "app"
    project.mkdir()
    (repo / ".env").write_text("A=1\n")
    os.chmod(repo / ".env", 0o600)
    ctx = gather_context(project, env_file=repo / ".env", environ=_environ(home))
    (failure,) = _by_code(git_check.run(ctx))["env-not-ignored"]
    assert failure.fixes[0].action.path == str(repo.resolve() / ".gitignore")
    assert failure.fixes[0].action.text == ".env"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to give the repo away")
def test_a_repository_git_refuses_to_read_is_a_clear_skip(tmp_path, home):
    repo = _repo(tmp_path / "theirs")
    _commit(repo, {"a.txt": "a\n"})
    for path in [repo, *repo.rglob("*")]:
        os.lchown(path, 65534, 65534)
    (only,) = _check(repo, home)
    assert only.code == "skipped" and "dubious ownership" in only.message


@pytest.mark.skipif(os.name != "posix", reason="mode bits")
def test_an_env_file_others_can_read_warns_with_an_automatic_chmod(project, home):
    _repo(project)
    (project / ".gitignore").write_text(".env\n")
    (project / ".env").write_text("A=1\n")
    os.chmod(project / ".env", 0o640)
    (loose,) = _by_code(_check(project, home))["env-permissions"]
    assert loose.severity == "warn" and "mode 640" in loose.message
    assert loose.fixes[0].action.kind == "chmod" and loose.fixes[0].action.mode == 0o600
    assert loose.fixes[0].command == "chmod 600 .env"
    os.chmod(project / ".env", 0o600)
    assert "env-permissions" not in _by_code(_check(project, home))


def test_outside_a_git_work_tree(project, home):
    (project / ".env").write_text("A=1\n")
    os.chmod(project / ".env", 0o644)
    found = _by_code(_check(project, home, GIT_CEILING_DIRECTORIES=str(project.parent)))
    assert set(found) == {"not-a-git-repo", "env-permissions"}
    assert found["not-a-git-repo"][0].severity == "info"


def test_without_git_on_path_the_check_skips_but_still_checks_modes(tmp_path, project, home):
    empty_bin = tmp_path / "empty-bin"
    empty_bin.mkdir()
    ctx = gather_context(project, environ={"PATH": str(empty_bin), "HOME": str(home)})
    (only,) = git_check.run(ctx)
    assert only.code == "skipped" and "git is not on PATH" in only.message
    (project / ".env").write_text("A=1\n")
    os.chmod(project / ".env", 0o644)
    codes = [f.code for f in git_check.run(gather_context(project, environ=ctx.environ))]
    assert codes == ["env-permissions", "skipped"]


def _doctor(project: Path, env: dict[str, str], *args: str):
    return run_cli(["doctor", "--only", "git", "--project", str(project), *args], env, cwd=project)


def test_cli_fix_dry_run_then_fix_then_nothing_left(project, env):
    key = fake_key()
    _repo(project)
    (project / ".gitignore").write_bytes(b"__pycache__/\r\n*.pyc")
    (project / ".env").write_text(f"OPENAI_API_KEY={key}\n")
    os.chmod(project / ".env", 0o644)
    before = (project / ".gitignore").read_bytes()

    report = _doctor(project, env)
    assert report.returncode == 1 and "is not ignored by git" in report.stdout and "mode 644" in report.stdout

    dry = _doctor(project, env, "--fix", "--dry-run")
    assert "Would apply" in dry.stdout and "+.env" in dry.stdout
    assert (project / ".gitignore").read_bytes() == before
    assert stat.S_IMODE((project / ".env").stat().st_mode) == 0o644

    fixed = _doctor(project, env, "--fix")
    assert (project / ".gitignore").read_bytes() == b"__pycache__/\r\n*.pyc\r\n.env\r\n"
    assert stat.S_IMODE((project / ".env").stat().st_mode) == 0o600
    assert "is not ignored" not in fixed.stdout and "mode 644" not in fixed.stdout
    assert fixed.returncode == 0, fixed.output

    again = _doctor(project, env, "--fix")
    assert "Nothing to fix automatically." in again.stdout
    assert (project / ".gitignore").read_bytes() == b"__pycache__/\r\n*.pyc\r\n.env\r\n"

    as_json = _doctor(project, env, "--json")
    (check,) = [c for c in json.loads(as_json.stdout)["checks"] if c["id"] == "git"]
    assert check["status"] == "ok"
    assert [f["code"] for f in check["findings"]] == ["env-ignored", "history-searched"]
    verbose = _doctor(project, env, "-v", "--fix", "--dry-run")
    assert "(env-ignored)" in verbose.stdout
    for run in (report, dry, fixed, again, as_json, verbose):
        assert "Traceback" not in run.output
        assert_no_secret(run.output, key)


def test_cli_reports_history_leaks_masked_in_text_json_and_verbose(project, env):
    key = fake_key()
    repo = _repo(project)
    _commit(repo, {".env": f"OPENAI_API_KEY={key}\n", "settings.py": f"KEY = '{key}'\n"}, "leak")
    git(repo, "rm", "-q", "--cached", ".env")
    git(repo, "commit", "-q", "-m", "untrack")
    (project / ".gitignore").write_text(".env\n")
    os.chmod(project / ".env", 0o600)
    text = _doctor(project, env)
    as_json = _doctor(project, env, "--json")
    verbose = _doctor(project, env, "-v")
    for run in (text, as_json, verbose):
        assert run.returncode == 1
        assert "Traceback" not in run.output
        assert_no_secret(run.output, key)
    (check,) = [c for c in json.loads(as_json.stdout)["checks"] if c["id"] == "git"]
    codes = [(f["code"], f["location"] and f["location"]["path"]) for f in check["findings"]]
    assert ("env-in-history", ".env") in codes
    assert ("env-tracked", "settings.py") not in codes
    history = [f for f in check["findings"] if f["code"] == "env-in-history"]
    assert any("current key" in f["message"] and f["location"]["path"] == "settings.py" for f in history)
    assert "history-searched" in verbose.stdout and "history search:" in verbose.stdout
