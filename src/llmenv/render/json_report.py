"""The `--json` report of SPEC.md, built from the result dataclasses."""

from __future__ import annotations

import json
from typing import Any

from llmenv import __version__
from llmenv.findings import CheckResult, Finding, overall_status

SCHEMA = 1


def _finding(f: Finding) -> dict[str, Any]:
    return {
        "code": f.code,
        "severity": f.severity,
        "message": f.message,
        "location": None if f.location is None else {"path": f.location.path, "line": f.location.line},
        "fixes": [{"summary": x.summary, "command": x.command, "auto": x.auto} for x in f.fixes],
    }


def report_dict(results: list[CheckResult], duration_ms: int) -> dict[str, Any]:
    """The report as plain data, in the shape SPEC.md fixes."""
    return {
        "tool": "llmenv",
        "version": __version__,
        "schema": SCHEMA,
        "status": overall_status(results),
        "duration_ms": duration_ms,
        "checks": [
            {
                "id": r.id,
                "title": r.title,
                "status": r.status,
                "duration_ms": r.duration_ms,
                "findings": [_finding(f) for f in r.findings],
            }
            for r in results
        ],
    }


def render_json(results: list[CheckResult], duration_ms: int) -> str:
    """The report as JSON text."""
    return json.dumps(report_dict(results, duration_ms), indent=2, ensure_ascii=False)
