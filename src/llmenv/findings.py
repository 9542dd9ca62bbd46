"""The data every check returns and every renderer reads: findings, fixes, check results."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["info", "warn", "fail"]
Status = Literal["ok", "warn", "fail", "skip"]

_SEVERITY_RANK = {"info": 0, "warn": 1, "fail": 2}
_STATUS_RANK = {"skip": 0, "ok": 0, "warn": 1, "fail": 2}


@dataclass(frozen=True)
class Location:
    """A place in a file; `path` is relative to the project when it lies inside it."""

    path: str
    line: int | None = None


@dataclass(frozen=True)
class FileAction:
    """What `--fix` does for an automatic fix: a local, reversible, idempotent file change.

    kind is one of "append-line" (add `text` as a line of `path`), "copy" (copy `source`
    to `path` unless it exists) or "chmod" (set `mode` on `path`).
    """

    kind: Literal["append-line", "copy", "chmod"]
    path: str
    text: str = ""
    source: str = ""
    mode: int = 0


@dataclass(frozen=True)
class Fix:
    """A remedy: a prose summary, optionally a command to run; `auto` when `--fix` applies it."""

    summary: str
    command: str | None = None
    auto: bool = False
    action: FileAction | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.auto and self.action is None:
            raise ValueError("an automatic fix needs the action --fix performs")


@dataclass(frozen=True)
class Finding:
    """One thing a check found. `detail` is shown only with `-v` (timings, raw server text)."""

    code: str
    severity: Severity
    message: str
    location: Location | None = None
    fixes: tuple[Fix, ...] = ()
    detail: str | None = None


@dataclass(frozen=True)
class CheckResult:
    """A check's findings, its derived status and how long it took."""

    id: str
    title: str
    findings: tuple[Finding, ...]
    duration_ms: int = 0
    skipped: bool = False

    @property
    def status(self) -> Status:
        """The worst finding's severity (`info` counts as ok), or `skip`."""
        if self.skipped:
            return "skip"
        worst = max((_SEVERITY_RANK[f.severity] for f in self.findings), default=0)
        return ("ok", "warn", "fail")[worst]


def skipped(reason: str) -> Finding:
    """The one finding of a check that did not run."""
    return Finding("skipped", "info", reason)


def overall_status(results: list[CheckResult]) -> Status:
    """The worst check status; `skip` counts as ok."""
    worst = max((_STATUS_RANK[r.status] for r in results), default=0)
    return ("ok", "warn", "fail")[worst]
