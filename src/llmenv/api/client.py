"""A small OpenAI-compatible client on requests: list the models, stream a chat completion.

It never imports the `openai` SDK (the doctor must work when that SDK is the broken part), never
follows a redirect (the key goes to the base URL's host and nowhere else), and bounds every step by
a wall-clock deadline: connect, the wait for the headers, and every read of the body, so a server
that trickles bytes cannot stretch a step past its budget. Failures are raised as exceptions that
`llmenv.api.classify.classify` turns into finding codes; nothing here interprets an HTTP error.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from llmenv import __version__
from llmenv.api.sse import SseDecoder
from llmenv.network import ca_bundle, requests_proxies

if TYPE_CHECKING:
    from llmenv.context import Context

# A models list is a few hundred kB at most; anything far bigger is not the API talking.
_MAX_BODY = 8 * 1024 * 1024


@dataclass(frozen=True)
class ApiResponse:
    """What the server answered: status, headers (lower-case names), the body read so far, timings."""

    method: str
    url: str
    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes = b""
    headers_ms: int = 0  # from sending the request to the end of the headers
    total_ms: int = 0

    def header(self, name: str) -> str | None:
        """A header's value by case-insensitive name."""
        return self.headers.get(name.lower())

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower-case (`text/html`, `application/json`…)."""
        return (self.header("content-type") or "").split(";")[0].strip().lower()

    def text(self, limit: int = 4000) -> str:
        """The body as text, cut to `limit` characters."""
        return self.body[: limit * 4].decode("utf-8", "replace")[:limit]


class ApiError(Exception):
    """A step against the API went wrong; `classify()` says what it means."""

    def __init__(self, message: str, response: ApiResponse | None = None) -> None:
        super().__init__(message)
        self.response = response


class HttpStatusError(ApiError):
    """The server answered with a status that is not 2xx (redirects included: they are not followed)."""


class UnexpectedBody(ApiError):
    """A 2xx answer whose body is not what the API sends (HTML, non-JSON, JSON of another shape)."""


class DeadlineExceeded(ApiError):
    """The step's wall-clock budget ran out while the server was still answering."""

    def __init__(self, message: str, response: ApiResponse | None = None, elapsed_ms: int = 0) -> None:
        super().__init__(message, response)
        self.elapsed_ms = elapsed_ms


class StreamErrorEvent(ApiError):
    """The server sent an error object inside the event stream, after the 200 headers."""

    def __init__(self, message: str, error: Mapping[str, Any], response: ApiResponse, chunks: int) -> None:
        super().__init__(message, response)
        self.error = error
        self.chunks = chunks


class StreamCut(ApiError):
    """The event stream ended (or the connection broke) before `data: [DONE]`."""

    def __init__(self, message: str, response: ApiResponse, chunks: int, text: str) -> None:
        super().__init__(message, response)
        self.chunks = chunks
        self.text = text


@dataclass(frozen=True)
class ModelInfo:
    """One entry of `GET /models`."""

    id: str
    owned_by: str | None = None
    shutdown_date: str | None = None  # OpenAI's optional YYYY-MM-DD field


@dataclass(frozen=True)
class ModelList:
    """The server's models, in its order, and the response they came in."""

    models: tuple[ModelInfo, ...]
    response: ApiResponse

    @property
    def ids(self) -> list[str]:
        """The model ids in list order."""
        return [m.id for m in self.models]

    def get(self, model_id: str) -> ModelInfo | None:
        """The entry for `model_id`, or None."""
        return next((m for m in self.models if m.id == model_id), None)


@dataclass(frozen=True)
class Completion:
    """A finished streamed completion."""

    text: str
    model: str | None
    finish_reason: str | None
    usage: Mapping[str, Any] | None
    first_token_ms: int | None  # from sending the request to the first content
    total_ms: int
    chunks: int
    response: ApiResponse
    streamed: bool = True


class ApiClient:
    """An OpenAI-compatible client for one base URL and key, with proxies and CA bundle from `env`.

    `remaining` gives the seconds left in the caller's budget; each step takes what is left then, so
    several steps in a row stay within one overall deadline.
    """

    def __init__(
        self,
        base_url: str,
        key: str,
        *,
        env: Mapping[str, str],
        remaining: Callable[[], float],
        organization: str | None = None,
        project: str | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"the base URL {base_url!r} is not an http(s) URL")
        self.base_url = base_url.rstrip("/")
        self._key = key
        self._env = env
        self._remaining = remaining
        self._organization = organization
        self._project = project
        self._session = None

    def _get_session(self):
        import requests

        if self._session is None:
            session = requests.Session()
            # Proxies and CA come from the environment a program would see (shell + .env), decided by
            # network.py, not from this process's os.environ.
            session.trust_env = False
            session.proxies = requests_proxies(self.base_url, self._env)
            session.verify = ca_bundle(self._env) or True
            headers = {
                "Authorization": f"Bearer {self._key}",
                "User-Agent": f"llmenv/{__version__}",
                "Accept": "application/json",
            }
            if (urlsplit(self.base_url).hostname or "").endswith(".openai.azure.com"):
                headers["api-key"] = self._key  # Azure OpenAI's key header; same host, so no new exposure
            if self._organization:
                headers["OpenAI-Organization"] = self._organization
            if self._project:
                headers["OpenAI-Project"] = self._project
            session.headers.update(headers)
            self._session = session
        return self._session

    def close(self) -> None:
        """Release the connections."""
        if self._session is not None:
            self._session.close()
            self._session = None

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, method: str, path: str, body: Mapping[str, Any] | None, accept: str | None = None):
        """Send one request; return the open streamed response, its ApiResponse head and the deadline."""
        budget = self._remaining()
        started = time.monotonic()
        deadline = started + budget
        url = self.base_url + path
        headers = {"Accept": accept} if accept else None
        resp = self._get_session().request(
            method,
            url,
            json=body,
            headers=headers,
            timeout=(budget, budget),
            stream=True,
            allow_redirects=False,
        )
        head = ApiResponse(
            method=method,
            url=url,
            status=resp.status_code,
            reason=resp.reason or "",
            headers={k.lower(): v for k, v in resp.headers.items()},
            headers_ms=_ms(started),
        )
        return resp, head, started, deadline

    def _finish(self, resp, head: ApiResponse, started: float, deadline: float) -> ApiResponse:
        """Read the whole (bounded) body within the deadline and return the complete ApiResponse."""
        from urllib3.exceptions import ProtocolError, ReadTimeoutError

        chunks: list[bytes] = []
        size = 0
        try:
            for data in _iter_body(resp, deadline):
                chunks.append(data)
                size += len(data)
                if size > _MAX_BODY:
                    break
        except (DeadlineExceeded, ReadTimeoutError) as exc:
            partial = _with_body(head, b"".join(chunks), started)
            raise DeadlineExceeded("the answer did not finish within the time left", partial, _ms(started)) from exc
        except ProtocolError as exc:
            partial = _with_body(head, b"".join(chunks), started)
            raise UnexpectedBody(f"the answer was cut short after {size} bytes", partial) from exc
        return _with_body(head, b"".join(chunks), started)

    def list_models(self) -> ModelList:
        """`GET /models`: the models the key may use, or an exception for `classify()`."""
        resp, head, started, deadline = self._send("GET", "/models", None)
        with resp:
            answer = self._finish(resp, head, started, deadline)
        if not 200 <= answer.status < 300:
            raise HttpStatusError(f"GET /models answered {answer.status}", answer)
        try:
            payload = json.loads(answer.body)
        except ValueError:
            raise UnexpectedBody("the /models answer is not JSON", answer) from None
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, list) or not all(isinstance(m, dict) and isinstance(m.get("id"), str) for m in data):
            raise UnexpectedBody("the /models answer is JSON, but not a list of models", answer)
        models = tuple(
            ModelInfo(
                m["id"],
                m.get("owned_by") if isinstance(m.get("owned_by"), str) else None,
                m.get("shutdown_date") if isinstance(m.get("shutdown_date"), str) else None,
            )
            for m in data
        )
        return ModelList(models, answer)

    def complete(self, body: Mapping[str, Any]) -> Completion:
        """`POST /chat/completions` with `stream: true`, read to `data: [DONE]` within the deadline."""
        resp, head, started, deadline = self._send(
            "POST", "/chat/completions", body, accept="text/event-stream, application/json"
        )
        with resp:
            if not 200 <= head.status < 300:
                raise HttpStatusError(
                    f"POST /chat/completions answered {head.status}", self._finish(resp, head, started, deadline)
                )
            if head.content_type != "text/event-stream":
                return _whole_completion(self._finish(resp, head, started, deadline), started)
            return _read_stream(resp, head, started, deadline)


def client_for(ctx: Context, key: str) -> ApiClient:
    """The client a program would be: the context's base URL, effective environment, org and project, deadline."""
    org, project = ctx.setting("OPENAI_ORG_ID"), ctx.setting("OPENAI_PROJECT_ID")
    return ApiClient(
        ctx.base_url(),
        key,
        env=ctx.effective_env(),
        remaining=ctx.remaining,
        organization=org.value.strip() if org and org.value.strip() else None,
        project=project.value.strip() if project and project.value.strip() else None,
    )


def _ms(since: float) -> int:
    return int((time.monotonic() - since) * 1000)


def _with_body(head: ApiResponse, body: bytes, started: float) -> ApiResponse:
    return ApiResponse(
        head.method, head.url, head.status, head.reason, head.headers, body, head.headers_ms, _ms(started)
    )


def _socket_of(raw) -> Any:
    """The socket under a urllib3 response, to bound each read by the deadline (None if unreachable)."""
    connection = getattr(raw, "connection", None) or getattr(raw, "_connection", None)
    return getattr(connection, "sock", None)


def _iter_body(resp, deadline: float) -> Iterator[bytes]:
    """The body's bytes as they arrive; every read waits at most until `deadline`."""
    raw = resp.raw
    sock = _socket_of(raw)
    read1 = getattr(raw, "read1", None)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded("the answer did not finish within the time left")
        if sock is not None:
            # requests' read timeout is per read; a trickle of one byte a second would never trip it.
            sock.settimeout(left)
        data = read1(65536) if read1 is not None else raw.read(4096)
        if not data:
            return
        yield data


def _read_stream(resp, head: ApiResponse, started: float, deadline: float) -> Completion:
    """Parse the event stream up to `data: [DONE]`."""
    from urllib3.exceptions import ProtocolError, ReadTimeoutError

    decoder = SseDecoder()
    pieces: list[str] = []
    first_token_ms: int | None = None
    model = finish = None
    usage = None
    chunks = 0
    try:
        for data in _iter_body(resp, deadline):
            for event in decoder.feed(data):
                if event.data.strip() == "[DONE]":
                    answer = _with_body(head, b"", started)
                    return Completion(
                        "".join(pieces), model, finish, usage, first_token_ms, answer.total_ms, chunks, answer
                    )
                try:
                    payload = json.loads(event.data)
                except ValueError:
                    raise UnexpectedBody(
                        "an event of the stream is not JSON", _with_body(head, event.data.encode(), started)
                    ) from None
                if event.event == "error" or (isinstance(payload, dict) and "error" in payload):
                    error = payload.get("error", payload) if isinstance(payload, dict) else {"message": str(payload)}
                    error = error if isinstance(error, dict) else {"message": str(error)}
                    raise StreamErrorEvent(
                        "the server sent an error inside the stream",
                        error,
                        _with_body(head, event.data.encode(), started),
                        chunks,
                    )
                if not isinstance(payload, dict):
                    raise UnexpectedBody(
                        "an event of the stream is not a completion chunk",
                        _with_body(head, event.data.encode(), started),
                    )
                chunks += 1
                model = payload.get("model") or model
                if payload.get("usage"):
                    usage = payload["usage"]
                for choice in payload.get("choices") or ():
                    delta = choice.get("delta") or {}
                    content = delta.get("content")
                    if content:
                        if first_token_ms is None:
                            first_token_ms = _ms(started)
                        pieces.append(content)
                    finish = choice.get("finish_reason") or finish
    except DeadlineExceeded as exc:
        raise DeadlineExceeded(str(exc), _with_body(head, b"", started), _ms(started)) from None
    except ReadTimeoutError as exc:
        raise DeadlineExceeded(
            "the stream stalled until the time ran out", _with_body(head, b"", started), _ms(started)
        ) from exc
    except ProtocolError as exc:
        raise StreamCut(
            "the connection broke before the stream's end (data: [DONE])",
            _with_body(head, b"", started),
            chunks,
            "".join(pieces),
        ) from exc
    raise StreamCut("the stream ended before data: [DONE]", _with_body(head, b"", started), chunks, "".join(pieces))


def _whole_completion(answer: ApiResponse, started: float) -> Completion:
    """A server that ignored `stream: true` and sent one `chat.completion` object: accept it, noted."""
    try:
        payload = json.loads(answer.body)
    except ValueError:
        raise UnexpectedBody("the completion answer is neither an event stream nor JSON", answer) from None
    choices = payload.get("choices") if isinstance(payload, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise UnexpectedBody("the completion answer is JSON, but not a chat completion", answer)
    message = choices[0].get("message") or {}
    return Completion(
        text=str(message.get("content") or ""),
        model=payload.get("model"),
        finish_reason=choices[0].get("finish_reason"),
        usage=payload.get("usage"),
        first_token_ms=answer.total_ms,
        total_ms=answer.total_ms,
        chunks=1,
        response=answer,
        streamed=False,
    )
