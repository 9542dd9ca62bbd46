"""The fake server speaks the API's wire format: the official `openai` SDK reads it as it reads the real API.

If the SDK streams the same text and raises the same exception classes with the same `.code` here as
against api.openai.com, then what llmenv's own client concludes from the fake server holds for the
real one too. Each case also checks that llmenv's classifier lands on the finding code that matches
the SDK's exception.
"""

from __future__ import annotations

import pytest
from conftest import assert_no_secret, fake_key
from openai_server import ERRORS, Scenario

from llmenv.api.classify import classify
from llmenv.api.client import ApiClient
from llmenv.api.models import completion_request

openai = pytest.importorskip("openai")


def _sdk(fake_api, scenario: Scenario, **kwargs):
    key = fake_api.add_key(fake_key(), scenario)
    return openai.OpenAI(api_key=key, base_url=fake_api.base_url, max_retries=0, timeout=5, **kwargs), key


def _ours(fake_api, key: str, timeout: float = 5.0) -> ApiClient:
    return ApiClient(fake_api.base_url, key, env={}, remaining=lambda: timeout)


def test_sdk_lists_the_models_and_streams_the_text_with_usage(fake_api):
    client, key = _sdk(fake_api, Scenario(text="This is a test."))
    assert [m.id for m in client.models.list()][:2] == ["gpt-6-luna", "gpt-6.1-terra"]
    stream = client.chat.completions.create(
        model="gpt-6-luna",
        messages=[{"role": "user", "content": "Say this is a test"}],
        stream=True,
        stream_options={"include_usage": True},
        max_completion_tokens=16,
    )
    text, usage, kinds = "", None, set()
    for chunk in stream:
        kinds.add(chunk.object)
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
        usage = chunk.usage or usage
    assert text == "This is a test."
    assert kinds == {"chat.completion.chunk"}
    assert usage is not None and usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    # llmenv's client reads the same stream to the same text and usage.
    with _ours(fake_api, key) as ours:
        body = completion_request("gpt-6-luna", fake_api.base_url) | {"max_completion_tokens": 16}
        body.pop("max_tokens")
        completion = ours.complete(body)
    assert completion.text == text
    assert completion.usage["total_tokens"] == usage.total_tokens


def test_sdk_reads_a_non_streamed_completion(fake_api):
    client, _ = _sdk(fake_api, Scenario(text="This is a test."))
    answer = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Say this is a test"}], max_tokens=16
    )
    assert answer.choices[0].message.content == "This is a test."
    assert answer.model == "gpt-4o-mini-2024-07-18"


def test_headers_are_the_apis(fake_api):
    client, _ = _sdk(fake_api, Scenario())
    raw = client.models.with_raw_response.list()
    assert raw.headers["x-request-id"].startswith("req_")
    assert raw.headers["openai-organization"] == "org-llmenvtest"
    assert raw.headers["openai-project"] == "proj_llmenvtest"
    assert raw.headers["openai-processing-ms"].isdigit()
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], max_tokens=4
    )
    assert raw.headers["x-ratelimit-limit-requests"] == "5000"
    assert raw.headers["x-ratelimit-reset-requests"] == "12ms"


# name of the failure, where it happens, the SDK's exception class and .code, llmenv's finding code.
CASES = [
    ("invalid_api_key", "models", "AuthenticationError", "invalid_api_key", "key-invalid"),
    ("no_organization", "models", "AuthenticationError", "no_organization", "key-no-organization"),
    ("mismatched_organization", "models", "AuthenticationError", "mismatched_organization", "key-no-organization"),
    (
        "unsupported_country",
        "models",
        "PermissionDeniedError",
        "unsupported_country_region_territory",
        "region-unsupported",
    ),
    ("missing_scope", "models", "PermissionDeniedError", None, "key-restricted"),
    ("model_not_found", "chat", "NotFoundError", "model_not_found", "model-unavailable"),
    ("insufficient_quota", "chat", "RateLimitError", "insufficient_quota", "insufficient-quota"),
    ("credit_balance_exhausted", "chat", "RateLimitError", "credit_balance_exhausted", "insufficient-quota"),
    ("project_spend_limit_exceeded", "chat", "RateLimitError", "project_spend_limit_exceeded", "insufficient-quota"),
    ("rate_limit_requests", "chat", "RateLimitError", "rate_limit_exceeded", "rate-limited"),
    ("rate_limit_tokens", "chat", "RateLimitError", "rate_limit_exceeded", "rate-limited"),
    ("server_error", "chat", "InternalServerError", None, "server-error"),
    ("overloaded", "chat", "InternalServerError", None, "server-error"),
]


def test_every_canned_error_is_covered():
    assert {c[0] for c in CASES} == set(ERRORS)


@pytest.mark.parametrize("name, where, exc_name, code, ours", CASES, ids=[c[0] for c in CASES])
def test_sdk_raises_the_same_exception_class_and_code(fake_api, name, where, exc_name, code, ours):
    client, key = _sdk(fake_api, Scenario(**{where: name}))
    with pytest.raises(getattr(openai, exc_name)) as raised:
        if where == "models":
            client.models.list()
        else:
            list(client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]))
    assert raised.value.code == code
    assert raised.value.request_id.startswith("req_")
    with _ours(fake_api, key) as client_ours, pytest.raises(Exception) as ours_raised:
        if where == "models":
            client_ours.list_models()
        else:
            client_ours.complete({"model": "gpt-4o-mini", "messages": [], "stream": True})
    problem = classify(ours_raised.value)
    assert_no_secret(f"{problem.message}\n{problem.raw}", key)
    assert problem.code == ours
    assert problem.status == raised.value.status_code
    assert problem.error_code == code


def test_organization_header_mismatch_is_the_apis_401(fake_api):
    key = fake_api.add_key(fake_key(), Scenario(organization="org-right"))
    client = openai.OpenAI(api_key=key, base_url=fake_api.base_url, max_retries=0, organization="org-stale")
    with pytest.raises(openai.AuthenticationError) as raised:
        client.models.list()
    assert raised.value.code == "mismatched_organization"
    sent = fake_api.requests_for(key)[-1].headers
    assert sent["openai-organization"] == "org-stale" and sent["authorization"] == f"Bearer {key}"


@pytest.mark.parametrize(
    "kwargs, param, code",
    [
        ({"max_tokens": 5}, "max_tokens", "unsupported_parameter"),
        ({"temperature": 0}, "temperature", "unsupported_value"),
    ],
)
def test_reasoning_model_rejects_parameters_as_the_api_does(fake_api, kwargs, param, code):
    client, _ = _sdk(fake_api, Scenario())
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="gpt-6-luna", messages=[{"role": "user", "content": "x"}], **kwargs)
    assert (raised.value.code, raised.value.param) == (code, param)


def test_error_inside_the_stream_is_an_api_error_for_the_sdk(fake_api):
    client, _ = _sdk(fake_api, Scenario(chat="stream_error"))
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}], stream=True
    )
    with pytest.raises(openai.APIError) as raised:
        list(stream)
    assert not isinstance(raised.value, openai.APIConnectionError)
    assert "error while processing your request" in raised.value.message


def test_stream_cut_and_silent_server_are_connection_errors_for_the_sdk(fake_api):
    client, _ = _sdk(fake_api, Scenario(chat="stream_cut"))
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}], stream=True
    )
    with pytest.raises(openai.APIConnectionError):
        list(stream)
    key = fake_api.add_key(fake_key(), Scenario(models="hang"))
    silent = openai.OpenAI(api_key=key, base_url=fake_api.base_url, max_retries=0, timeout=0.5)
    with pytest.raises(openai.APITimeoutError):
        silent.models.list()


@pytest.mark.parametrize("name", ["html", "truncated"])
def test_the_sdk_cannot_use_a_foreign_or_truncated_answer_either(fake_api, name):
    client, _ = _sdk(fake_api, Scenario(models=name))
    with pytest.raises(Exception):  # noqa: B017 - the SDK fails differently for each; failing is the point
        [m.id for m in client.models.list()]


def test_unknown_key_and_missing_key_are_rejected_like_the_api(fake_api):
    stranger = fake_key()
    client = openai.OpenAI(api_key=stranger, base_url=fake_api.base_url, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as raised:
        client.models.list()
    assert raised.value.code == "invalid_api_key"
    assert stranger not in raised.value.message and stranger[-4:] in raised.value.message
