"""The `completion` check: a real streamed completion against a server on 127.0.0.1, via run(ctx) and the CLI."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from conftest import all_text, assert_no_secret, codes, fake_key, run_cli
from openai_server import Scenario

from llmenv.api.classify import classify
from llmenv.api.client import ApiClient
from llmenv.api.models import request_after_rejection
from llmenv.checks import api_check, completion_check
from llmenv.context import Options, gather_context
from llmenv.findings import CheckResult, Finding, skipped

NETWORK_OK = CheckResult("network", "Network and proxy", (Finding("api-reachable", "info", "reachable"),))


def make_ctx(
    project: Path,
    home: Path,
    base_url: str,
    key: str | None,
    *,
    timeout: float = 5.0,
    environ: dict | None = None,
    **options,
):
    """A Context with exactly the given shell environment (never the developer's)."""
    env = {"HOME": str(home), **(environ or {})}
    if key is not None:
        env["OPENAI_API_KEY"] = key
    return gather_context(project, options=Options(timeout=timeout, base_url=base_url, **options), environ=env)


def doctor(ctx) -> tuple[list[Finding], list[Finding]]:
    """The api check, then the completion check fed with its result, as the runner does."""
    api = api_check.run(ctx, {"network": NETWORK_OK})
    result = CheckResult("api", "API access", tuple(api), skipped=len(api) == 1 and api[0].code == "skipped")
    completion = completion_check.run(ctx, {"api": result})
    # Whatever happened, no whole credential of the context appears in any message, fix or detail.
    assert_no_secret(all_text(api + completion), *ctx.known_secrets())
    return api, completion


def chat_requests(fake_api, key):
    return [r for r in fake_api.requests_for(key) if r.path == "/v1/chat/completions"]


# ---------------------------------------------------------------- success


def test_streamed_completion_reports_text_timings_tokens_and_limits(fake_api, project, home):
    key = fake_api.add_key(fake_key(), Scenario(text="This is a test."))
    _, findings = doctor(make_ctx(project, home, fake_api.base_url, key, model="gpt-4o-mini"))
    assert codes(findings) == ["completion-ok", "rate-limits"]
    ok, limits = findings
    assert ok.severity == "info"
    assert "gpt-4o-mini answered 'This is a test.'" in ok.message
    assert "first token after" in ok.message and "17 tokens used (12 in, 5 out)" in ok.message
    assert "served by gpt-4o-mini-2024-07-18" in ok.detail and "x-request-id req_" in ok.detail
    assert limits.message.startswith("rate limits: 4,999 of 5,000 requests left (full again in 12 ms)")
    (sent,) = chat_requests(fake_api, key)
    assert sent.body["stream"] is True and sent.body["stream_options"] == {"include_usage": True}
    assert sent.body["messages"] == [{"role": "user", "content": "Say this is a test"}]
    assert sent.body["max_tokens"] == 16
    assert_no_secret(all_text(findings), key)


def test_a_model_that_rejects_max_tokens_gets_one_retry_with_max_completion_tokens(fake_api, project, home):
    key = fake_api.add_key(fake_key())
    _, findings = doctor(make_ctx(project, home, fake_api.base_url, key))  # the default, a reasoning model
    assert codes(findings)[0] == "completion-ok"
    assert "retrying with max_completion_tokens instead of max_tokens" in findings[0].message
    first, second = chat_requests(fake_api, key)
    assert "max_tokens" in first.body and "max_completion_tokens" not in first.body
    assert second.body["max_completion_tokens"] == 16 and "max_tokens" not in second.body
    assert "400 (unsupported_parameter)" in findings[0].detail


def test_a_rejected_optional_parameter_is_dropped_once(fake_api, project, home):
    key = fake_api.add_key(fake_key(), Scenario(reject=("stream_options",)))
    _, findings = doctor(make_ctx(project, home, fake_api.base_url, key, model="gpt-4o-mini"))
    assert codes(findings)[0] == "completion-ok"
    assert "without stream_options" in findings[0].message
    assert "no token usage" in findings[0].message
    assert len(chat_requests(fake_api, key)) == 2


def test_a_rejected_temperature_is_dropped_the_way_the_server_asks(fake_api):
    key = fake_api.add_key(fake_key())
    body = {
        "model": "gpt-6-luna",
        "messages": [{"role": "user", "content": "x"}],
        "stream": True,
        "max_completion_tokens": 16,
        "temperature": 0,
    }
    with ApiClient(fake_api.base_url, key, env={}, remaining=lambda: 5) as client:
        with pytest.raises(Exception) as raised:
            client.complete(body)
        problem = classify(raised.value)
        assert (problem.status, problem.error_code, problem.param) == (400, "unsupported_value", "temperature")
        retry = request_after_rejection(body, problem.param)
        assert "temperature" not in retry
        assert client.complete(retry).text == "This is a test."


def test_the_retry_happens_only_once(fake_api, project, home):
    key = fake_api.add_key(fake_key(), Scenario(reject=("stream_options", "max_tokens")))
    _, findings = doctor(make_ctx(project, home, fake_api.base_url, key, model="gpt-4o-mini"))
    assert codes(findings) == ["completion-failed"]
    assert "unsupported" in findings[0].message.lower()
    assert len(chat_requests(fake_api, key)) == 2


def test_a_server_that_does_not_stream_is_accepted_and_said(fake_api, project, home):
    key = fake_api.add_key(fake_key(), Scenario(chat="no_stream"))
    _, findings = doctor(make_ctx(project, home, fake_api.base_url, key, model="gpt-4o-mini"))
    assert codes(findings)[0] == "completion-ok"
    assert "ignored stream: true" in findings[0].message


def test_a_tiny_budget_spent_before_any_text_is_explained(fake_api, project, home):
    key = fake_api.add_key(fake_key(), Scenario(text=""))
    _, findings = doctor(make_ctx(project, home, fake_api.base_url, key, model="gpt-4o-mini"))
    assert codes(findings)[0] == "completion-ok" and "no text" in findings[0].message


# ---------------------------------------------------------------- 429: money or speed


@pytest.mark.parametrize(
    "behaviour", ["insufficient_quota", "credit_balance_exhausted", "project_spend_limit_exceeded"]
)
def test_quota_429_is_a_failure_with_the_billing_page_and_no_retry(fake_api, project, home, behaviour):
    key = fake_api.add_key(fake_key(), Scenario(chat=behaviour))
    _, findings = doctor(make_ctx(project, home, fake_api.base_url, key, model="gpt-4o-mini"))
    (quota,) = findings
    assert quota.code == "insufficient-quota" and quota.severity == "fail"
    assert f"429 {behaviour}" in quota.message
    summaries = " ".join(f.summary for f in quota.fixes)
    assert "https://platform.openai.com/settings/organization/billing" in summaries
    assert "monthly budget" in summaries and "new key" in summaries
    assert len(chat_requests(fake_api, key)) == 1


@pytest.mark.parametrize(
    "behaviour, which, reset, budget",
    [
        ("rate_limit_requests", "the requests limit", "resets in 20 s", "0 of 3 requests left (full again in 20 s)"),
        (
            "rate_limit_tokens",
            "the tokens limit",
            "resets in 644 ms",
            "63 of 30,000 tokens left (full again in 1 h 2 min)",
        ),
    ],
)
def test_rate_limit_429_is_a_warning_saying_which_limit_and_when_it_resets(
    fake_api, project, home, behaviour, which, reset, budget
):
    key = fake_api.add_key(fake_key(), Scenario(chat=behaviour))
    _, findings = doctor(make_ctx(project, home, fake_api.base_url, key, model="gpt-4o-mini"))
    assert codes(findings) == ["rate-limited", "rate-limits"]
    limited, limits = findings
    assert limited.severity == "warn"
    assert which in limited.message and reset in limited.message
    assert budget in limits.message
    assert len(chat_requests(fake_api, key)) == 1


# ---------------------------------------------------------------- other failures


def test_an_error_event_inside_the_stream_and_a_cut_stream_are_different_failures(fake_api, project, home):
    errored = fake_api.add_key(fake_key(), Scenario(chat="stream_error"))
    cut = fake_api.add_key(fake_key(), Scenario(chat="stream_cut"))
    _, error_findings = doctor(make_ctx(project, home, fake_api.base_url, errored, model="gpt-4o-mini"))
    _, cut_findings = doctor(make_ctx(project, home, fake_api.base_url, cut, model="gpt-4o-mini"))
    assert error_findings[0].code == cut_findings[0].code == "completion-failed"
    assert "error inside the stream" in error_findings[0].message
    assert "error while processing your request" in error_findings[0].message
    assert "before the stream's end" in cut_findings[0].message and "'This is' so far" in cut_findings[0].message


@pytest.mark.parametrize(
    "behaviour, words",
    [
        ("server_error", "The server had an error while processing your request"),
        ("overloaded", "overloaded"),
        ("model_not_found", "does not exist or you do not have access to it"),
        ("html", "HTML page"),
    ],
)
def test_other_failures_carry_the_servers_message(fake_api, project, home, behaviour, words):
    key = fake_api.add_key(fake_key(), Scenario(chat=behaviour))
    _, findings = doctor(make_ctx(project, home, fake_api.base_url, key, model="gpt-4o-mini"))
    assert findings[0].code == "completion-failed" and findings[0].severity == "fail"
    assert words in findings[0].message
    assert_no_secret(all_text(findings), key)


@pytest.mark.parametrize("behaviour", ["hang", "trickle"])
def test_silent_or_trickling_completion_stays_within_the_deadline(fake_api, project, home, behaviour):
    key = fake_api.add_key(fake_key(), Scenario(chat=behaviour))
    ctx = make_ctx(project, home, fake_api.base_url, key, model="gpt-4o-mini", timeout=1.0)
    started = time.monotonic()
    _, findings = doctor(ctx)
    elapsed = time.monotonic() - started
    assert findings[0].code == "completion-failed" and "(response-timeout)" in findings[0].message
    # /models and the completion share the one deadline: together they stay within --timeout.
    assert elapsed < 1.5, f"took {elapsed:.2f} s for --timeout 1"


# ---------------------------------------------------------------- when it does not run


def test_skips(fake_api, project, home):
    key = fake_api.add_key(fake_key())
    assert (
        doctor(make_ctx(project, home, fake_api.base_url, key, offline=True))[1][0].message == "--offline: no network"
    )
    assert (
        doctor(make_ctx(project, home, fake_api.base_url, key, no_completion=True))[1][0].message == "--no-completion"
    )
    bad = fake_key()
    api, findings = doctor(make_ctx(project, home, fake_api.base_url, bad))
    assert codes(api) == ["key-invalid"] and codes(findings) == ["skipped"]
    api_skipped = CheckResult("api", "API access", (skipped("no API key; see the key check"),), skipped=True)
    (skip,) = completion_check.run(make_ctx(project, home, fake_api.base_url, None), {"api": api_skipped})
    assert skip.message == "the api check was skipped: no API key; see the key check"
    assert chat_requests(fake_api, key) == [] and chat_requests(fake_api, bad) == []


# ---------------------------------------------------------------- the CLI


def test_cli_quota_exits_1_and_json_and_verbose_keep_the_key_secret(fake_api, project, env):
    key = fake_api.add_key(fake_key(), Scenario(chat="insufficient_quota"))
    env = {**env, "OPENAI_API_KEY": key}
    base = ["doctor", "--project", str(project), "--base-url", fake_api.base_url, "--only", "api,completion"]
    text = run_cli(base, env)
    assert text.returncode == 1
    assert "no credit left" in text.stdout and "settings/organization/billing" in text.stdout
    verbose = run_cli([*base, "-v"], env)
    assert '"type": "insufficient_quota"' in verbose.stdout  # the raw server body, only with -v
    assert '"type": "insufficient_quota"' not in text.stdout
    report = json.loads(run_cli([*base, "--json"], env).stdout)
    completion = next(c for c in report["checks"] if c["id"] == "completion")
    assert completion["status"] == "fail" and completion["findings"][0]["code"] == "insufficient-quota"
    for run in (text, verbose):
        assert_no_secret(run.output, key)
    assert_no_secret(json.dumps(report), key)


def test_cli_success_and_no_completion(fake_api, project, env):
    key = fake_api.add_key(fake_key())
    env = {**env, "OPENAI_API_KEY": key}
    base = ["doctor", "--project", str(project), "--base-url", fake_api.base_url, "--only", "api,completion"]
    run = run_cli([*base, "--model", "gpt-4o-mini", "-v"], env)
    assert "answered 'This is a test.'" in run.stdout and "(completion-ok)" in run.stdout
    assert "POST /chat/completions (max_tokens=16): 200" in run.stdout
    assert_no_secret(run.output, key)
    before = len(chat_requests(fake_api, key))
    skipped_run = run_cli([*base, "--no-completion"], env)
    assert "Test completion — skipped: --no-completion" in skipped_run.stdout
    assert len(chat_requests(fake_api, key)) == before
