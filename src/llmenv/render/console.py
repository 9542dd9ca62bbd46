"""The human report, in the style of `flutter doctor`: one line per check, findings and fixes under it."""

from __future__ import annotations

import os
from typing import IO

from llmenv.findings import CheckResult, Finding, overall_status

_CHECK_MARK = {"ok": ("✓", "green"), "warn": ("!", "yellow"), "fail": ("✗", "red"), "skip": ("-", "dim")}
_FINDING_MARK = {"info": ("•", "dim"), "warn": ("!", "yellow"), "fail": ("✗", "red")}
# For a terminal whose encoding cannot show the marks above (a legacy code page, LANG=C on old systems).
_ASCII = str.maketrans({"✓": "+", "✗": "x", "•": "-", "→": ">", "…": "...", "—": "-"})


def _can_encode(stream: IO[str], sample: str = "✓✗•→…") -> bool:
    try:
        sample.encode(getattr(stream, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def _check_line(result: CheckResult, verbose: bool):
    from rich.text import Text

    mark, style = _CHECK_MARK[result.status]
    line = Text.assemble(("[", "bold"), (mark, f"bold {style}"), ("] ", "bold"), (result.title, "bold"))
    if result.status == "skip":
        line.append(f" — skipped: {result.findings[0].message}", style="dim")
    elif result.status == "ok" and result.findings and not verbose:
        line.append(f" ({result.findings[0].message})")
    if verbose:
        line.append(f"  {result.duration_ms} ms", style="dim")
    return line


def _finding_lines(finding: Finding, verbose: bool):
    from rich.text import Text

    mark, style = _FINDING_MARK[finding.severity]
    where = ""
    if finding.location is not None:
        where = finding.location.path + (f":{finding.location.line}" if finding.location.line else "")
    head = Text.assemble("    ", (mark, style), " ", finding.message)
    if where:
        head.append(f"  [{where}]", style="cyan")
    if verbose:
        head.append(f"  ({finding.code})", style="dim")
    yield head
    for fix in finding.fixes:
        yield Text.assemble("      → ", fix.summary, (" (llmenv doctor --fix does this)" if fix.auto else "", "green"))
        if fix.command:
            yield Text.assemble("        $ ", (fix.command, "bold"))
    if verbose and finding.detail:
        for detail_line in finding.detail.rstrip().splitlines():
            yield Text("        " + detail_line, style="dim")


def _report_lines(results: list[CheckResult], duration_ms: int, verbose: bool):
    """Every line of the report, as rich Text, in order."""
    from rich.text import Text

    yield Text("Doctor summary" + ("" if verbose else " (to see all details, run llmenv doctor -v)") + ":")
    for result in results:
        yield _check_line(result, verbose)
        if result.status == "skip":
            continue
        for finding in result.findings:
            if finding.severity == "info" and not verbose and result.status == "ok":
                continue
            yield from _finding_lines(finding, verbose)
    yield Text()
    problems = [r for r in results if r.status in ("warn", "fail")]
    if not problems:
        yield Text.assemble(("•", "green"), f" No issues found! ({duration_ms} ms)")
        return
    fails = sum(r.status == "fail" for r in problems)
    warns = len(problems) - fails
    parts = [f"{n} {kind}" for n, kind in ((fails, "failing"), (warns, "with warnings")) if n]
    mark = ("✗", "red") if overall_status(results) == "fail" else ("!", "yellow")
    summary = f" Doctor found issues in {len(problems)} check(s): {', '.join(parts)}. ({duration_ms} ms)"
    yield Text.assemble(mark, summary)


def render_console(results: list[CheckResult], duration_ms: int, verbose: bool, stream: IO[str]) -> None:
    """Print the report to `stream`; colour only on a terminal and never under NO_COLOR."""
    from rich.console import Console
    from rich.text import Text

    # no-color.org: a non-empty NO_COLOR turns off every escape sequence, bold included.
    plain = bool(os.environ.get("NO_COLOR"))
    console = Console(
        file=stream,
        highlight=False,
        soft_wrap=True,
        emoji=False,
        color_system=None if plain else "auto",
        no_color=plain,
    )
    encoding = getattr(stream, "encoding", None) or "utf-8"
    ascii_only = not _can_encode(stream)
    for line in _report_lines(results, duration_ms, verbose):
        if ascii_only:
            # Whatever else the stream cannot carry (a key's full-width characters…) becomes "?".
            line = Text(line.plain.translate(_ASCII).encode(encoding, "replace").decode(encoding))
        console.print(line)
