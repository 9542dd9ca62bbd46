"""Turning results into output: console (rich) and JSON. The only code that knows either."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from llmenv.findings import CheckResult, Finding
from llmenv.secrets.masking import redact


def _scrub_finding(finding: Finding, secrets: set[str]) -> Finding:
    fixes = tuple(
        replace(fix, summary=redact(fix.summary, secrets), command=fix.command and redact(fix.command, secrets))
        for fix in finding.fixes
    )
    return replace(
        finding,
        message=redact(finding.message, secrets),
        detail=finding.detail and redact(finding.detail, secrets),
        fixes=fixes,
    )


def scrub_results(results: Iterable[CheckResult], secrets: set[str]) -> list[CheckResult]:
    """Mask any whole secret a check let slip into a message, fix or detail: the last line of defence."""
    return [replace(r, findings=tuple(_scrub_finding(f, secrets) for f in r.findings)) for r in results]


__all__ = ["scrub_results"]
