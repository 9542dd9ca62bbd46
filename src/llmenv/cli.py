"""The `llmenv` command line: parse flags, gather the context, run checks, render, exit."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from llmenv import __version__
from llmenv.checks import CHECKS

app = typer.Typer(
    name="llmenv",
    help="A doctor for the environment of OpenAI API (and compatible endpoint) projects.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE = 0, 1, 2


def _usage_error(message: str) -> typer.Exit:
    typer.echo(f"llmenv: error: {message}", err=True)
    return typer.Exit(EXIT_USAGE)


def _parse_ids(raw: str | None, flag: str) -> set[str]:
    if raw is None:
        return set()
    ids = {part.strip() for part in raw.split(",") if part.strip()}
    unknown = sorted(ids - set(CHECKS))
    if unknown:
        raise _usage_error(f"{flag}: unknown check id(s) {', '.join(unknown)}; known: {', '.join(CHECKS)}")
    return ids


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"llmenv {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version_callback, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """llmenv finds what stops your OpenAI API project from working, and says what to do."""


@app.command()
def doctor(
    project: Annotated[Path, typer.Option("--project", help="The project checked.")] = Path("."),
    env_file: Annotated[Path | None, typer.Option("--env-file", help="The dotenv file [default: DIR/.env].")] = None,
    python: Annotated[str | None, typer.Option("--python", help="The interpreter whose packages are checked.")] = None,
    requirements: Annotated[
        list[str] | None, typer.Option("-r", "--requirements", help="Requirements file(s) to check.")
    ] = None,
    base_url: Annotated[str | None, typer.Option("--base-url", help="API base URL.")] = None,
    model: Annotated[str | None, typer.Option("--model", help="Model for the test completion.")] = None,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="Bound on each network operation (s).")] = 10.0,
    offline: Annotated[bool, typer.Option("--offline", help="No network: network checks are skipped.")] = False,
    no_completion: Annotated[bool, typer.Option("--no-completion", help="Send no test completion.")] = False,
    only: Annotated[str | None, typer.Option("--only", help="Run only these check ids (comma-separated).")] = None,
    skip: Annotated[str | None, typer.Option("--skip", help="Skip these check ids (comma-separated).")] = None,
    list_checks: Annotated[bool, typer.Option("--list-checks", help="Print the check ids and titles.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the JSON report, nothing else.")] = False,
    fix: Annotated[bool, typer.Option("--fix", help="Apply the automatic (local, reversible) fixes.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="With --fix: show the changes, make none.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Warnings also exit 1.")] = False,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="Passing details, timings, raw errors.")] = False,
) -> None:
    """Run every check and print a report with fixes (exit 0 ok, 1 a check failed, 2 usage error)."""
    from llmenv.context import Options, gather_context
    from llmenv.runner import run_checks

    if list_checks:
        for check_id, title in CHECKS.items():
            typer.echo(f"{check_id:<12}{title}")
        raise typer.Exit(EXIT_OK)
    selected = _parse_ids(only, "--only") or set(CHECKS)
    selected -= _parse_ids(skip, "--skip")
    if not project.is_dir():
        raise _usage_error(f"--project {project}: no such directory")
    if env_file is not None and env_file.exists() is False and not env_file.is_symlink():
        raise _usage_error(f"--env-file {env_file}: no such file")
    options = Options(
        offline=offline,
        no_completion=no_completion,
        timeout=timeout,
        model=model,
        base_url=base_url,
        python=python,
        requirements=tuple(requirements or ()),
        verbose=verbose,
    )
    started = time.perf_counter()
    ctx = gather_context(project, env_file, options)
    results = run_checks(ctx, selected)
    if fix or dry_run:
        results, ctx = _apply_fixes(results, ctx, selected, dry_run, json_output)
    _emit(results, ctx, int((time.perf_counter() - started) * 1000), json_output, verbose)
    statuses = {r.status for r in results}
    failed = "fail" in statuses or (strict and "warn" in statuses)
    raise typer.Exit(EXIT_PROBLEM if failed else EXIT_OK)


def _apply_fixes(results, ctx, selected, dry_run: bool, json_output: bool):
    """Apply the auto fixes (or show them), then re-check so the report shows the state after fixing."""
    from llmenv.context import gather_context
    from llmenv.fix import apply_actions, collect_actions
    from llmenv.runner import run_checks
    from llmenv.secrets import redact

    stream = sys.stderr if json_output else sys.stdout
    secrets = ctx.known_secrets()

    def say(text: str = "") -> None:
        print(redact(text, secrets), file=stream)

    actions = collect_actions(results)
    if not actions:
        say("Nothing to fix automatically.")
        return results, ctx
    outcomes = apply_actions(actions, dry_run=dry_run)
    say(("Would apply" if dry_run else "Applied") + " these fixes:")
    for outcome in outcomes:
        mark = "✗" if outcome.error else ("•" if outcome.changed else "=")
        say(f"  {mark} {outcome.description}" + (f": {outcome.error}" if outcome.error else ""))
        if dry_run and outcome.diff:
            say("    " + outcome.diff.rstrip("\n").replace("\n", "\n    "))
    say()
    if dry_run or not any(o.changed for o in outcomes):
        return results, ctx
    ctx = gather_context(ctx.project, ctx.env_file, ctx.options, ctx.environ)
    return run_checks(ctx, selected), ctx


def _emit(results, ctx, duration_ms: int, json_output: bool, verbose: bool) -> None:
    from llmenv.render import scrub_results

    results = scrub_results(results, ctx.known_secrets())
    if json_output:
        from llmenv.render.json_report import render_json

        sys.stdout.write(render_json(results, duration_ms) + "\n")
    else:
        from llmenv.render.console import render_console

        render_console(results, duration_ms, verbose, sys.stdout)


def main() -> None:
    """Entry point of the `llmenv` script."""
    app()
