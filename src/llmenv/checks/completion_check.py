"""The `completion` check: a real, tiny, streamed chat completion; quota and rate-limit status."""

from __future__ import annotations

from llmenv.context import Context
from llmenv.findings import CheckResult, Finding, Fix, skipped
from llmenv.secrets import redact

ID = "completion"
TITLE = "Test completion"
NEEDS = ("api",)


def run(ctx: Context, needed: dict[str, CheckResult]) -> list[Finding]:
    """Stream "Say this is a test" from the model the api check chose, and say what came back."""
    from llmenv.api.selection import selected_model

    if ctx.options.offline:
        return [skipped("--offline: no network")]
    if ctx.options.no_completion:
        return [skipped("--no-completion")]
    api = needed.get("api")
    if api is None or api.skipped:
        reason = api.findings[0].message if api is not None and api.findings else "it did not run"
        return [skipped(f"the api check was skipped: {reason}")]
    selection = selected_model(api)
    if selection is None:
        return [skipped("the API did not accept the key or offers no usable model; see the api check")]
    key_setting = ctx.setting("OPENAI_API_KEY")
    if key_setting is None or not key_setting.value.strip():
        return [skipped("no API key; see the key check")]
    return _complete(ctx, key_setting.value.strip(), selection.model)


def _complete(ctx: Context, key: str, model: str) -> list[Finding]:
    from llmenv.api.classify import classify
    from llmenv.api.client import client_for
    from llmenv.api.models import completion_request, request_after_rejection

    body = completion_request(model, ctx.base_url())
    steps: list[str] = []
    note = ""
    with client_for(ctx, key) as client:
        try:
            completion = client.complete(body)
        except Exception as exc:  # every failure is classified; a 400 on one parameter earns one retry
            problem = classify(exc)
            steps.append(_step_line(body, problem=problem))
            retry = None
            if problem.status == 400 and problem.error_code in ("unsupported_parameter", "unsupported_value"):
                retry = request_after_rejection(body, problem.param)
            if retry is None:
                return _failure(problem, model, key, steps)
            note = _retry_note(body, retry, problem.param)
            body = retry
            try:
                completion = client.complete(body)
            except Exception as exc2:  # the one retry failed too: report that failure
                problem = classify(exc2)
                steps.append(_step_line(body, problem=problem))
                return _failure(problem, model, key, steps, note)
    steps.append(_step_line(body, completion=completion))
    if completion.model and completion.model != model:
        steps.append(f"served by {completion.model}")
    return _success(completion, model, note, steps)


def _retry_note(before: dict, after: dict, param: str | None) -> str:
    added = sorted(set(after) - set(before))
    if added:
        return f" (after retrying with {added[0]} instead of {param}, which the model rejects)"
    return f" (after retrying without {param}, which the model rejects)"


def _step_line(body: dict, completion=None, problem=None) -> str:
    """One line of -v detail per request: what was sent and how long each part took."""
    sent = ", ".join(f"{k}={body[k]}" for k in ("max_tokens", "max_completion_tokens", "reasoning_effort") if k in body)
    head = f"POST /chat/completions ({sent})"
    if completion is not None:
        answer = completion.response
        first = f"{completion.first_token_ms} ms" if completion.first_token_ms is not None else "none"
        line = (
            f"{head}: {answer.status}, headers after {answer.headers_ms} ms, first token after {first}, "
            f"done after {completion.total_ms} ms, {completion.chunks} chunk(s)"
        )
        if answer.header("x-request-id"):
            line += f"; x-request-id {answer.header('x-request-id')}"
        return line
    status = f"{problem.status}" if problem.status is not None else "no answer"
    line = f"{head}: {status} ({problem.kind})"
    if problem.request_id:
        line += f"; x-request-id {problem.request_id}"
    return line


def _seconds(ms: int) -> str:
    if ms < 1000:
        return f"{ms} ms"
    return f"{ms / 1000:.2f} s" if ms < 10_000 else f"{ms / 1000:.1f} s"


def _success(completion, model: str, note: str, steps: list[str]) -> list[Finding]:
    from llmenv.api.classify import rate_limit_budgets

    text = " ".join(completion.text.split())
    said = f"answered {text[:120]!r}" if text else _no_text(completion)
    timing = f"in {_seconds(completion.total_ms)}"
    if completion.first_token_ms is not None and completion.streamed:
        timing += f" (first token after {_seconds(completion.first_token_ms)})"
    usage = completion.usage or {}
    total = usage.get("total_tokens")
    tokens = f"{total} tokens used" if isinstance(total, int) else "the server reported no token usage"
    if isinstance(total, int) and isinstance(usage.get("prompt_tokens"), int):
        tokens += f" ({usage['prompt_tokens']} in, {usage.get('completion_tokens', '?')} out)"
    streamed = "" if completion.streamed else "; the server ignored stream: true and sent the whole answer at once"
    findings = [
        Finding(
            "completion-ok",
            "info",
            f"{model} {said} {timing}, {tokens}{streamed}{note}",
            detail="\n".join(steps),
        )
    ]
    budgets = rate_limit_budgets(completion.response.headers)
    if budgets:
        findings.append(Finding("rate-limits", "info", "rate limits: " + "; ".join(b.describe() for b in budgets)))
    return findings


def _no_text(completion) -> str:
    if completion.finish_reason == "length":
        return "used its whole token budget before writing any text (a reasoning model thinking first)"
    return "answered with no text"


def _failure(problem, model: str, key: str, steps: list[str], note: str = "") -> list[Finding]:
    from llmenv.api.classify import BILLING_URL, KEYS_URL, LIMITS_URL, format_duration, rate_limit_budgets

    detail_lines = list(steps)
    if problem.raw:
        detail_lines.append("server said: " + problem.raw.strip()[:2000])
    detail = redact("\n".join(detail_lines), {key}) or None
    findings: list[Finding] = []
    if problem.code == "insufficient-quota":
        findings.append(
            Finding(
                "insufficient-quota",
                "fail",
                f"no credit left: the API refuses the test completion with {model} ({_said(problem)}): "
                f"{problem.server_message or problem.message}{note}",
                fixes=(
                    Fix(f"check the credit balance and add credit (prepaid credit used up or expired): {BILLING_URL}"),
                    Fix(
                        f"if credit is left, check the monthly budget of the organization and the project: {LIMITS_URL}"
                    ),
                    Fix(
                        "credit added a moment ago can take a few minutes to count; if the error stays, "
                        f"create a new key and use it: {KEYS_URL}"
                    ),
                ),
                detail=detail,
            )
        )
    elif problem.code == "rate-limited":
        which = f"the {problem.limit} limit" if problem.limit else "a rate limit"
        when = f"; it resets in {format_duration(problem.retry_after_s)}" if problem.retry_after_s is not None else ""
        findings.append(
            Finding(
                "rate-limited",
                "warn",
                f"{model} hit {which}{when}: {problem.server_message or problem.message}{note}",
                fixes=(Fix(f"wait and retry; send fewer requests or tokens, or see your usage tier at {LIMITS_URL}"),),
                detail=detail,
            )
        )
    else:
        label = "" if problem.code == "completion-failed" else f" ({problem.code})"
        findings.append(
            Finding(
                "completion-failed",
                "fail",
                f"the test completion with {model} failed{label}: {problem.message}{note}",
                fixes=_failure_fixes(problem),
                detail=detail,
            )
        )
    budgets = rate_limit_budgets(problem.headers)
    if budgets:
        findings.append(Finding("rate-limits", "info", "rate limits: " + "; ".join(b.describe() for b in budgets)))
    return findings


def _said(problem) -> str:
    return f"{problem.status or ''} {problem.error_code or problem.error_type or ''}".strip()


def _failure_fixes(problem) -> tuple[Fix, ...]:
    if problem.kind == "stream-cut":
        return (Fix("retry; if it repeats, a proxy between you and the API may buffer or cut event streams"),)
    if problem.code == "response-timeout":
        return (Fix("retry with a longer --timeout"),)
    if problem.code == "server-error" or problem.kind == "stream-error":
        return (Fix("retry in a while; for OpenAI see https://status.openai.com"),)
    if problem.code == "model-unavailable":
        return (Fix("choose another model with --model or LLMENV_MODEL"),)
    return ()
