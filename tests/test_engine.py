"""The engine: check order, concurrency, crash isolation, JSON shape, exit codes, selection flags."""

from __future__ import annotations

import json
import threading
import time
import types

import pytest
from conftest import run_cli, run_cli_inprocess

from llmenv.checks import CHECKS
from llmenv.context import gather_context
from llmenv.findings import Finding, Fix, skipped
from llmenv.runner import run_checks


def _module(run, needs=()):
    return types.SimpleNamespace(run=run, NEEDS=needs)


def test_results_come_in_spec_order_whatever_order_checks_finish(project):
    def slow(ctx):
        time.sleep(0.05)
        return [Finding("a", "info", "slow")]

    modules = {c: _module(slow if c == "key" else (lambda ctx: [])) for c in CHECKS}
    results = run_checks(gather_context(project, environ={}), CHECKS, loader=modules.__getitem__)
    assert [r.id for r in results] == list(CHECKS)


def test_checks_run_concurrently(project):
    barrier = threading.Barrier(len(CHECKS), timeout=5)

    def meet(ctx):
        barrier.wait()  # deadlocks (and times out) unless all checks run at once
        return []

    modules = {c: _module(meet) for c in CHECKS}
    results = run_checks(gather_context(project, environ={}), CHECKS, loader=modules.__getitem__)
    assert all(r.status == "ok" for r in results)


def test_a_crashing_check_becomes_internal_error_and_others_still_run(project):
    def boom(ctx):
        raise RuntimeError("kaboom\nsecond line")

    modules = {c: _module(boom if c == "git" else (lambda ctx: [Finding("x", "info", "fine")])) for c in CHECKS}
    results = {r.id: r for r in run_checks(gather_context(project, environ={}), CHECKS, modules.__getitem__)}
    (finding,) = results["git"].findings
    assert finding.code == "internal-error" and finding.severity == "fail"
    assert finding.message == "the git check crashed: RuntimeError: kaboom"
    assert "Traceback" in finding.detail
    assert results["key"].status == "ok"


def test_a_check_receives_the_results_it_needs_even_when_not_selected(project):
    seen = {}

    def completion(ctx, needed):
        seen.update(needed)
        return []

    modules = {c: _module(lambda ctx: [Finding("auth-ok", "info", "ok")]) for c in CHECKS}
    modules["completion"] = _module(completion, needs=("api",))
    results = run_checks(gather_context(project, environ={}), {"completion"}, modules.__getitem__)
    assert seen["api"].findings[0].code == "auth-ok"
    by_id = {r.id: r for r in results}
    assert by_id["api"].status == "skip"  # ran for completion, but not reported
    assert by_id["completion"].status == "ok"


def test_status_is_worst_finding_and_skip_is_its_own():
    from llmenv.findings import CheckResult, overall_status

    ok = CheckResult("key", "API key", (Finding("key-found", "info", "x"),))
    warn = CheckResult("git", "g", (Finding("a", "info", "x"), Finding("b", "warn", "y")))
    fail = CheckResult("api", "a", (Finding("b", "warn", "y"), Finding("c", "fail", "z")))
    skip = CheckResult("deps", "d", (skipped("offline"),), skipped=True)
    assert [r.status for r in (ok, warn, fail, skip)] == ["ok", "warn", "fail", "skip"]
    assert overall_status([ok, skip]) == "ok"
    assert overall_status([ok, warn, skip]) == "warn"
    assert overall_status([warn, fail]) == "fail"


def test_an_automatic_fix_must_say_what_it_does():
    with pytest.raises(ValueError):
        Fix("append .env", auto=True)


def test_json_report_has_every_check_in_order_and_the_spec_shape(project, env):
    run = run_cli(["doctor", "--offline", "--json", "--project", str(project)], env)
    report = json.loads(run.stdout)  # stdout is the JSON and nothing else
    assert set(report) == {"tool", "version", "schema", "status", "duration_ms", "checks"}
    assert report["tool"] == "llmenv" and report["schema"] == 1
    assert [c["id"] for c in report["checks"]] == list(CHECKS)
    for check in report["checks"]:
        assert set(check) == {"id", "title", "status", "duration_ms", "findings"}
        assert check["status"] in {"ok", "warn", "fail", "skip"}
        for finding in check["findings"]:
            assert set(finding) == {"code", "severity", "message", "location", "fixes"}


def test_list_checks_prints_ids_and_titles(env):
    run = run_cli(["doctor", "--list-checks"], env)
    assert run.returncode == 0
    assert [line.split()[0] for line in run.stdout.splitlines()] == list(CHECKS)


@pytest.mark.parametrize(
    "args, message",
    [
        (["doctor", "--only", "nope"], "unknown check id"),
        (["doctor", "--skip", "key,nope"], "unknown check id"),
        (["doctor", "--project", "/no/such/dir"], "no such directory"),
        (["doctor", "--env-file", "/no/such/.env"], "no such file"),
        (["doctor", "--timeout", "abc"], "Invalid value"),
        (["doctor", "--frobnicate"], "No such option"),
    ],
)
def test_usage_errors_exit_2_with_a_message_and_no_traceback(args, message, env, project):
    run = run_cli(args, env, cwd=project)
    assert run.returncode == 2
    assert message in run.stderr
    assert "Traceback" not in run.output


def test_only_and_skip_select_checks(project, env):
    run = run_cli_inprocess(["doctor", "--json", "--project", str(project), "--only", "key,git", "--skip", "git"], env)
    statuses = {c["id"]: c for c in json.loads(run.stdout)["checks"]}
    assert statuses["git"]["status"] == "skip"
    assert statuses["git"]["findings"][0]["code"] == "skipped"
    assert statuses["network"]["status"] == "skip"


def test_help_and_version(env):
    assert run_cli(["--help"], env).returncode == 0
    run = run_cli(["--version"], env)
    assert run.returncode == 0 and run.stdout.startswith("llmenv 0.1.0")


def test_help_does_not_import_requests_or_rich_console(env):
    import subprocess
    import sys

    code = "import sys; from llmenv.cli import app; print('requests' in sys.modules, 'rich.console' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
