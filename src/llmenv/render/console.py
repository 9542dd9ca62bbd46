"""The human report, in the style of `flutter doctor`: one line per check, findings and fixes under it."""

from __future__ import annotations

from typing import IO

from llmenv.findings import CheckResult, Finding, overall_status

_CHECK_MARK = {"ok": ("✓", "green"), "warn": ("!", "yellow"), "fail": ("✗", "red"), "skip": ("-", "dim")}
_FINDING_MARK = {"info": ("•", "dim"), "warn": ("!", "yellow"), "fail": ("✗", "red")}


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


def render_console(results: list[CheckResult], duration_ms: int, verbose: bool, stream: IO[str]) -> None:
    """Print the report to `stream`; colour only on a terminal and never under NO_COLOR."""
    from rich.console import Console

    console = Console(file=stream, highlight=False, soft_wrap=True, emoji=False)
    console.print("Doctor summary" + ("" if verbose else " (to see all details, run llmenv doctor -v)") + ":")
    for result in results:
        console.print(_check_line(result, verbose))
        if result.status == "skip":
            continue
        for finding in result.findings:
            if finding.severity == "info" and not verbose and result.status == "ok":
                continue
            for line in _finding_lines(finding, verbose):
                console.print(line)
    problems = [r for r in results if r.status in ("warn", "fail")]
    status = overall_status(results)
    if not problems:
        console.print(f"\n[green]•[/green] No issues found! ({duration_ms} ms)")
    else:
        fails = sum(r.status == "fail" for r in problems)
        warns = len(problems) - fails
        parts = [f"{n} {kind}" for n, kind in ((fails, "failing"), (warns, "with warnings")) if n]
        mark = "[red]✗[/red]" if status == "fail" else "[yellow]![/yellow]"
        console.print(
            f"\n{mark} Doctor found issues in {len(problems)} check(s): {', '.join(parts)}. ({duration_ms} ms)"
        )
