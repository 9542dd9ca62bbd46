"""A local OpenAI-compatible server for tests: the API's real wire format, with behaviour chosen per key.

A test registers a key with a `Scenario` (`server.add_key(key, Scenario(chat="insufficient_quota"))`)
and points the client, the CLI or the official `openai` SDK at `server.base_url`. Everything is on
127.0.0.1; nothing reaches the internet. The bodies and headers are the ones the API sends (see
`ERRORS`): `tests/test_fake_server_fidelity.py` checks that the `openai` SDK reads them as it reads
the real API's.

Failure names for `Scenario.models` / `Scenario.chat`: every key of `ERRORS`, plus
`html`, `html_502`, `truncated`, `foreign_json`, `hang`, `trickle`, `redirect`, and for chat only
`stream_error`, `stream_cut`, `no_stream`.
"""

from __future__ import annotations

import atexit
import json
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# (id, created, shutdown_date) in the order the API lists them.
MODELS: tuple[tuple[str, int, str | None], ...] = (
    ("gpt-6-luna", 1758499200, None),
    ("gpt-6.1-terra", 1761436800, None),
    ("gpt-4o-mini", 1721172741, "2027-01-14"),
    ("text-embedding-3-small", 1705948997, None),
    ("whisper-1", 1677532384, None),
)
# Reasoning models, which (like the real ones) reject max_tokens and any temperature but 1.
REASONING = {"gpt-6-luna", "gpt-6.1-terra"}
SNAPSHOTS = {"gpt-6-luna": "gpt-6-luna-2026-09-22", "gpt-4o-mini": "gpt-4o-mini-2024-07-18"}

SUCCESS_RATE_HEADERS = {
    "x-ratelimit-limit-requests": "5000",
    "x-ratelimit-limit-tokens": "4000000",
    "x-ratelimit-remaining-requests": "4999",
    "x-ratelimit-remaining-tokens": "3999985",
    "x-ratelimit-reset-requests": "12ms",
    "x-ratelimit-reset-tokens": "0s",
}


def error_body(message: str, type_: str | None, param: str | None = None, code: str | None = None) -> dict:
    """The API's error envelope."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def starred(key: str) -> str:
    """How the API echoes a wrong key: its first 8 characters, stars, its last 4."""
    return key[:8] + "*" * max(4, len(key) - 12) + key[-4:]


def _errors(key: str, model: str, org: str) -> dict[str, tuple[int, dict, dict[str, str]]]:
    """status, body and extra headers of each canned error, as the API sends them."""
    return {
        "invalid_api_key": (
            401,
            error_body(
                f"Incorrect API key provided: {starred(key)}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                code="invalid_api_key",
            ),
            {},
        ),
        "no_organization": (
            401,
            error_body(
                "You must be a member of an organization to use the API. Please contact us through our help "
                "center at help.openai.com.",
                "invalid_request_error",
                code="no_organization",
            ),
            {},
        ),
        "mismatched_organization": (
            401,
            error_body(
                "OpenAI-Organization header should match organization for API key",
                "invalid_request_error",
                code="mismatched_organization",
            ),
            {},
        ),
        "unsupported_country": (
            403,
            # The API writes this one with "code" first.
            {
                "error": {
                    "code": "unsupported_country_region_territory",
                    "message": "Country, region, or territory not supported",
                    "param": None,
                    "type": "request_forbidden",
                }
            },
            {},
        ),
        "missing_scope": (
            403,
            error_body(
                "You have insufficient permissions for this operation. Missing scopes: api.model.read. Check that "
                "you have the correct role in your organization (Reader, Writer, Owner) and project (Member, Owner), "
                "and if you're using a restricted API key, that it has the necessary scopes.",
                "invalid_request_error",
            ),
            {},
        ),
        "model_not_found": (
            404,
            error_body(
                f"The model `{model}` does not exist or you do not have access to it.",
                "invalid_request_error",
                code="model_not_found",
            ),
            {},
        ),
        "insufficient_quota": (
            429,
            error_body(
                "You exceeded your current quota, please check your plan and billing details. For more information "
                "on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
                "insufficient_quota",
                code="insufficient_quota",
            ),
            {},
        ),
        "credit_balance_exhausted": (
            429,
            error_body(
                "Your credit balance is exhausted. Add credit to continue using the API.",
                "invalid_request_error",
                code="credit_balance_exhausted",
            ),
            {},
        ),
        "project_spend_limit_exceeded": (
            429,
            error_body(
                "This project has reached its monthly spend limit.",
                "invalid_request_error",
                code="project_spend_limit_exceeded",
            ),
            {},
        ),
        "rate_limit_requests": (
            429,
            error_body(
                f"Rate limit reached for {model} in organization {org} on requests per min (RPM): Limit 3, Used 3, "
                "Requested 1. Please try again in 20s. Visit https://platform.openai.com/account/rate-limits to "
                "learn more.",
                "requests",
                code="rate_limit_exceeded",
            ),
            {
                "x-ratelimit-limit-requests": "3",
                "x-ratelimit-limit-tokens": "40000",
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-remaining-tokens": "39985",
                "x-ratelimit-reset-requests": "20s",
                "x-ratelimit-reset-tokens": "22ms",
                "retry-after": "20",
            },
        ),
        "rate_limit_tokens": (
            429,
            error_body(
                f"Rate limit reached for {model} in organization {org} on tokens per min (TPM): Limit 30000, "
                "Used 29937, Requested 385. Please try again in 644ms. Visit "
                "https://platform.openai.com/account/rate-limits to learn more.",
                "tokens",
                code="rate_limit_exceeded",
            ),
            {
                "x-ratelimit-limit-requests": "500",
                "x-ratelimit-limit-tokens": "30000",
                "x-ratelimit-remaining-requests": "499",
                "x-ratelimit-remaining-tokens": "63",
                "x-ratelimit-reset-requests": "120ms",
                "x-ratelimit-reset-tokens": "1h2m3.5s",
            },
        ),
        "server_error": (
            500,
            error_body("The server had an error while processing your request. Sorry about that!", "server_error"),
            {},
        ),
        "overloaded": (
            503,
            error_body("The server is overloaded or not ready yet.", "server_error"),
            {},
        ),
    }


ERRORS = tuple(_errors("sk-x" * 4, "m", "org").keys())

CAPTIVE_PORTAL = (
    "<!DOCTYPE html><html><head><title>Hotel WiFi - Sign in</title></head>"
    "<body><h1>Welcome!</h1><p>Please accept the terms to get online.</p></body></html>"
)
BAD_GATEWAY = (
    "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center>"
    "<hr><center>nginx</center></body></html>"
)


@dataclass
class Scenario:
    """How the server treats one key: what `/models` and `/chat/completions` do, and what they say."""

    models: str = "ok"
    chat: str = "ok"
    model_ids: tuple[str, ...] | None = None  # None: the ids of MODELS
    organization: str | None = "org-llmenvtest"  # sent back in openai-organization; a different request header → 401
    project: str | None = "proj_llmenvtest"
    text: str = "This is a test."
    reject: tuple[str, ...] = ()  # parameters rejected for every model (400 unsupported_parameter)
    delay: float = 0.0  # seconds before any answer
    redirect_to: str | None = None  # Location for the "redirect" failure


@dataclass
class Recorded:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    key: str | None


@dataclass
class FakeOpenAI:
    """The server; start() it, add keys, point clients at `base_url`."""

    scenarios: dict[str, Scenario] = field(default_factory=dict)
    received: list[Recorded] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None

    def start(self) -> FakeOpenAI:
        """Listen on an ephemeral port of 127.0.0.1 in a background thread."""
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = _QuietServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, name="fake-openai", daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving and release every handler that is holding a connection open."""
        self.stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def port(self) -> int:
        assert self._httpd is not None
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def add_key(self, key: str, scenario: Scenario | None = None, **fields: Any) -> str:
        """Make `key` valid, behaving as `scenario` (or Scenario(**fields))."""
        with self._lock:
            self.scenarios[key] = scenario or Scenario(**fields)
        return key

    def requests_for(self, key: str | None) -> list[Recorded]:
        """The requests that carried `key` (None: those that carried none)."""
        with self._lock:
            return [r for r in self.received if r.key == key]

    def requests_to(self, prefix: str) -> list[Recorded]:
        """The requests whose path starts with `prefix`."""
        with self._lock:
            return [r for r in self.received if r.path.startswith(prefix)]

    def _record(self, rec: Recorded) -> None:
        with self._lock:
            self.received.append(rec)


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-answer (timeouts, cut streams) is part of the tests, not an error."""
        import sys

        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeOpenAI

    def setup(self) -> None:
        super().setup()
        # Small event-stream writes must leave at once, as the API's do (no Nagle delay on the first token).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def version_string(self) -> str:
        return "cloudflare"  # what the API's answers say

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    # ------------------------------------------------------------ plumbing

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return raw.decode("utf-8", "replace")

    def _key(self) -> str | None:
        auth = self.headers.get("Authorization") or ""
        return auth[len("Bearer ") :] if auth.startswith("Bearer ") else None

    def _common_headers(self, scenario: Scenario | None) -> dict[str, str]:
        headers = {
            "x-request-id": "req_" + secrets.token_hex(16),
            "openai-processing-ms": "42",
            "openai-version": "2020-10-01",
        }
        if scenario is not None and scenario.organization:
            headers["openai-organization"] = scenario.organization
        if scenario is not None and scenario.project:
            headers["openai-project"] = scenario.project
        return headers

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: Any, scenario: Scenario | None, extra: dict[str, str] | None = None) -> None:
        headers = {**self._common_headers(scenario), **(extra or {})}
        self._send(status, json.dumps(payload, indent=2).encode(), "application/json", headers)

    def _wait(self, seconds: float) -> None:
        self.fake.stopping.wait(seconds)

    # ------------------------------------------------------------ dispatch

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        body = self._body()
        key = self._key()
        self.fake._record(Recorded(method, self.path, {k.lower(): v for k, v in self.headers.items()}, body, key))
        if self.path.startswith("/captured"):
            self._json(200, {"captured": True}, None)
            return
        scenario = self.fake.scenarios.get(key) if key else None
        if key is None:
            self._json(
                401,
                error_body(
                    "You didn't provide an API key. You need to provide your API key in an Authorization header "
                    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY). You can obtain an API key from "
                    "https://platform.openai.com/account/api-keys.",
                    "invalid_request_error",
                ),
                None,
            )
            return
        if scenario is None:
            self._error("invalid_api_key", key, "", None)
            return
        if scenario.delay:
            self._wait(scenario.delay)
        org_header = self.headers.get("OpenAI-Organization")
        if org_header and scenario.organization and org_header != scenario.organization:
            self._error("mismatched_organization", key, "", scenario)
            return
        if method == "GET" and self.path.rstrip("/") == "/v1/models":
            self._models(key, scenario)
        elif method == "POST" and self.path.rstrip("/") == "/v1/chat/completions":
            self._chat(key, scenario, body if isinstance(body, dict) else {})
        else:
            self._json(
                404,
                error_body(
                    f"Unknown request URL: {method} {self.path}. Please check the URL for typos.",
                    "invalid_request_error",
                    code="unknown_url",
                ),
                scenario,
            )

    def _error(self, name: str, key: str, model: str, scenario: Scenario | None) -> None:
        org = scenario.organization if scenario and scenario.organization else "org-llmenvtest"
        status, payload, extra = _errors(key, model, org)[name]
        self._json(status, payload, scenario, extra)

    def _special(self, name: str, key: str, model: str, scenario: Scenario) -> bool:
        """Answer with a failure that is not an API error body; True when `name` was one."""
        if name in ERRORS:
            self._error(name, key, model, scenario)
        elif name == "html":
            self._send(200, CAPTIVE_PORTAL.encode(), "text/html; charset=utf-8", {})
        elif name == "html_502":
            self._send(502, BAD_GATEWAY.encode(), "text/html", {})
        elif name == "foreign_json":
            self._send(200, b'{"status": "ok", "message": "Welcome to the intranet"}', "application/json", {})
        elif name == "truncated":
            full = json.dumps(_models_payload(scenario)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(full)))
            self.end_headers()
            self.wfile.write(full[: len(full) // 3])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
        elif name == "hang":
            self._wait(60)  # accepted, read, and never answered
            self.close_connection = True
        elif name == "redirect":
            target = scenario.redirect_to or "http://localhost/captured"
            self._send(307, b"", "text/plain", {"Location": target})
        elif name == "trickle":
            self._trickle(scenario, sse=self.command == "POST")
        else:
            return False
        return True

    def _trickle(self, scenario: Scenario, sse: bool) -> None:
        """A 200 whose body comes a byte at a time every 0.1 s and never finishes (within a minute).

        For a JSON answer the bytes are spaces inside a long Content-Length; for an event stream they
        are keep-alive comments that never reach `data: [DONE]`.
        """
        self.send_response(200)
        if sse:
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "100000")
        for name, value in self._common_headers(scenario).items():
            self.send_header(name, value)
        self.end_headers()
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline and not self.fake.stopping.is_set():
                if sse:
                    self._chunk(b": keep-alive\n\n")
                else:
                    self.wfile.write(b" ")
                    self.wfile.flush()
                self._wait(0.1)
        except OSError:
            pass
        self.close_connection = True

    # ------------------------------------------------------------ /models

    def _models(self, key: str, scenario: Scenario) -> None:
        if scenario.models != "ok":
            if not self._special(scenario.models, key, "", scenario):
                raise ValueError(f"unknown models behaviour {scenario.models!r}")
            return
        self._json(200, _models_payload(scenario), scenario)

    # ------------------------------------------------------------ /chat/completions

    def _chat(self, key: str, scenario: Scenario, body: dict) -> None:
        model = str(body.get("model") or "")
        if scenario.chat not in ("ok", "stream_error", "stream_cut", "no_stream"):
            if not self._special(scenario.chat, key, model, scenario):
                raise ValueError(f"unknown chat behaviour {scenario.chat!r}")
            return
        if not model:
            self._json(400, error_body("you must provide a model parameter", "invalid_request_error"), scenario)
            return
        if model not in _model_ids(scenario):
            self._error("model_not_found", key, model, scenario)
            return
        rejected = self._rejected_parameter(model, body, scenario)
        if rejected is not None:
            self._json(400, rejected, scenario)
            return
        pieces = _tokens(scenario.text)
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        finish = "stop"
        if isinstance(limit, int) and limit < len(pieces):
            pieces, finish = pieces[:limit], "length"
        usage = {
            "prompt_tokens": 12,
            "completion_tokens": len(pieces),
            "total_tokens": 12 + len(pieces),
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }
        served = SNAPSHOTS.get(model, model)
        if not body.get("stream") or scenario.chat == "no_stream":
            self._json(200, _completion_payload(served, "".join(pieces), finish, usage), scenario, SUCCESS_RATE_HEADERS)
            return
        self._stream(scenario, body, served, pieces, finish, usage)

    def _rejected_parameter(self, model: str, body: dict, scenario: Scenario) -> dict | None:
        """The 400 the API sends for a parameter the model does not take, or None."""
        if model in REASONING and "max_tokens" in body:
            return error_body(
                "Unsupported parameter: 'max_tokens' is not supported with this model. "
                "Use 'max_completion_tokens' instead.",
                "invalid_request_error",
                param="max_tokens",
                code="unsupported_parameter",
            )
        if model in REASONING and body.get("temperature") not in (None, 1):
            return error_body(
                f"Unsupported value: 'temperature' does not support {body['temperature']} with this model. "
                "Only the default (1) value is supported.",
                "invalid_request_error",
                param="temperature",
                code="unsupported_value",
            )
        for param in scenario.reject:
            if param in body:
                return error_body(
                    f"Unsupported parameter: '{param}' is not supported with this model.",
                    "invalid_request_error",
                    param=param,
                    code="unsupported_parameter",
                )
        return None

    def _stream(self, scenario: Scenario, body: dict, served: str, pieces: list[str], finish: str, usage: dict) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        for name, value in {**self._common_headers(scenario), **SUCCESS_RATE_HEADERS}.items():
            self.send_header(name, value)
        self.end_headers()
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        ident = "chatcmpl-" + secrets.token_urlsafe(21)
        created = int(time.time())

        def chunk(delta: dict, reason: str | None = None, choices: bool = True, usage_value: Any = None) -> dict:
            payload: dict[str, Any] = {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": served,
                "service_tier": "default",
                "system_fingerprint": "fp_llmenvtest",
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}] if choices else [],
            }
            if include_usage:
                payload["usage"] = usage_value
            return payload

        def event(payload: Any) -> None:
            data = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
            self._chunk(f"data: {data}\n\n".encode())

        try:
            event(chunk({"role": "assistant", "content": "", "refusal": None}))
            for i, piece in enumerate(pieces):
                event(chunk({"content": piece}))
                if scenario.chat == "stream_error" and i == 0:
                    event(
                        error_body(
                            "The server had an error while processing your request. Sorry about that!", "server_error"
                        )
                    )
                    self._chunk(b"")
                    return
                if scenario.chat == "stream_cut" and i == 1:
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)  # no terminating chunk: the connection just ends
                    return
            event(chunk({}, finish))
            if include_usage:
                event(chunk({}, choices=False, usage_value=usage))
            event("[DONE]")
            self._chunk(b"")
        except OSError:
            self.close_connection = True

    def _chunk(self, data: bytes) -> None:
        """One piece of a chunked body (empty: the terminating chunk)."""
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


def _model_ids(scenario: Scenario) -> tuple[str, ...]:
    return scenario.model_ids if scenario.model_ids is not None else tuple(m[0] for m in MODELS)


def _models_payload(scenario: Scenario) -> dict:
    known = {m[0]: m for m in MODELS}
    data = []
    for model_id in _model_ids(scenario):
        _, created, shutdown = known.get(model_id, (model_id, 1700000000, None))
        entry: dict[str, Any] = {"id": model_id, "object": "model", "created": created, "owned_by": "system"}
        if shutdown:
            entry["shutdown_date"] = shutdown
        data.append(entry)
    return {"object": "list", "data": data}


def _completion_payload(served: str, text: str, finish: str, usage: dict) -> dict:
    return {
        "id": "chatcmpl-" + secrets.token_urlsafe(21),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": served,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None, "annotations": []},
                "logprobs": None,
                "finish_reason": finish,
            }
        ],
        "usage": usage,
        "service_tier": "default",
        "system_fingerprint": "fp_llmenvtest",
    }


def _tokens(text: str) -> list[str]:
    """Split like a tokenizer roughly does: words keep their leading space, punctuation stands alone."""
    pieces: list[str] = []
    word = ""
    for ch in text:
        if ch == " " and word:
            pieces.append(word)
            word = ch
        elif ch in ".,!?" and word:
            pieces.extend([word, ch])
            word = ""
        else:
            word += ch
    if word:
        pieces.append(word)
    return pieces


_shared: FakeOpenAI | None = None
_shared_lock = threading.Lock()


def shared_server() -> FakeOpenAI:
    """One server for the whole test session (keys keep tests apart), started on first use."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = FakeOpenAI().start()
            atexit.register(_shared.stop)
        return _shared
