"""Models as data: the default test model, OpenAI's retirements, and what a test completion request holds."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from urllib.parse import urlsplit

# The cheapest current OpenAI chat model (November 2026: $0.10 / $0.50 per 1M tokens, Chat Completions
# supported, reasoning effort "none" available). gpt-4o-mini, the old cheap default, shuts down 2027-01-14.
DEFAULT_MODEL = "gpt-6-luna"

PROMPT = "Say this is a test"
# Enough for "This is a test." from a chat model; a reasoning model that cannot switch reasoning off
# needs room to think before it answers.
MAX_TOKENS = 16
MAX_TOKENS_REASONING = 256


@dataclass(frozen=True)
class Retirement:
    """A model OpenAI retires: its shutdown date and the replacement its deprecations page recommends."""

    model: str
    shutdown: date
    replacement: str


def _batch(shutdown: str, replacement: str, *models: str) -> list[Retirement]:
    day = date.fromisoformat(shutdown)
    return [Retirement(m, day, replacement) for m in models]


# From OpenAI's deprecations page (developers.openai.com/api/docs/deprecations) as published in
# November 2026. Only text and chat models: the ones a test completion or a project's code names.
# Where the page changed a recommendation later, the later one is kept.
RETIREMENTS: tuple[Retirement, ...] = tuple(
    r
    for batch in (
        _batch("2023-03-23", "gpt-3.5-turbo", "code-davinci-001", "code-davinci-002", "code-cushman-001"),
        _batch(
            "2024-01-04",
            "gpt-3.5-turbo-instruct",
            "text-ada-001",
            "text-babbage-001",
            "text-curie-001",
            "text-davinci-001",
            "text-davinci-002",
            "text-davinci-003",
        ),
        _batch("2024-01-04", "babbage-002", "ada", "babbage"),
        _batch("2024-01-04", "davinci-002", "curie", "davinci"),
        _batch("2024-01-04", "gpt-4o", "text-davinci-edit-001", "code-davinci-edit-001"),
        _batch("2024-06-13", "gpt-4-0613", "gpt-4-0314"),
        _batch("2024-09-13", "gpt-3.5-turbo", "gpt-3.5-turbo-0301", "gpt-3.5-turbo-0613", "gpt-3.5-turbo-16k-0613"),
        _batch("2024-12-06", "gpt-4o", "gpt-4-vision-preview", "gpt-4-1106-vision-preview"),
        _batch("2025-06-06", "gpt-4o", "gpt-4-32k", "gpt-4-32k-0613", "gpt-4-32k-0314"),
        _batch("2025-07-14", "gpt-4.1", "gpt-4.5-preview", "gpt-4.5-preview-2025-02-27"),
        _batch("2025-07-28", "o3", "o1-preview", "o1-preview-2024-09-12"),
        _batch("2025-10-27", "o4-mini", "o1-mini", "o1-mini-2024-09-12"),
        _batch("2026-01-16", "gpt-5-codex-mini", "codex-mini-latest"),
        _batch("2026-02-17", "gpt-5.1-chat-latest", "chatgpt-4o-latest"),
        _batch("2026-07-23", "gpt-5.3-chat-latest", "gpt-5-chat-latest", "gpt-5.1-chat-latest"),
        _batch("2026-07-23", "gpt-5.4", "gpt-5-codex", "gpt-5.1-codex-max", "gpt-5.2-codex"),
        _batch("2026-07-23", "gpt-5.4-mini", "gpt-5.1-codex-mini", "computer-use-preview"),
        _batch("2026-07-23", "gpt-4.1-mini", "gpt-4o-search-preview", "gpt-4o-mini-search-preview"),
        _batch("2026-08-10", "gpt-5.5", "gpt-5.2-chat-latest", "gpt-5.3-chat-latest"),
        _batch("2026-10-23", "gpt-5.6-terra", "gpt-3.5-turbo", "gpt-3.5-turbo-0125"),
        _batch(
            "2026-10-23",
            "gpt-5.6-sol",
            "gpt-4",
            "gpt-4-0613",
            "gpt-4-1106-preview",
            "gpt-4-turbo",
            "gpt-4-turbo-2024-04-09",
            "gpt-4o-2024-05-13",
            "o1",
            "o1-2024-12-17",
            "o1-pro",
            "o1-pro-2025-03-19",
            "o3-mini",
            "o3-mini-2025-01-31",
        ),
        _batch("2026-10-23", "gpt-5.6-terra", "o4-mini", "o4-mini-2025-04-16"),
        _batch("2026-10-23", "gpt-5.6-luna", "gpt-4.1-nano", "gpt-4.1-nano-2025-04-14"),
        _batch("2026-12-11", "gpt-6.1-sol", "gpt-5", "gpt-5-2025-08-07", "o3", "o3-2025-04-16"),
        _batch("2026-12-11", "gpt-6.1-sol", "gpt-5-pro", "gpt-5-pro-2025-10-06", "o3-pro", "o3-pro-2025-06-10"),
        _batch("2026-12-11", "gpt-6.1-terra", "gpt-5-mini", "gpt-5-mini-2025-08-07"),
        _batch("2026-12-11", "gpt-6-luna", "gpt-5-nano", "gpt-5-nano-2025-08-07"),
        _batch(
            "2027-01-14",
            "gpt-6-luna",
            "gpt-4o",
            "gpt-4o-2024-08-06",
            "gpt-4o-2024-11-20",
            "gpt-4o-mini",
            "gpt-4o-mini-2024-07-18",
            "gpt-4.1",
            "gpt-4.1-2025-04-14",
            "gpt-4.1-mini",
            "gpt-4.1-mini-2025-04-14",
        ),
    )
    for r in batch
)

_BY_MODEL = {r.model: r for r in RETIREMENTS}


def base_model(model: str) -> str:
    """The model a fine-tune is built on (`ft:gpt-4o-mini-2024-07-18:org::id` → its base); others as is."""
    if model.startswith("ft:"):
        return model.split(":")[1]
    return model


def retirement(model: str) -> Retirement | None:
    """OpenAI's announced retirement of `model` (or of the base of a fine-tune), if any."""
    return _BY_MODEL.get(base_model(model.strip()))


def replacement_today(model: str, today: date) -> str | None:
    """The recommended replacement, followed while each recommendation is itself shut down by `today`."""
    found = retirement(model)
    if found is None:
        return None
    seen = {found.model}
    choice = found.replacement
    while (nxt := _BY_MODEL.get(choice)) is not None and nxt.shutdown <= today and choice not in seen:
        seen.add(choice)
        choice = nxt.replacement
    return choice


# Model ids that do not answer chat completions: embeddings, audio, images, moderation, the legacy
# completions models, and OpenAI's Responses-only ones (codex, deep research, the -pro reasoners).
_NOT_CHAT = re.compile(
    r"embed|whisper|tts|transcribe|dall-e|gpt-image|image-|moderation|davinci|babbage|curie|\bada\b|"
    r"realtime|audio|search|rerank|sora|computer-use|bge-|clip|gpt-3\.5-turbo-instruct|codex|deep-research|"
    r"^(?:o\d|gpt-[\d.]+)-pro\b",
    re.IGNORECASE,
)


def is_chat_model(model_id: str) -> bool:
    """Whether an id from a `/models` list looks like a model that answers chat completions."""
    return bool(model_id) and not _NOT_CHAT.search(model_id)


def first_chat_model(model_ids: Sequence[str]) -> str | None:
    """The first chat-looking id in the server's list order, or None."""
    return next((m for m in model_ids if is_chat_model(m)), None)


def is_openai_host(base_url: str) -> bool:
    """OpenAI's own API or Azure OpenAI: servers whose newer models want `max_completion_tokens`."""
    host = (urlsplit(base_url).hostname or "").lower()
    return host == "api.openai.com" or host.endswith((".openai.com", ".openai.azure.com"))


def reasoning_effort(model: str) -> str | None:
    """The lowest reasoning effort OpenAI's reasoning families accept, or None for other models.

    gpt-5.1 and later take "none"; gpt-5 and the o-series take "low" at the least.
    """
    name = base_model(model).lower()
    if "chat" in name:
        return None
    match = re.match(r"gpt-(\d+)(?:\.(\d+))?", name)
    if match:
        major, minor = int(match.group(1)), int(match.group(2) or 0)
        if (major, minor) >= (5, 1):
            return "none"
        if major == 5:
            return "low"
        return None
    if re.match(r"o\d", name):
        return "low"
    return None


def completion_request(model: str, base_url: str) -> dict:
    """The body of the tiny streamed test completion, shaped for the server at `base_url`.

    OpenAI and Azure get `max_completion_tokens` (every current model there takes it, reasoning models
    only it); other OpenAI-compatible servers (Ollama, vLLM, DeepSeek…) get the classic `max_tokens`.
    If the server still rejects a parameter, `request_after_rejection` makes the one retry.
    """
    body: dict = {
        "model": model,
        "messages": [{"role": "user", "content": PROMPT}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    effort = reasoning_effort(model) if is_openai_host(base_url) else None
    limit = MAX_TOKENS if effort in (None, "none") else MAX_TOKENS_REASONING
    body["max_completion_tokens" if is_openai_host(base_url) else "max_tokens"] = limit
    if effort:
        body["reasoning_effort"] = effort
    return body


# Parameters a retry may never drop: without them there is no request.
_ESSENTIAL = {"model", "messages", "stream"}


def request_after_rejection(body: dict, param: str | None) -> dict | None:
    """The request to retry once after the server rejected `param` (400 unsupported_parameter/value).

    `max_tokens` ↔ `max_completion_tokens` swap (newer models want the latter, older servers the
    former); any other optional parameter (temperature, reasoning_effort, stream_options…) is dropped.
    None when there is nothing sensible to change.
    """
    if not param or param in _ESSENTIAL:
        return None
    param = param.split(".")[0].split("[")[0]
    retry = dict(body)
    swaps = {"max_tokens": "max_completion_tokens", "max_completion_tokens": "max_tokens"}
    if param in swaps and param in retry:
        retry[swaps[param]] = retry.pop(param)
        return retry
    if param in retry and param not in _ESSENTIAL:
        del retry[param]
        return retry
    return None
