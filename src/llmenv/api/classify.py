"""The one place that interprets an API failure: a response or an exception chain → a finding code.

The codes are SPEC.md's (`key-invalid`, `insufficient-quota`, …) plus `api-unreachable`, `api-error`
and `key-restricted`; `kind` is a finer label (`invalid_api_key`, `html`, `stream-cut`, …) for the
checks' wording and for tests.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from llmenv.api.client import (
    ApiError,
    ApiResponse,
    DeadlineExceeded,
    HttpStatusError,
    StreamCut,
    StreamErrorEvent,
    UnexpectedBody,
)
from llmenv.findings import Severity

BILLING_URL = "https://platform.openai.com/settings/organization/billing"
LIMITS_URL = "https://platform.openai.com/settings/organization/limits"
KEYS_URL = "https://platform.openai.com/api-keys"
ORGANIZATION_URL = "https://platform.openai.com/settings/organization/general"
COUNTRIES_URL = "https://platform.openai.com/docs/supported-countries"

SEVERITY: dict[str, Severity] = {
    "key-invalid": "fail",
    "key-no-organization": "fail",
    "key-restricted": "warn",
    "region-unsupported": "fail",
    "model-unavailable": "fail",
    "not-an-api-response": "fail",
    "response-timeout": "fail",
    "server-error": "warn",
    "api-unreachable": "fail",
    "api-error": "fail",
    "insufficient-quota": "fail",
    "rate-limited": "warn",
    "completion-failed": "fail",
}


@dataclass(frozen=True)
class ApiProblem:
    """What went wrong, as a finding code with the server's own words kept for the message and `-v`."""

    code: str
    message: str
    kind: str
    status: int | None = None
    error_type: str | None = None
    error_code: str | None = None
    param: str | None = None
    server_message: str | None = None
    request_id: str | None = None
    limit: str | None = None  # for a rate limit: "requests" or "tokens"
    retry_after_s: float | None = None
    raw: str | None = None  # the server's body, for -v (callers mask it)
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def severity(self) -> Severity:
        """The finding severity SPEC.md gives this code."""
        return SEVERITY.get(self.code, "fail")


def classify(error: BaseException | ApiResponse) -> ApiProblem:
    """Turn a failed step (an error response, or any exception raised while talking to the API) into a problem."""
    if isinstance(error, ApiResponse):
        return _from_response(error)
    if isinstance(error, StreamErrorEvent):
        return _from_stream_error(error)
    if isinstance(error, StreamCut):
        got = f" after {error.chunks} chunk(s)" + (f" ({error.text!r} so far)" if error.text else "")
        return _problem(
            "completion-failed",
            f"{error}{got}: a proxy or the server cut the answer short",
            "stream-cut",
            error.response,
        )
    if isinstance(error, HttpStatusError) and error.response is not None:
        return _from_response(error.response)
    if isinstance(error, UnexpectedBody) and error.response is not None:
        return _from_unexpected_body(error)
    if isinstance(error, DeadlineExceeded):
        seconds = error.elapsed_ms / 1000
        return _problem(
            "response-timeout",
            f"the server started answering but did not finish within {seconds:.1f} s",
            "slow-body",
            error.response,
        )
    if isinstance(error, ValueError) and "base URL" in str(error):
        return ApiProblem("api-unreachable", str(error), "bad-url")
    return _from_exception(error)


# ---------------------------------------------------------------- responses


def _problem(code: str, message: str, kind: str, resp: ApiResponse | None, **extra: Any) -> ApiProblem:
    if resp is None:
        return ApiProblem(code, message, kind, **extra)
    raw = resp.text() if resp.body.strip() else None
    return ApiProblem(
        code,
        message,
        kind,
        status=resp.status,
        request_id=resp.header("x-request-id"),
        raw=raw,
        headers=dict(resp.headers),
        **extra,
    )


def _error_object(resp: ApiResponse) -> dict[str, Any] | None:
    """The API's `{"error": {...}}` (or a compatible server's `{"error": "text"}`), else None."""
    try:
        payload = json.loads(resp.body)
    except ValueError:
        return None
    if not isinstance(payload, dict):
        return None
    error = payload.get("error")
    if isinstance(error, dict):
        return error
    if isinstance(error, str):
        return {"message": error}
    if isinstance(payload.get("message"), str) and payload.get("object") == "error":  # vLLM's older shape
        return {"message": payload["message"], "type": payload.get("type"), "code": payload.get("code")}
    return None


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _looks_html(resp: ApiResponse) -> bool:
    head = resp.body[:512].lstrip().lower()
    return resp.content_type in ("text/html", "application/xhtml+xml") or head.startswith((b"<!doctype html", b"<html"))


def _html_title(resp: ApiResponse) -> str | None:
    match = re.search(r"<title[^>]*>(.*?)</title>", resp.text(20000), re.IGNORECASE | re.DOTALL)
    return _one_line(match.group(1), 80) if match and match.group(1).strip() else None


def _describe_foreign(resp: ApiResponse) -> str:
    """A short description of a body that is not the API's JSON."""
    if _looks_html(resp):
        title = _html_title(resp)
        return "an HTML page" + (f" titled {title!r}" if title else "") + " (a proxy, firewall or captive portal?)"
    if not resp.body.strip():
        return "an empty body"
    try:
        json.loads(resp.body)
    except ValueError:
        kind = resp.content_type or "no content type"
        return f"a body that is not JSON ({kind})"
    return "JSON that is not the API's"


def _from_response(resp: ApiResponse) -> ApiProblem:
    status = resp.status
    error = _error_object(resp)
    if error is None:
        return _from_foreign_error(resp)
    message = _one_line(str(error.get("message") or "")) or f"HTTP {status}"
    etype, ecode, param = _text(error.get("type")), _text(error.get("code")), _text(error.get("param"))
    if param is None and ecode in ("unsupported_parameter", "unsupported_value"):
        # "Unsupported parameter: 'max_tokens' is not supported with this model…": the name is in quotes.
        quoted = re.search(r"'([A-Za-z_][\w.\[\]]*)'", message)
        param = quoted.group(1) if quoted else None
    fields = {"error_type": etype, "error_code": ecode, "param": param, "server_message": message}
    said = f"{status} {ecode or etype or ''}".strip()
    low = message.lower()
    if status == 401:
        if (
            ecode in ("no_organization", "mismatched_organization", "invalid_organization")
            or ("organization" in low and "header" in low)
            or "no such organization" in low
        ):
            return _problem(
                "key-no-organization",
                f"the API rejects the organization ({said}): {message}",
                ecode or "organization",
                resp,
                **fields,
            )
        return _problem(
            "key-invalid", f"the API rejects the key ({said}): {message}", ecode or "unauthorized", resp, **fields
        )
    if ecode == "unsupported_country_region_territory" or "territory not supported" in low:
        return _problem(
            "region-unsupported",
            f"the API does not serve the country this request comes from ({said}): {message}",
            "region",
            resp,
            **fields,
        )
    if ecode == "model_not_found" or re.search(r"model\b.*\b(does not exist|not found|not have access)", low):
        return _problem(
            "model-unavailable", f"the model is not available ({said}): {message}", "model_not_found", resp, **fields
        )
    if status == 403 and ("missing scopes" in low or "insufficient permissions" in low):
        return _problem("key-restricted", f"the key is restricted ({said}): {message}", "missing-scope", resp, **fields)
    if status == 429:
        return _from_429(resp, message, fields)
    if status >= 500:
        overloaded = "overloaded" in low or status in (503, 529)
        what = "is overloaded" if overloaded else "had an error"
        return _problem(
            "server-error",
            f"the server {what} ({said}): {message}",
            "overloaded" if overloaded else "server",
            resp,
            **fields,
        )
    if status == 404:
        return _wrong_url(resp, fields)
    if ecode in ("unsupported_parameter", "unsupported_value"):
        return _problem("api-error", f"the server rejects a parameter ({said}): {message}", ecode, resp, **fields)
    return _problem(
        "api-error", f"the server refused the request ({said}): {message}", ecode or etype or "refused", resp, **fields
    )


def _from_foreign_error(resp: ApiResponse) -> ApiProblem:
    """An error status whose body is not the API's error JSON."""
    status = resp.status
    what = _describe_foreign(resp)
    if 300 <= status < 400:
        target = resp.header("location") or "?"
        host = urlsplit(target).hostname or target
        return _problem(
            "not-an-api-response",
            f"the server answered {status} with a redirect to {host}: not followed, so the key stays with the base URL "
            "(a captive portal, or a base URL that should start with https:// or end in /v1?)",
            "redirect",
            resp,
        )
    if status == 407:
        return _problem(
            "not-an-api-response",
            "the proxy asks for credentials (407 Proxy Authentication Required)",
            "proxy-auth",
            resp,
        )
    if status >= 500:
        return _problem("server-error", f"the server answered {status} with {what}", "server-foreign", resp)
    if status == 404:
        return _wrong_url(resp, {})
    if status == 401 and not _looks_html(resp):
        return _problem("key-invalid", f"the server rejects the key ({status}) with {what}", "unauthorized", resp)
    if status == 429:
        return _from_429(resp, f"{status} with {what}", {})
    return _problem("not-an-api-response", f"the answer is not the API's: {status} with {what}", "foreign-error", resp)


def _wrong_url(resp: ApiResponse, fields: dict[str, Any]) -> ApiProblem:
    path = urlsplit(resp.url).path
    return _problem(
        "not-an-api-response",
        f"{resp.method} {path} does not exist on this server (404): is the base URL right? "
        "OpenAI-compatible servers usually end in /v1",
        "wrong-url",
        resp,
        **fields,
    )


def _from_unexpected_body(error: UnexpectedBody) -> ApiProblem:
    resp = error.response
    assert resp is not None
    if _cause_named(error, "IncompleteRead", "ProtocolError"):
        expected = resp.header("content-length")
        of = f" of {expected}" if expected else ""
        return _problem(
            "not-an-api-response",
            f"the answer was cut short ({len(resp.body)}{of} bytes): a proxy or the connection dropped it",
            "truncated",
            resp,
        )
    what = _describe_foreign(resp)
    kind = "html" if _looks_html(resp) else "foreign-json" if what.startswith("JSON") else "not-json"
    return _problem("not-an-api-response", f"the answer is not the API's: {resp.status} with {what}", kind, resp)


def _from_stream_error(error: StreamErrorEvent) -> ApiProblem:
    body = error.error
    message = _one_line(str(body.get("message") or "an error event without a message"))
    etype, ecode = _text(body.get("type")), _text(body.get("code"))
    label = ecode or etype or "error"
    problem = _problem(
        "completion-failed",
        f"the server sent an error inside the stream after {error.chunks} chunk(s) ({label}): {message}",
        "stream-error",
        error.response,
        error_type=etype,
        error_code=ecode,
        param=_text(body.get("param")),
        server_message=message,
    )
    return problem


# ---------------------------------------------------------------- 429: quota or rate limit


_QUOTA_WORDS = ("quota", "credit", "billing", "spend_limit", "usage_limit")


def is_quota_error(error_type: str | None, error_code: str | None) -> bool:
    """A 429 that means money (credit used up, budget reached), not speed."""
    values = [v.lower() for v in (error_type, error_code) if v]
    return any(word in v for v in values for word in _QUOTA_WORDS)


def _from_429(resp: ApiResponse, message: str, fields: dict[str, Any]) -> ApiProblem:
    etype, ecode = fields.get("error_type"), fields.get("error_code")
    said = f"429 {ecode or etype or ''}".strip()
    if is_quota_error(etype, ecode):
        return _problem(
            "insufficient-quota",
            f"the API refuses for lack of credit ({said}): {message}",
            ecode or etype or "quota",
            resp,
            **fields,
        )
    limit = _which_limit(etype, message)
    retry = _retry_after(message, resp.headers, limit)
    return _problem(
        "rate-limited",
        f"rate limited ({said}): {message}",
        "rate_limit_exceeded",
        resp,
        limit=limit,
        retry_after_s=retry,
        **fields,
    )


def _which_limit(error_type: str | None, message: str) -> str | None:
    if error_type in ("requests", "tokens"):
        return error_type
    match = re.search(r"\bon (requests|tokens) per (min|day)", message)
    return match.group(1) if match else None


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s|d)")


def parse_duration(text: str | None) -> float | None:
    """Seconds in a Go-style duration as the API writes them (`20ms`, `1s`, `6m0s`, `1h2m3.5s`), else None."""
    if not text:
        return None
    text = text.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)  # Retry-After: plain seconds
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    return sum(float(n) * scale[u] for n, u in parts)


def format_duration(seconds: float) -> str:
    """`20 ms`, `1.5 s`, `20 s`, `6 min`, `1 h 2 min` — how a person reads a wait."""
    if seconds < 1:
        return f"{round(seconds * 1000)} ms"
    if seconds < 10 and seconds != int(seconds):
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{round(seconds)} s"
    if seconds < 3600:
        minutes, rest = divmod(round(seconds), 60)
        return f"{minutes} min" + (f" {rest} s" if rest else "")
    hours, rest = divmod(round(seconds), 3600)
    return f"{hours} h" + (f" {rest // 60} min" if rest // 60 else "")


def _retry_after(message: str, headers: Mapping[str, str], limit: str | None) -> float | None:
    """When the limit resets: the message's "Please try again in 20s", else the headers."""
    match = re.search(r"try again in ((?:\d+(?:\.\d+)?(?:ms|h|m|s))+)", message)
    found = parse_duration(match.group(1)) if match else None
    if found is not None:
        return found
    names = [f"x-ratelimit-reset-{limit}"] if limit else ["x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"]
    for name in [*names, "retry-after"]:
        value = parse_duration(headers.get(name))
        if value is not None:
            return value
    ms = headers.get("retry-after-ms")
    return float(ms) / 1000 if ms and ms.replace(".", "", 1).isdigit() else None


@dataclass(frozen=True)
class RateLimitBudget:
    """One `x-ratelimit-*` family: the limit, what is left, and when it is full again."""

    kind: str  # "requests" or "tokens"
    limit: str | None
    remaining: str | None
    reset_s: float | None

    def describe(self) -> str:
        """`499 of 500 requests left (full again in 120 ms)`."""
        text = f"{_thousands(self.remaining) or '?'} of {_thousands(self.limit) or '?'} {self.kind} left"
        if self.reset_s is not None:
            text += f" (full again in {format_duration(self.reset_s)})"
        return text


def rate_limit_budgets(headers: Mapping[str, str]) -> list[RateLimitBudget]:
    """The request and token budgets the `x-ratelimit-*` headers report (empty when there are none)."""
    budgets = []
    for kind in ("requests", "tokens"):
        limit = headers.get(f"x-ratelimit-limit-{kind}")
        remaining = headers.get(f"x-ratelimit-remaining-{kind}")
        reset = parse_duration(headers.get(f"x-ratelimit-reset-{kind}"))
        if limit or remaining:
            budgets.append(RateLimitBudget(kind, limit, remaining, reset))
    return budgets


def _thousands(value: str | None) -> str | None:
    return f"{int(value):,}" if value and value.isdigit() else value


# ---------------------------------------------------------------- exceptions


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The exception and everything it was raised from, plus urllib3's wrapped `reason`s."""
    seen: set[int] = set()
    stack = [error]
    while stack:
        exc = stack.pop(0)
        if id(exc) in seen:
            continue
        seen.add(id(exc))
        yield exc
        for nxt in (exc.__cause__, exc.__context__, getattr(exc, "reason", None)):
            if isinstance(nxt, BaseException):
                stack.append(nxt)
        for arg in exc.args:
            if isinstance(arg, BaseException):
                stack.append(arg)


def _cause_named(error: BaseException, *names: str) -> bool:
    return any(type(e).__name__ in names for e in _chain(error))


def _first_line(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return _one_line(text.splitlines()[0] if text.splitlines() else text, 200)


def _from_exception(error: BaseException) -> ApiProblem:
    chain = list(_chain(error))
    names = {type(e).__name__ for e in chain}
    root = _first_line(chain[-1]) if chain else _first_line(error)
    if isinstance(error, ApiError):
        return ApiProblem("api-error", _first_line(error), "client")
    if "SSLError" in names or any(isinstance(e, ssl.SSLError) for e in chain):
        return ApiProblem("api-unreachable", f"TLS failed: {_tls_reason(chain)}", "tls")
    if "ProxyError" in names:
        return ApiProblem("api-unreachable", f"the proxy failed: {_useful_reason(chain)}", "proxy")
    if "InvalidSchema" in names and "socks" in str(error).lower():
        return ApiProblem(
            "api-unreachable",
            "a socks:// proxy is configured but PySocks is not installed for requests (pip install 'requests[socks]')",
            "socks",
        )
    if "ConnectTimeout" in names or "ConnectTimeoutError" in names:
        return ApiProblem(
            "api-unreachable", "no TCP connection within the time left (connect timeout)", "connect-timeout"
        )
    if names & {"ReadTimeout", "ReadTimeoutError", "TimeoutError", "timeout"} or any(
        isinstance(e, socket.timeout | TimeoutError) for e in chain
    ):
        return ApiProblem(
            "response-timeout", "connected, but the server sent no answer within the time left", "timeout"
        )
    if names & {"NameResolutionError", "gaierror"}:
        return ApiProblem("api-unreachable", f"the host name does not resolve: {_useful_reason(chain)}", "dns")
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return ApiProblem(
            "api-unreachable", "the connection was refused: nothing listens at that address and port", "refused"
        )
    if names & {"RemoteDisconnected", "ConnectionResetError", "BadStatusLine", "ConnectionAbortedError"}:
        return ApiProblem(
            "api-unreachable",
            "the server closed the connection without an HTTP answer (not an HTTP server, or TLS to an http:// URL?)",
            "reset",
        )
    if names & {"InvalidURL", "MissingSchema", "InvalidSchema", "LocationParseError"}:
        return ApiProblem("api-unreachable", f"the base URL is not usable: {root}", "bad-url")
    if names & {"ConnectionError", "NewConnectionError", "MaxRetryError", "OSError"}:
        return ApiProblem("api-unreachable", f"could not connect: {_useful_reason(chain)}", "connect")
    return ApiProblem("api-error", f"{type(error).__name__}: {_first_line(error)}", "unexpected")


def _useful_reason(chain: list[BaseException]) -> str:
    """The innermost message that says something (urllib3 wraps the OS error several times)."""
    for exc in reversed(chain):
        text = _first_line(exc)
        if text and "Max retries exceeded" not in text:
            return re.sub(r"<urllib3\.[^>]*>:?\s*", "", text)
    return _first_line(chain[0])


def _tls_reason(chain: list[BaseException]) -> str:
    for exc in chain:
        verify = getattr(exc, "verify_message", None)
        if verify:
            return str(verify)
    return _useful_reason(chain)
