"""What an API key value looks like: who issued it, whether it is a placeholder, and what breaks it."""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

OPENAI_KEY_PAGE = "https://platform.openai.com/api-keys"


@dataclass(frozen=True)
class Provider:
    """An API provider: the prefixes of the keys it issues, where to make one, the hosts that serve it."""

    name: str
    prefixes: tuple[str, ...]
    key_page: str
    hosts: tuple[str, ...] = ()
    base_url: str | None = None  # its OpenAI-compatible endpoint


OPENAI = Provider(
    "OpenAI",
    ("sk-proj-", "sk-svcacct-", "sk-admin-", "sk-None-"),
    OPENAI_KEY_PAGE,
    ("api.openai.com",),
    "https://api.openai.com/v1",
)
# Longest, most specific prefixes first: `sk-ant-` and `sk-or-` must win over OpenAI's plain `sk-`.
PROVIDERS = (
    Provider(
        "Anthropic",
        ("sk-ant-",),
        "https://console.anthropic.com/settings/keys",
        ("api.anthropic.com",),
        "https://api.anthropic.com/v1/",
    ),
    Provider(
        "OpenRouter",
        ("sk-or-",),
        "https://openrouter.ai/settings/keys",
        ("openrouter.ai",),
        "https://openrouter.ai/api/v1",
    ),
    Provider(
        "Hugging Face",
        ("hf_",),
        "https://huggingface.co/settings/tokens",
        ("router.huggingface.co", "api-inference.huggingface.co"),
        "https://router.huggingface.co/v1",
    ),
    Provider(
        "Google",
        ("AIza",),
        "https://aistudio.google.com/app/apikey",
        ("generativelanguage.googleapis.com",),
        "https://generativelanguage.googleapis.com/v1beta/openai/",
    ),
    Provider("Groq", ("gsk_",), "https://console.groq.com/keys", ("api.groq.com",), "https://api.groq.com/openai/v1"),
    Provider("xAI", ("xai-",), "https://console.x.ai/", ("api.x.ai",), "https://api.x.ai/v1"),
    Provider(
        "Perplexity",
        ("pplx-",),
        "https://www.perplexity.ai/settings/api",
        ("api.perplexity.ai",),
        "https://api.perplexity.ai",
    ),
    Provider(
        "GitHub",
        ("github_pat_", "ghp_"),
        "https://github.com/settings/personal-access-tokens",
        ("models.github.ai", "models.inference.ai.azure.com"),
        "https://models.github.ai/inference",
    ),
    # DeepSeek keys are `sk-` and 32 hex digits: recognisable by shape only, not by a prefix of their own.
    Provider(
        "DeepSeek", (), "https://platform.deepseek.com/api_keys", ("api.deepseek.com",), "https://api.deepseek.com"
    ),
    OPENAI,
)

# base64 of "OpenAI": sits inside OpenAI user and project keys.
_OPENAI_MARKER = "T3BlbkFJ"
_DEEPSEEK_SHAPE = re.compile(r"sk-[0-9a-f]{32}")
_OPENAI_CHARS = re.compile(r"[A-Za-z0-9_-]+")
_MIN_OPENAI_LENGTH = 40  # the shortest OpenAI keys ever issued have 51 characters
_MAX_OPENAI_LENGTH = 400
_ZERO_WIDTH = {"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"}

# The words of "your-api-key-here" and its many cousins.
_PLACEHOLDER_TEXT = (
    "your my the api key keys here openai placeholder changeme change me replace insert example dummy fake "
    "secret token paste put enter goes sample redacted none null undefined default todo xxx xxxx foo bar "
    "value add"
)
_PLACEHOLDER_WORDS = frozenset(_PLACEHOLDER_TEXT.split())


@dataclass(frozen=True)
class KeyProblem:
    """Why a key value cannot work, and, when it is another provider's key, which provider."""

    reason: str
    issuer: Provider | None = None


def issuer_of(value: str) -> Provider | None:
    """The provider that issued a key of this shape, when the shape says so for certain."""
    for provider in PROVIDERS:
        if any(value.startswith(prefix) for prefix in provider.prefixes):
            return provider
    if value.startswith("sk-") and _OPENAI_MARKER in value:
        return OPENAI
    return None


def provider_for_host(host: str) -> Provider | None:
    """The provider serving an API host (`api.openai.com` → OpenAI), if it is a well-known one."""
    host = host.lower().rstrip(".")
    for provider in PROVIDERS:
        if any(host == h or host.endswith("." + h) for h in provider.hosts):
            return provider
    return None


def is_openai_host(host: str) -> bool:
    """Whether the base URL's host is OpenAI's own API (including regional ones like eu.api.openai.com)."""
    return provider_for_host(host) is OPENAI


def is_local_host(host: str) -> bool:
    """Loopback or this machine: traffic to it never crosses a network."""
    host = host.lower().strip("[]").rstrip(".")
    if host in ("localhost", "host.docker.internal") or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def looks_like_key(value: str) -> bool:
    """A value that is a credential rather than a stand-in such as `ollama` or `EMPTY`."""
    value = value.strip()
    if issuer_of(value) or value.startswith("sk-"):
        return placeholder_reason(value) is None
    return (
        len(value) >= 20
        and not any(c.isspace() for c in value)
        and any(c.isdigit() for c in value)
        and any(c.isalpha() for c in value)
        and placeholder_reason(value) is None
    )


def placeholder_reason(value: str, example: str | None = None) -> str | None:
    """Why `value` is a stand-in for a key rather than a key (`sk-...`, `<key>`, `your-api-key-here`), or None."""
    text = value.strip().strip("\"'")
    if not text:
        return None
    if example is not None and text == example.strip().strip("\"'"):
        return "is the sample value from .env.example, not a key of your own"
    if "..." in text or "…" in text:
        if re.search(r"(\.\.\.|…)[A-Za-z0-9]{4}$", text):
            return "is a masked key (the ending shown by a dashboard): the whole key is shown only once, when made"
        return "has `...` where the key's characters should be (a key shortened in docs or a screenshot)"
    if (text[0], text[-1]) in (("<", ">"), ("{", "}"), ("[", "]")) or text.startswith(("${", "$(", "%")):
        return "is a template slot (like `<key>`), not a key"
    prefix = next((p for p in (*OPENAI.prefixes, "sk-") if text.startswith(p)), "")
    body = text[len(prefix) :]
    if not body or re.fullmatch(r"[xX*#.0_-]+", body) or len(set(body)) == 1:
        return "is filler (like `sk-xxxx`), not a key"
    words = re.findall(r"[A-Za-z]+", body)
    stand_in = [w for w in words if w.lower() in _PLACEHOLDER_WORDS]
    letters = sum(len(w) for w in words)
    # Words like "your-api-key-here" spell out the slot; a real key's letters are random runs.
    if stand_in and sum(len(w) for w in stand_in) * 2 >= letters and max(len(w) for w in stand_in) >= 3:
        return "is the text of a template (like `your-api-key-here`), not a key"
    return None


def _first_non_ascii(value: str) -> tuple[int, str] | None:
    for index, char in enumerate(value):
        if ord(char) > 127:
            return index, char
    return None


def _describe_char(char: str) -> str:
    name = unicodedata.name(char, "unnamed character")
    return f"U+{ord(char):04X} {name}"


def universal_problem(value: str) -> str | None:
    """What breaks the HTTP request whatever the server: line breaks, blanks, quotes, `Bearer `, non-ASCII."""
    if "\r" in value or "\n" in value:
        char, what = ("\r", "a carriage return (\\r)") if "\r" in value else ("\n", "a line break")
        if value.rstrip("\r\n") != value and char not in value.rstrip("\r\n"):
            return (
                f"ends with {what}: a Windows line end, kept when a CRLF file is `source`d "
                "or read with `$(cat …)`; the Authorization header cannot carry it"
            )
        return f"has {what} inside it (two lines pasted as one?); the Authorization header cannot carry it"
    if value != value.strip(" \t"):
        return "has spaces or tabs around it, which the SDK sends inside the Authorization header"
    quotes = "\"'“”‘’`"
    if value[:1] in quotes or value[-1:] in quotes:
        return "keeps quote characters as part of the value (quoted twice, or quotes copied with it)"
    if re.match(r"(?i)bearer\s", value):
        return "starts with `Bearer `: the SDK adds that itself, so the server gets `Bearer Bearer …`"
    if re.match(r"(?i)(export\s+)?openai_api_key\s*[=:]", value):
        return "starts with `OPENAI_API_KEY=` itself: the whole line was pasted as the value"
    found = _first_non_ascii(value)
    if found:
        index, char = found
        where = f"character {index + 1} of {len(value)}"
        if 0xFF01 <= ord(char) <= 0xFF5E:
            kind = f"full-width characters ({_describe_char(char)} at {where}), typed with an East Asian input method"
        elif char in _ZERO_WIDTH:
            kind = f"an invisible {_describe_char(char)} at {where}, pasted along with it"
        else:
            kind = f"a non-ASCII character ({_describe_char(char)} at {where})"
        return f"has {kind}: the SDK cannot even send it (UnicodeEncodeError: 'ascii' codec can't encode)"
    return None


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def shape_problem(value: str, host: str) -> KeyProblem | None:
    """Why a key cannot be right for the server at `host`; only judged for hosts whose keys we know."""
    served_by = provider_for_host(host)
    if served_by is None:
        return None  # Ollama, vLLM, a gateway: any string may be accepted
    issuer = issuer_of(value)
    if served_by is not OPENAI:
        if issuer is not None and issuer is not served_by:
            expected = f"{served_by.name} keys start with {served_by.prefixes[0]}" if served_by.prefixes else ""
            return KeyProblem(
                f"is {_article(issuer.name)} {issuer.name} key, but the base URL is {served_by.name}'s ({host})"
                + (f": {expected}" if expected else ""),
                issuer,
            )
        return None
    if issuer is not None and issuer is not OPENAI:
        return KeyProblem(
            f"is {_article(issuer.name)} {issuer.name} key ({issuer.prefixes[0]}…), not an OpenAI key: "
            f"{host} rejects it",
            issuer,
        )
    if not value.startswith("sk-"):
        if value.startswith("eyJ"):
            return KeyProblem("is a JSON Web Token (a login or session token), not an API key")
        if re.fullmatch(r"[0-9a-fA-F]{32}", value):
            return KeyProblem(
                "has the shape of an Azure OpenAI key (32 hex digits); Azure needs its own endpoint "
                "(AZURE_OPENAI_ENDPOINT and the AzureOpenAI client), not api.openai.com"
            )
        return KeyProblem("does not start with `sk-`, as every OpenAI API key does")
    if value.find("sk-", 3) > 20:
        return KeyProblem("holds two keys run together (`sk-` appears twice)")
    if not _OPENAI_CHARS.fullmatch(value):
        odd = sorted({c for c in value if not _OPENAI_CHARS.fullmatch(c)})
        return KeyProblem(f"contains characters no OpenAI key has ({' '.join(repr(c) for c in odd[:5])})")
    if _DEEPSEEK_SHAPE.fullmatch(value):
        deepseek = provider_for_host("api.deepseek.com")
        return KeyProblem("has the shape of a DeepSeek key (`sk-` and 32 hex digits), not an OpenAI key", deepseek)
    if len(value) < _MIN_OPENAI_LENGTH:
        return KeyProblem(f"is only {len(value)} characters; OpenAI keys have 51 or more: was it cut off when copied?")
    if len(value) > _MAX_OPENAI_LENGTH:
        return KeyProblem(f"is {len(value)} characters, longer than any OpenAI key: is more than the key pasted in?")
    return None


def display_url(url: str) -> str:
    """A URL safe to print: a password in it and key-like query values are hidden."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            netloc = "***@" + netloc.rsplit("@", 1)[1]
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            hidden = [(k, "***" if re.search(r"(?i)key|token|secret|sig", k) else v) for k, v in pairs]
            query = urlencode(hidden, safe="*")
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return "(an unparsable URL)"
