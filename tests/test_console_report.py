"""The human report: flutter-doctor layout, fixes under findings, -v details, colour rules."""

from __future__ import annotations

import io

import pytest

from llmenv.findings import CheckResult, FileAction, Finding, Fix, Location, skipped
from llmenv.render.console import render_console


def _results() -> list[CheckResult]:
    gitignore_fix = Fix(
        "add .env to .gitignore", "echo .env >> .gitignore", True, FileAction("append-line", "/p/.gitignore", ".env")
    )
    return [
        CheckResult("key", "API key", (Finding("key-found", "info", "sk-proj-…abcd from shell"),), 3),
        CheckResult(
            "git",
            ".env and git",
            (
                Finding("env-not-ignored", "fail", ".env is not ignored by git", Location(".env"), (gitignore_fix,)),
                Finding("env-permissions", "warn", "others can read .env", Location(".env", None), detail="mode 644"),
            ),
            7,
        ),
        CheckResult("network", "Network and proxy", (skipped("--offline"),), skipped=True),
    ]


def _render(verbose: bool = False, stream: io.StringIO | None = None) -> str:
    stream = stream or io.StringIO()
    render_console(_results(), 42, verbose, stream)
    return stream.getvalue()


def test_one_line_per_check_with_its_mark_and_a_summary(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    lines = _render().splitlines()
    assert lines[1] == "[✓] API key (sk-proj-…abcd from shell)"
    assert lines[2] == "[✗] .env and git"
    assert "[-] Network and proxy — skipped: --offline" in lines
    assert lines[-1] == "✗ Doctor found issues in 1 check(s): 1 failing. (42 ms)"


def test_findings_show_location_fix_and_command_under_their_check(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    text = _render()
    assert "    ✗ .env is not ignored by git  [.env]" in text
    assert "      → add .env to .gitignore (llmenv doctor --fix does this)" in text
    assert "        $ echo .env >> .gitignore" in text
    assert "mode 644" not in text  # details only with -v
    assert "(env-not-ignored)" not in text


def test_verbose_shows_passing_details_codes_timings_and_detail(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    text = _render(verbose=True)
    assert "[✓] API key  3 ms" in text
    assert "• sk-proj-…abcd from shell" in text and "(key-found)" in text
    assert "mode 644" in text


@pytest.mark.parametrize("no_color, force, ansi", [("1", "1", False), ("", "1", True), ("", "", False)])
def test_colour_only_on_a_terminal_and_never_under_no_color(monkeypatch, no_color, force, ansi):
    monkeypatch.setenv("NO_COLOR", no_color)
    monkeypatch.delenv("TERM", raising=False)
    if force:
        monkeypatch.setenv("FORCE_COLOR", force)  # stands in for a terminal
    else:
        monkeypatch.delenv("FORCE_COLOR", raising=False)
    assert ("\x1b[" in _render()) is ansi


def test_a_stream_that_cannot_encode_the_marks_gets_ascii(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii")
    render_console(_results(), 42, False, stream)
    stream.flush()
    text = raw.getvalue().decode("ascii")
    assert "[x] .env and git" in text and "[+] API key (sk-proj-...abcd from shell)" in text


def test_all_clear_summary(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    stream = io.StringIO()
    render_console([CheckResult("key", "API key", (Finding("key-found", "info", "x"),))], 9, False, stream)
    assert stream.getvalue().splitlines()[-1] == "• No issues found! (9 ms)"
