"""The `api` check: the effective key against the server (`GET /models`), and the model for the test completion."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlsplit, urlunsplit

from llmenv.checks.network_check import route_blocked
from llmenv.context import Context, Setting
from llmenv.findings import CheckResult, Finding, Fix, skipped
from llmenv.secrets import mask, redact

ID = "api"
TITLE = "API access"
NEEDS = ("network",)

# The codes this check reports as they are; anything else classify() says becomes `api-error`.
_OWN_CODES = {
    "key-invalid",
    "key-no-organization",
    "key-restricted",
    "region-unsupported",
    "model-unavailable",
    "not-an-api-response",
    "response-timeout",
    "server-error",
    "api-unreachable",
    "api-error",
    "insufficient-quota",
    "rate-limited",
}


def run(ctx: Context, needed: dict[str, CheckResult]) -> list[Finding]:
    """Ask the server whether it accepts the key, then choose the model for the test completion."""
    if ctx.options.offline:
        return [skipped("--offline: no network")]
    network = needed.get("network")
    # Only a blocked route stops us: a missing SOCKS package in the user's interpreter is a fail of the
    # network check, yet the API itself is still reachable and worth asking.
    if network is not None and route_blocked(network.findings):
        reason = next((f.message for f in network.findings if f.severity == "fail"), "see the network check")
        return [skipped(f"the network check failed: {reason}")]
    key_setting = ctx.setting("OPENAI_API_KEY")
    if key_setting is None or not key_setting.value.strip():
        return [skipped("no API key; see the key check")]
    key = key_setting.value.strip()
    if not key.isascii() or not key.isprintable() or " " in key:
        return [skipped("the API key holds characters an HTTP header cannot carry; see the key check")]
    return _check(ctx, key, key_setting)


def _check(ctx: Context, key: str, key_setting: Setting) -> list[Finding]:
    import time

    from llmenv.api.classify import classify
    from llmenv.api.client import client_for

    base = ctx.base_url()
    try:
        client = client_for(ctx, key)
    except ValueError as exc:
        return [_problem_finding(classify(exc), ctx, key, key_setting, base)]
    started = time.monotonic()
    with client:
        try:
            models = client.list_models()
        except Exception as exc:  # every failure talking to the server is classified, none escapes
            problem = classify(exc)
            finding = _problem_finding(problem, ctx, key, key_setting, base, time.monotonic() - started)
            if problem.code == "key-restricted":
                # The key works but may not list models: go on with the model asked for, unverified.
                return [finding, *_choose_model(ctx, None, base)]
            return [finding]
    return [_auth_ok(models, key, key_setting, base), *_choose_model(ctx, models, base)]


def display_url(url: str) -> str:
    """`url` without any user:password part, for messages."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _auth_ok(models, key: str, key_setting: Setting, base: str) -> Finding:
    answer = models.response
    org = answer.header("openai-organization")
    project = answer.header("openai-project")
    said = [f"organization {org}" if org else "", f"project {project}" if project else ""]
    where = ", ".join(s for s in said if s)
    message = f"the key {mask(key)} ({key_setting.source}) is accepted by {display_url(base)}"
    message += f" ({where}; {len(models.models)} models)" if where else f" ({len(models.models)} models)"
    detail = (
        f"GET {display_url(answer.url)}: {answer.status} in {answer.total_ms} ms (headers after {answer.headers_ms} ms)"
    )
    if answer.header("x-request-id"):
        detail += f"\nx-request-id: {answer.header('x-request-id')}"
    if answer.header("openai-processing-ms"):
        detail += f"\nopenai-processing-ms: {answer.header('openai-processing-ms')}"
    return Finding("auth-ok", "info", message, detail=detail)


# ---------------------------------------------------------------- the model for the completion


def requested_model(ctx: Context) -> tuple[str | None, str, Setting | None]:
    """The model the user asked for (`--model`, else LLMENV_MODEL), where that came from, and its setting."""
    if ctx.options.model and ctx.options.model.strip():
        return ctx.options.model.strip(), "--model", None
    setting = ctx.setting("LLMENV_MODEL")
    if setting and setting.value.strip():
        return setting.value.strip(), f"LLMENV_MODEL ({setting.source})", setting
    return None, "default", None


def _shutdown_of(model: str, info, base: str) -> tuple[date | None, bool, str | None]:
    """When `model` shuts down, whether it already has, and OpenAI's recommended replacement today.

    A server that lists the model serves it: only its own `shutdown_date` can say it is gone (OpenAI's
    data then only warns ahead, and only for OpenAI's API). A model the server does not list is judged
    by OpenAI's retirements, whatever the server.
    """
    from llmenv.api.models import is_openai_host, replacement_today, retirement

    today = date.today()
    known = retirement(model)
    replacement = replacement_today(model, today) if known else None
    if info is None:
        when = known.shutdown if known else None
        return when, when is not None and when <= today, replacement
    listed = None
    if info.shutdown_date:
        try:
            listed = date.fromisoformat(info.shutdown_date)
        except ValueError:
            listed = None
    if listed is not None:
        return listed, listed <= today, replacement
    if known is not None and is_openai_host(base) and known.shutdown > today:
        return known.shutdown, False, replacement
    return None, False, replacement


def _choose_model(ctx: Context, models, base: str) -> list[Finding]:
    """The model-selected finding (plus model-deprecated or model-unavailable where they apply)."""
    from llmenv.api.models import DEFAULT_MODEL, first_chat_model, is_openai_host
    from llmenv.api.selection import model_selected

    wanted, source, setting = requested_model(ctx)
    ids = models.ids if models is not None else None
    today = date.today()
    unverified = "; not verified: the key may not list models" if models is None else ""
    if wanted is None:
        if ids is None or DEFAULT_MODEL in ids or (not ids and is_openai_host(base)):
            message = f"test completion model: {DEFAULT_MODEL} (the default{unverified})"
            return [model_selected(DEFAULT_MODEL, "default", message)]
        fallback = first_chat_model(ids)
        if fallback is None:
            listed = ", ".join(ids[:8]) + (", …" if len(ids) > 8 else "") if ids else "none"
            return [
                Finding(
                    "model-unavailable",
                    "fail",
                    f"the server lists no chat model to test with (its models: {listed})",
                    fixes=(Fix("load or pull a chat model on the server, or name one with --model / LLMENV_MODEL"),),
                )
            ]
        return [
            model_selected(
                fallback,
                "server list",
                f"test completion model: {fallback}, the first chat model the server lists "
                f"(it does not offer the default {DEFAULT_MODEL}; choose with --model or LLMENV_MODEL)",
            )
        ]
    location = setting.location if setting else None
    info = models.get(wanted) if models is not None else None
    when, gone, replacement = _shutdown_of(wanted, info, base)
    listed_elsewhere = ids is not None and info is None
    if gone and when is not None:
        instead = replacement or "a current model"
        return [
            Finding(
                "model-unavailable",
                "fail",
                f"{wanted} (from {source}) was shut down on {when.isoformat()}; OpenAI recommends {instead}",
                location=location,
                fixes=(_use_model_fix(instead, setting),),
            )
        ]
    if listed_elsewhere and ids:
        chat = [m for m in ids if _chat(m)][:6]
        offer = f"; it offers {', '.join(chat)}" if chat else ""
        return [
            Finding(
                "model-unavailable",
                "fail",
                f"{wanted} (from {source}) is not among the {len(ids)} models this key may use "
                f"at {display_url(base)}{offer}",
                location=location,
                fixes=(_use_model_fix(chat[0] if chat else DEFAULT_MODEL, setting),),
            )
        ]
    found: list[Finding] = []
    if when is not None and when > today:
        instead = replacement or "a current model"
        found.append(
            Finding(
                "model-deprecated",
                "warn",
                f"{wanted} (from {source}) shuts down on {when.isoformat()} ({(when - today).days} days); "
                f"OpenAI recommends {instead}",
                location=location,
                fixes=(_use_model_fix(instead, setting),),
            )
        )
    found.insert(0, model_selected(wanted, source, f"test completion model: {wanted} (from {source}{unverified})"))
    return found


def _chat(model_id: str) -> bool:
    from llmenv.api.models import is_chat_model

    return is_chat_model(model_id)


def _use_model_fix(model: str, setting: Setting | None) -> Fix:
    where = f"LLMENV_MODEL in {setting.source}" if setting else "the model your code and --model name"
    return Fix(f"use {model}: change {where}", command=f"llmenv doctor --model {model}")


# ---------------------------------------------------------------- failures


def _problem_finding(
    problem, ctx: Context, key: str, key_setting: Setting, base: str, elapsed: float | None = None
) -> Finding:
    """The finding for a failed `GET /models`, with the fix that fits where the setting came from."""
    from llmenv.api.classify import COUNTRIES_URL, KEYS_URL, ORGANIZATION_URL
    from llmenv.api.models import is_openai_host

    code = problem.code if problem.code in _OWN_CODES else "api-error"
    url = display_url(base)
    detail = _detail(problem, key, base)
    fixes: tuple[Fix, ...] = ()
    location = None
    message = f"{url}: {problem.message}"
    if problem.kind in ("timeout", "connect-timeout") and elapsed is not None:
        message += f" (gave up after {elapsed:.1f} s)"
    if code == "key-invalid":
        said = problem.server_message or problem.message
        message = f"the key {mask(key)} ({key_setting.source}) is rejected by {url}: {said}"
        location = key_setting.location
        where = f"at {KEYS_URL}" if is_openai_host(base) else f"for {urlsplit(base).hostname}"
        fixes = (Fix(f"create a new key {where} and put it where your program reads it (see the key check)"),)
    elif code == "key-no-organization":
        org = ctx.setting("OPENAI_ORG_ID")
        if org is not None:
            location = org.location
            message = (
                f"OPENAI_ORG_ID={org.value.strip()} ({org.source}) is not an organization of the key "
                f"{mask(key)}: {problem.server_message or problem.message}"
            )
            remove = "unset OPENAI_ORG_ID" if org.source == "shell" else None
            fixes = (
                Fix(
                    f"remove OPENAI_ORG_ID from {org.source} (the key's own organization is then used)", command=remove
                ),
                Fix(f"or set it to an organization ID the key belongs to: {ORGANIZATION_URL}"),
            )
        else:
            fixes = (Fix(f"join or create an organization, then create a new key: {ORGANIZATION_URL}"),)
    elif code == "region-unsupported":
        fixes = (
            Fix(
                f"OpenAI serves only the countries listed at {COUNTRIES_URL}; the request's source address counts, "
                "so a proxy's or VPN's exit country decides"
            ),
        )
    elif code == "key-restricted":
        fixes = (Fix(f"give the key the 'Models: Read' permission, or use an unrestricted key: {KEYS_URL}"),)
    elif code == "not-an-api-response":
        fixes = (_foreign_fix(problem.kind, base),)
    elif code == "response-timeout":
        fixes = (Fix("retry with a longer --timeout; a proxy that holds connections open also looks like this"),)
    elif code == "server-error":
        fixes = (Fix("retry in a while; for OpenAI see https://status.openai.com"),)
    elif code == "api-unreachable":
        fixes = (Fix("see the network check; check the base URL and the proxy variables"),)
    return Finding(code, problem.severity if code == problem.code else "fail", message, location, fixes, detail)


def _foreign_fix(kind: str, base: str) -> Fix:
    if kind == "wrong-url":
        return Fix(
            "set the base URL to the server's API root, e.g. https://api.openai.com/v1 or http://localhost:11434/v1 "
            "(Ollama), with --base-url or OPENAI_BASE_URL"
        )
    if kind == "redirect":
        return Fix("if you trust where it redirects, use that address as the base URL")
    if kind == "proxy-auth":
        return Fix("put the proxy's credentials in its URL (http://user:password@proxy:port) or ask for them")
    return Fix(
        f"open {display_url(base)}/models in a browser on this machine: a proxy login or captive portal page shows "
        "there; or check OPENAI_BASE_URL and the proxy variables"
    )


def _detail(problem, key: str, base: str) -> str | None:
    """For -v: the status, request id and the server's raw answer, with the key masked."""
    lines = []
    if problem.status is not None:
        lines.append(f"HTTP {problem.status} from {display_url(base)}")
    if problem.request_id:
        lines.append(f"x-request-id: {problem.request_id}")
    if problem.raw:
        lines.append("server said: " + problem.raw.strip()[:2000])
    return redact("\n".join(lines), {key}) if lines else None
