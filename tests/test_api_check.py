"""The `api` check against a real OpenAI-compatible server on 127.0.0.1, through run(ctx) and the CLI."""

from __future__ import annotations

import json
import socket
import time
from datetime import date
from pathlib import Path

import pytest
from conftest import all_text, assert_no_secret, codes, fake_key, run_cli
from openai_server import Scenario

from llmenv.api.classify import classify, format_duration, parse_duration, rate_limit_budgets
from llmenv.api.client import ApiClient
from llmenv.api.models import (
    DEFAULT_MODEL,
    RETIREMENTS,
    completion_request,
    first_chat_model,
    is_chat_model,
    reasoning_effort,
    replacement_today,
    request_after_rejection,
    retirement,
)
from llmenv.api.selection import selected_model
from llmenv.api.sse import SseDecoder
from llmenv.checks import api_check
from llmenv.context import Options, gather_context
from llmenv.findings import CheckResult, Finding, skipped
from llmenv.runner import run_checks

NETWORK_OK = CheckResult("network", "Network and proxy", (Finding("api-reachable", "info", "reachable"),))


def make_ctx(
    project: Path,
    home: Path,
    base_url: str | None,
    key: str | None = None,
    *,
    dotenv: str | None = None,
    environ: dict | None = None,
    timeout: float = 5.0,
    **options,
):
    """A Context for `project` with exactly the given shell environment (never the developer's)."""
    env = {"HOME": str(home), **(environ or {})}
    if key is not None:
        env["OPENAI_API_KEY"] = key
    if dotenv is not None:
        (project / ".env").write_text(dotenv)
    return gather_context(project, options=Options(timeout=timeout, base_url=base_url, **options), environ=env)


def run_api(ctx, network: CheckResult = NETWORK_OK):
    """Run the api check; whatever it finds, no whole credential of the context may appear in it."""
    findings = api_check.run(ctx, {"network": network})
    assert_no_secret(all_text(findings), *ctx.known_secrets())
    return findings


# ---------------------------------------------------------------- the key is accepted


def test_accepted_key_names_organization_and_project_and_selects_the_default_model(fake_api, project, home):
    key = fake_api.add_key(fake_key(), Scenario(organization="org-acme", project="proj_web"))
    findings = run_api(make_ctx(project, home, fake_api.base_url, key))
    assert codes(findings) == ["auth-ok", "model-selected"]
    ok = findings[0]
    assert ok.severity == "info"
    assert "org-acme" in ok.message and "proj_web" in ok.message
    assert f"…{key[-4:]}" in ok.message and "(shell)" in ok.message
    assert "x-request-id: req_" in ok.detail
    assert findings[1].message == f"test completion model: {DEFAULT_MODEL} (the default)"
    assert_no_secret(all_text(findings), key)


def test_sends_bearer_and_organization_and_project_headers_to_the_base_url_only(fake_api, project, home):
    key = fake_api.add_key(fake_key(), Scenario(organization="org-acme"))
    dotenv = f"OPENAI_API_KEY={key}\nOPENAI_ORG_ID=org-acme\nOPENAI_PROJECT_ID=proj_web\n"
    findings = run_api(make_ctx(project, home, fake_api.base_url, dotenv=dotenv))
    assert codes(findings)[0] == "auth-ok"
    (sent,) = fake_api.requests_for(key)
    assert sent.path == "/v1/models"
    assert sent.headers["authorization"] == f"Bearer {key}"
    assert sent.headers["openai-organization"] == "org-acme"
    assert sent.headers["openai-project"] == "proj_web"
    assert "(.env:1)" in findings[0].message


def test_the_shell_key_wins_over_the_dotenv_key_as_load_dotenv_does(fake_api, project, home):
    shell_key = fake_api.add_key(fake_key())
    dotenv_key = fake_key()
    findings = run_api(make_ctx(project, home, fake_api.base_url, shell_key, dotenv=f"OPENAI_API_KEY={dotenv_key}\n"))
    assert codes(findings)[0] == "auth-ok"
    assert fake_api.requests_for(dotenv_key) == []


# ---------------------------------------------------------------- the server says no


def test_invalid_key_is_named_masked_with_its_source_and_a_fix(fake_api, project, home):
    key = fake_key()  # never registered: the server answers 401 invalid_api_key
    ctx = make_ctx(project, home, fake_api.base_url, dotenv=f"# comment\nOPENAI_API_KEY={key}\n")
    (finding,) = run_api(ctx)
    assert finding.code == "key-invalid" and finding.severity == "fail"
    assert "(.env:2)" in finding.message and finding.location.line == 2
    assert "Incorrect API key provided" in finding.message
    assert "create a new key" in finding.fixes[0].summary
    assert "invalid_api_key" in finding.detail  # the raw server body, with -v
    assert_no_secret(all_text([finding]), key)


def test_stale_org_id_in_dotenv_is_named_with_its_line(fake_api, project, home):
    key = fake_api.add_key(fake_key(), Scenario(organization="org-current"))
    dotenv = f"OPENAI_API_KEY={key}\nOPENAI_ORG_ID=org-oldcompany\n"
    (finding,) = run_api(make_ctx(project, home, fake_api.base_url, dotenv=dotenv))
    assert finding.code == "key-no-organization" and finding.severity == "fail"
    assert "OPENAI_ORG_ID=org-oldcompany (.env:2)" in finding.message
    assert finding.location.path == ".env" and finding.location.line == 2
    assert "remove OPENAI_ORG_ID from .env:2" in finding.fixes[0].summary


def test_stale_org_id_in_the_shell_offers_unset(fake_api, project, home):
    key = fake_api.add_key(fake_key(), Scenario(organization="org-current"))
    ctx = make_ctx(project, home, fake_api.base_url, key, environ={"OPENAI_ORG_ID": "org-old"})
    (finding,) = run_api(ctx)
    assert finding.code == "key-no-organization"
    assert finding.fixes[0].command == "unset OPENAI_ORG_ID"


def test_no_organization_without_org_id(fake_api, project, home):
    key = fake_api.add_key(fake_key(), Scenario(models="no_organization"))
    (finding,) = run_api(make_ctx(project, home, fake_api.base_url, key))
    assert finding.code == "key-no-organization"
    assert "must be a member of an organization" in finding.message


def test_region_unsupported(fake_api, project, home):
    key = fake_api.add_key(fake_key(), Scenario(models="unsupported_country"))
    (finding,) = run_api(make_ctx(project, home, fake_api.base_url, key))
    assert finding.code == "region-unsupported" and finding.severity == "fail"
    assert "supported-countries" in finding.fixes[0].summary


@pytest.mark.parametrize(
    "behaviour, words",
    [
        ("html", "HTML page titled 'Hotel WiFi - Sign in'"),
        ("truncated", "cut short"),
        ("foreign_json", "JSON that is not the API's"),
        ("redirect", "redirect to localhost"),
    ],
)
def test_answers_that_are_not_the_apis(fake_api, project, home, behaviour, words):
    key = fake_api.add_key(fake_key(), Scenario(models=behaviour))
    (finding,) = run_api(make_ctx(project, home, fake_api.base_url, key))
    assert finding.code == "not-an-api-response" and finding.severity == "fail"
    assert words in finding.message
    assert finding.fixes
    assert_no_secret(all_text([finding]), key)


def test_a_redirect_is_not_followed_so_the_key_goes_nowhere_else(fake_api, project, home):
    target = f"http://localhost:{fake_api.port}/captured/v1/models"
    key = fake_api.add_key(fake_key(), Scenario(models="redirect", redirect_to=target))
    (finding,) = run_api(make_ctx(project, home, fake_api.base_url, key))
    assert finding.code == "not-an-api-response"
    assert fake_api.requests_to("/captured") == []
    assert len(fake_api.requests_for(key)) == 1


@pytest.mark.parametrize(
    "behaviour, kind",
    [("server_error", "had an error"), ("overloaded", "is overloaded"), ("html_502", "502 with an HTML page")],
)
def test_server_errors_are_warnings(fake_api, project, home, behaviour, kind):
    key = fake_api.add_key(fake_key(), Scenario(models=behaviour))
    (finding,) = run_api(make_ctx(project, home, fake_api.base_url, key))
    assert finding.code == "server-error" and finding.severity == "warn"
    assert kind in finding.message


def test_restricted_key_warns_and_still_selects_a_model(fake_api, project, home):
    key = fake_api.add_key(fake_key(), Scenario(models="missing_scope"))
    findings = run_api(make_ctx(project, home, fake_api.base_url, key))
    assert codes(findings) == ["key-restricted", "model-selected"]
    assert findings[0].severity == "warn"
    assert "not verified" in findings[1].message


# ---------------------------------------------------------------- time is bounded


@pytest.mark.parametrize("behaviour", ["hang", "trickle"])
def test_a_silent_or_trickling_server_is_a_response_timeout_within_the_deadline(fake_api, project, home, behaviour):
    key = fake_api.add_key(fake_key(), Scenario(models=behaviour))
    ctx = make_ctx(project, home, fake_api.base_url, key, timeout=1.0)
    started = time.monotonic()
    (finding,) = run_api(ctx)
    elapsed = time.monotonic() - started
    assert finding.code == "response-timeout" and finding.severity == "fail"
    assert elapsed < 1.5, f"took {elapsed:.2f} s for --timeout 1"


def test_a_closed_port_is_unreachable_not_a_crash(project, home):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        (finding,) = run_api(make_ctx(project, home, f"http://127.0.0.1:{port}/v1", fake_key()))
    assert finding.code == "api-unreachable" and "refused" in finding.message


def test_a_malformed_base_url_is_a_finding(project, home):
    (finding,) = run_api(make_ctx(project, home, "localhost:11434/v1", fake_key()))
    assert finding.code == "api-unreachable" and "not an http(s) URL" in finding.message


def test_proxy_comes_from_the_checked_environment_not_this_process(fake_api, project, home, monkeypatch):
    key = fake_api.add_key(fake_key())
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
        # This process's own proxy variables are ignored (trust_env is off)…
        monkeypatch.setenv("HTTP_PROXY", dead)
        monkeypatch.setenv("http_proxy", dead)
        assert codes(run_api(make_ctx(project, home, fake_api.base_url, key)))[0] == "auth-ok"
        # …and the checked environment's are used.
        ctx = make_ctx(project, home, fake_api.base_url, key, environ={"http_proxy": dead})
        (finding,) = run_api(ctx)
    assert finding.code == "api-unreachable"


# ---------------------------------------------------------------- when the check does not run


def test_skips_offline_without_key_and_after_a_failed_network_check(fake_api, project, home):
    key = fake_api.add_key(fake_key())
    offline = run_api(make_ctx(project, home, fake_api.base_url, key, offline=True))
    assert codes(offline) == ["skipped"] and "--offline" in offline[0].message
    nokey = run_api(make_ctx(project, home, fake_api.base_url))
    assert nokey[0].message == "no API key; see the key check"
    failed = CheckResult("network", "n", (Finding("dns-failure", "fail", "api.example does not resolve"),))
    (skip,) = run_api(make_ctx(project, home, fake_api.base_url, key), failed)
    assert skip.message == "the network check failed: api.example does not resolve"
    assert fake_api.requests_for(key) == []


def test_a_skipped_network_check_means_go_ahead(fake_api, project, home):
    key = fake_api.add_key(fake_key())
    network = CheckResult("network", "n", (skipped("not built yet"),), skipped=True)
    assert codes(run_api(make_ctx(project, home, fake_api.base_url, key), network))[0] == "auth-ok"


def test_a_key_no_header_can_carry_is_left_to_the_key_check(fake_api, project, home):
    (finding,) = run_api(make_ctx(project, home, fake_api.base_url, "sk-proj-ａｂｃ" + "x" * 40))
    assert finding.code == "skipped" and "key check" in finding.message


# ---------------------------------------------------------------- the model for the completion


def test_model_flag_and_llmenv_model_setting(fake_api, project, home):
    key = fake_api.add_key(fake_key())
    findings = run_api(make_ctx(project, home, fake_api.base_url, key, model="gpt-6.1-terra"))
    assert selected_model(CheckResult("api", "API access", tuple(findings))).model == "gpt-6.1-terra"
    findings = run_api(make_ctx(project, home, fake_api.base_url, key, dotenv="LLMENV_MODEL=gpt-6.1-terra\n"))
    choice = selected_model(CheckResult("api", "API access", tuple(findings)))
    assert choice.model == "gpt-6.1-terra" and choice.source == "LLMENV_MODEL (.env:1)"


def test_a_server_without_the_default_gets_its_first_chat_model_and_says_so(fake_api, project, home):
    ollama = ("nomic-embed-text:latest", "llama3.2:latest", "qwen2.5:7b")
    key = fake_api.add_key(fake_key(), Scenario(model_ids=ollama, organization=None, project=None))
    findings = run_api(make_ctx(project, home, fake_api.base_url, key))
    assert codes(findings) == ["auth-ok", "model-selected"]
    assert findings[1].model == "llama3.2:latest"
    assert "first chat model the server lists" in findings[1].message and DEFAULT_MODEL in findings[1].message


def test_a_server_with_no_chat_model(fake_api, project, home):
    key = fake_api.add_key(fake_key(), Scenario(model_ids=("text-embedding-3-small", "whisper-1")))
    findings = run_api(make_ctx(project, home, fake_api.base_url, key))
    assert codes(findings) == ["auth-ok", "model-unavailable"]
    assert selected_model(CheckResult("api", "API access", tuple(findings))) is None


def test_a_model_the_server_does_not_list(fake_api, project, home):
    key = fake_api.add_key(fake_key())
    findings = run_api(make_ctx(project, home, fake_api.base_url, key, model="gpt-7-imaginary"))
    assert codes(findings) == ["auth-ok", "model-unavailable"]
    assert "gpt-6-luna, gpt-6.1-terra" in findings[1].message
    assert findings[1].fixes[0].command == "llmenv doctor --model gpt-6-luna"


def test_a_retired_model_names_its_shutdown_date_and_replacement(fake_api, project, home):
    key = fake_api.add_key(fake_key())
    ctx = make_ctx(
        project, home, fake_api.base_url, key, dotenv=f"OPENAI_API_KEY={key}\nLLMENV_MODEL=text-davinci-003\n"
    )
    findings = run_api(ctx)
    assert codes(findings) == ["auth-ok", "model-unavailable"]
    retired = findings[1]
    assert "text-davinci-003 (from LLMENV_MODEL (.env:2)) was shut down on 2024-01-04" in retired.message
    assert "gpt-3.5-turbo-instruct" in retired.message
    assert retired.location.line == 2


def test_the_servers_own_shutdown_date_decides(fake_api, project, home):
    key = fake_api.add_key(fake_key())
    findings = run_api(make_ctx(project, home, fake_api.base_url, key, model="gpt-4o-mini"))
    assert codes(findings) == ["auth-ok", "model-selected", "model-deprecated"]
    deprecated = findings[2]
    assert deprecated.severity == "warn" and "2027-01-14" in deprecated.message and "gpt-6-luna" in deprecated.message


# ---------------------------------------------------------------- data and parsers


def test_retirement_data_is_consistent():
    seen = {}
    for r in RETIREMENTS:
        assert r.model not in seen, f"{r.model} listed twice"
        seen[r.model] = r
        assert r.model != r.replacement
    assert retirement("text-davinci-003").shutdown == date(2024, 1, 4)
    assert retirement("ft:gpt-4o-mini-2024-07-18:acme::abc123").replacement == "gpt-6-luna"
    # gpt-3.5-turbo-0613 → gpt-3.5-turbo, itself shut down 2026-10-23 → gpt-5.6-terra
    assert replacement_today("gpt-3.5-turbo-0613", date(2026, 11, 24)) == "gpt-5.6-terra"
    assert replacement_today("gpt-3.5-turbo-0613", date(2025, 1, 1)) == "gpt-3.5-turbo"
    assert retirement(DEFAULT_MODEL) is None


def test_chat_model_heuristic():
    assert first_chat_model(["text-embedding-3-small", "whisper-1", "dall-e-3", "gpt-6-luna"]) == "gpt-6-luna"
    assert all(is_chat_model(m) for m in ["deepseek-chat", "deepseek-reasoner", "llama3.2:latest", "mistral:instruct"])
    not_chat = ["nomic-embed-text", "tts-1", "gpt-image-1", "omni-moderation-latest", "gpt-5-codex", "o3-pro"]
    assert not any(is_chat_model(m) for m in not_chat)
    assert is_chat_model("gemini-2.5-pro")


def test_request_shape_per_server_and_the_one_retry():
    openai_body = completion_request("gpt-6-luna", "https://api.openai.com/v1")
    assert openai_body["max_completion_tokens"] == 16 and openai_body["reasoning_effort"] == "none"
    assert "max_tokens" not in openai_body and openai_body["stream_options"] == {"include_usage": True}
    local = completion_request("llama3.2", "http://localhost:11434/v1")
    assert local["max_tokens"] == 16 and "reasoning_effort" not in local
    assert reasoning_effort("o3") == "low" and reasoning_effort("gpt-4o-mini") is None
    swapped = request_after_rejection(local, "max_tokens")
    assert swapped["max_completion_tokens"] == 16 and "max_tokens" not in swapped
    assert "temperature" not in request_after_rejection({**local, "temperature": 0}, "temperature")
    assert request_after_rejection(local, "messages") is None
    assert request_after_rejection(local, "logit_bias") is None


@pytest.mark.parametrize(
    "text, seconds",
    [("20ms", 0.02), ("1s", 1), ("6m0s", 360), ("1h2m3.5s", 3723.5), ("0.5s", 0.5), ("20", 20), ("soon", None)],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == (pytest.approx(seconds) if seconds is not None else None)


def test_format_duration_and_budgets():
    assert [format_duration(s) for s in (0.02, 1.5, 20, 360, 3723.5)] == [
        "20 ms",
        "1.5 s",
        "20 s",
        "6 min",
        "1 h 2 min",
    ]
    budgets = rate_limit_budgets(
        {
            "x-ratelimit-limit-requests": "500",
            "x-ratelimit-remaining-requests": "499",
            "x-ratelimit-reset-requests": "120ms",
        }
    )
    assert [b.describe() for b in budgets] == ["499 of 500 requests left (full again in 120 ms)"]


def test_sse_decoder_handles_any_split_and_line_ending():
    stream = 'data: {"a":1}\r\n\r\n: keep-alive\n\nevent: error\ndata: é\ndata: y\r\rdata: [DONE]\n\n'.encode()
    expected = [("", '{"a":1}'), ("error", "é\ny"), ("", "[DONE]")]
    for cut in range(1, len(stream)):
        decoder = SseDecoder()
        events = [*decoder.feed(stream[:cut]), *decoder.feed(stream[cut:])]
        assert [(e.event, e.data) for e in events] == expected, cut
    decoder = SseDecoder()
    list(decoder.feed(b"data: half"))
    assert decoder.pending


def test_classify_reads_exception_chains(fake_api):
    key = fake_api.add_key(fake_key(), Scenario(models="hang"))
    with ApiClient(fake_api.base_url, key, env={}, remaining=lambda: 0.3) as client, pytest.raises(Exception) as raised:
        client.list_models()
    assert classify(raised.value).code == "response-timeout"
    assert classify(ValueError("the base URL 'x' is not an http(s) URL")).kind == "bad-url"


# ---------------------------------------------------------------- through the runner and the CLI


def test_through_the_runner_network_runs_as_a_need(fake_api, project, home):
    key = fake_api.add_key(fake_key())
    results = {r.id: r for r in run_checks(make_ctx(project, home, fake_api.base_url, key), {"api"})}
    assert results["network"].status == "skip"  # ran for api, but not selected
    if results["api"].status != "skip":  # the network check may legitimately stop it on some machines
        assert codes(results["api"].findings)[0] == "auth-ok"


def test_cli_text_json_and_verbose_never_show_the_key(fake_api, project, env):
    key = fake_api.add_key(fake_key(), Scenario(organization="org-acme"))
    env = {**env, "OPENAI_API_KEY": key}
    base = ["doctor", "--project", str(project), "--base-url", fake_api.base_url, "--only", "api", "--no-completion"]
    text = run_cli(base, env)
    assert text.returncode == 0, text.output
    assert "API access" in text.stdout and f"…{key[-4:]}" in text.stdout
    verbose = run_cli([*base, "-v"], env)
    assert "org-acme" in verbose.stdout and "x-request-id" in verbose.stdout and "(auth-ok)" in verbose.stdout
    report = json.loads(run_cli([*base, "--json"], env).stdout)
    api = next(c for c in report["checks"] if c["id"] == "api")
    assert [f["code"] for f in api["findings"]] == ["auth-ok", "model-selected"]
    for run in (text, verbose):
        assert_no_secret(run.output, key)
    assert_no_secret(json.dumps(report), key)


def test_cli_invalid_key_exits_1_and_shows_the_raw_error_only_with_v(fake_api, project, env):
    key = fake_key()
    env = {**env, "OPENAI_API_KEY": key}
    base = ["doctor", "--project", str(project), "--base-url", fake_api.base_url, "--only", "api,completion"]
    run = run_cli(base, env)
    assert run.returncode == 1
    assert "Incorrect API key provided" in run.stdout and '"code": "invalid_api_key"' not in run.stdout
    verbose = run_cli([*base, "-v"], env)
    assert '"code": "invalid_api_key"' in verbose.stdout
    for out in (run, verbose):
        assert_no_secret(out.output, key)
        assert "Traceback" not in out.output


# ---------------------------------------------------------------- what of the network check stops us


def test_a_missing_socks_package_does_not_stop_the_api_check(fake_api, project, home):
    """The user's interpreter lacking PySocks is a network fail, but the route itself works: still ask."""
    key = fake_api.add_key(fake_key(), Scenario())
    ctx = make_ctx(project, home, fake_api.base_url, key)
    network = CheckResult(
        "network",
        "Network and proxy",
        (Finding("proxy-socks-missing-dependency", "fail", "requests in this interpreter lacks PySocks"),),
    )
    assert "auth-ok" in codes(run_api(ctx, network))


def test_a_blocked_route_skips_the_api_check_with_the_reason(fake_api, project, home):
    key = fake_api.add_key(fake_key(), Scenario())
    ctx = make_ctx(project, home, fake_api.base_url, key)
    network = CheckResult(
        "network", "Network and proxy", (Finding("dns-failure", "fail", "api.example.invalid does not resolve"),)
    )
    (finding,) = run_api(ctx, network)
    assert finding.code == "skipped" and "does not resolve" in finding.message
