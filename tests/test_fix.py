"""`--fix`: every FileAction kind is idempotent, keeps what it does not change, writes atomically, and dry-runs."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from conftest import assert_no_secret, fake_key

from llmenv.findings import CheckResult, FileAction, Finding, Fix
from llmenv.fix import apply_actions, collect_actions


def _append(path: Path, text: str = ".env") -> FileAction:
    return FileAction("append-line", path=str(path), text=text)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _leftovers(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.endswith(".llmenv-tmp")]


@pytest.mark.parametrize(
    "before, after",
    [
        (b"node_modules/\n", b"node_modules/\n.env\n"),
        (b"node_modules/\r\n*.pyc\r\n", b"node_modules/\r\n*.pyc\r\n.env\r\n"),  # CRLF stays CRLF
        (b"node_modules/", b"node_modules/\n.env\n"),  # the missing final newline is added first
        (b"a\r\nb", b"a\r\nb\r\n.env\r\n"),
        (b"", b".env\n"),
        (b"# comment\n\n!keep.log\n", b"# comment\n\n!keep.log\n.env\n"),
    ],
)
def test_append_line_keeps_every_other_line_and_the_line_endings(tmp_path, before, after):
    gitignore = tmp_path / ".gitignore"
    gitignore.write_bytes(before)
    (outcome,) = apply_actions([_append(gitignore)])
    assert outcome.changed and outcome.error is None
    assert gitignore.read_bytes() == after
    assert _leftovers(tmp_path) == []


def test_append_line_creates_a_missing_file(tmp_path):
    gitignore = tmp_path / ".gitignore"
    (outcome,) = apply_actions([_append(gitignore)])
    assert outcome.changed
    assert gitignore.read_bytes() == b".env\n"
    assert _mode(gitignore) == 0o644


@pytest.mark.parametrize("content", [b".env\n", b"x\r\n.env\r\ny\r\n", b"\xef\xbb\xbf.env\n", b"a\n.env"])
def test_append_line_is_idempotent_when_the_line_is_there(tmp_path, content):
    gitignore = tmp_path / ".gitignore"
    gitignore.write_bytes(content)
    (outcome,) = apply_actions([_append(gitignore)])
    assert not outcome.changed
    assert gitignore.read_bytes() == content


def test_append_line_twice_leaves_one_line(tmp_path):
    gitignore = tmp_path / ".gitignore"
    gitignore.write_bytes(b"venv/\n")
    first = apply_actions([_append(gitignore), _append(gitignore)])
    second = apply_actions([_append(gitignore)])
    assert [o.changed for o in first + second] == [True, False, False]
    assert gitignore.read_bytes() == b"venv/\n.env\n"


def test_append_line_keeps_the_file_mode(tmp_path):
    gitignore = tmp_path / ".gitignore"
    gitignore.write_bytes(b"a\n")
    os.chmod(gitignore, 0o640)
    apply_actions([_append(gitignore)])
    assert _mode(gitignore) == 0o640


def test_append_line_writes_through_a_symlink_and_keeps_the_link(tmp_path):
    target = tmp_path / "shared-ignore"
    target.write_bytes(b"a\n")
    link = tmp_path / ".gitignore"
    link.symlink_to(target)
    apply_actions([_append(link)])
    assert link.is_symlink()
    assert target.read_bytes() == b"a\n.env\n"


def test_append_line_dry_run_shows_a_diff_and_changes_nothing(tmp_path):
    gitignore = tmp_path / ".gitignore"
    gitignore.write_bytes(b"node_modules/")
    (outcome,) = apply_actions([_append(gitignore)], dry_run=True)
    assert outcome.changed
    assert gitignore.read_bytes() == b"node_modules/"
    assert "+.env" in outcome.diff and "-node_modules/" in outcome.diff  # the last line gains its newline
    assert "No newline at end of file" in outcome.diff
    missing = tmp_path / "sub" / ".gitignore"
    missing.parent.mkdir()
    (outcome,) = apply_actions([_append(missing)], dry_run=True)
    assert outcome.changed and "/dev/null" in outcome.diff and "+.env" in outcome.diff
    assert not missing.exists()
    assert _leftovers(tmp_path) == []


def test_copy_creates_the_file_private_and_never_overwrites(tmp_path):
    example, target = tmp_path / ".env.example", tmp_path / ".env"
    example.write_bytes(b"OPENAI_API_KEY=sk-...\r\nOTHER=1\r\n")
    action = FileAction("copy", path=str(target), source=str(example))
    (outcome,) = apply_actions([action])
    assert outcome.changed
    assert target.read_bytes() == example.read_bytes()
    assert _mode(target) == 0o600
    target.write_bytes(b"OPENAI_API_KEY=mine\n")
    (outcome,) = apply_actions([action])
    assert not outcome.changed
    assert target.read_bytes() == b"OPENAI_API_KEY=mine\n"


def test_copy_dry_run_changes_nothing_and_masks_a_key_left_in_the_example(tmp_path):
    key = fake_key()
    example, target = tmp_path / ".env.example", tmp_path / ".env"
    example.write_text(f'OPENAI_API_KEY="{key}"\nMODEL=gpt-4o-mini\n')
    (outcome,) = apply_actions([FileAction("copy", path=str(target), source=str(example))], dry_run=True)
    assert not target.exists()
    assert "+MODEL=gpt-4o-mini" in outcome.diff
    assert "+OPENAI_API_KEY=sk-proj-…" + key[-4:] in outcome.diff
    assert_no_secret(outcome.diff + outcome.description, key)


def test_copy_from_a_missing_source_is_reported_not_raised(tmp_path):
    action = FileAction("copy", path=str(tmp_path / ".env"), source=str(tmp_path / "nope"))
    (outcome,) = apply_actions([action])
    assert outcome.error and not outcome.changed
    assert not (tmp_path / ".env").exists()


def test_chmod_sets_the_mode_once(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_bytes(b"A=1\n")
    os.chmod(env_file, 0o644)
    action = FileAction("chmod", path=str(env_file), mode=0o600)
    (dry,) = apply_actions([action], dry_run=True)
    assert dry.changed and "644" in dry.description and "600" in dry.description
    assert _mode(env_file) == 0o644
    (outcome,) = apply_actions([action])
    assert outcome.changed and _mode(env_file) == 0o600
    (again,) = apply_actions([action])
    assert not again.changed
    assert env_file.read_bytes() == b"A=1\n"


def test_a_failing_action_is_reported_and_the_others_still_run(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_bytes(b"")
    os.chmod(env_file, 0o644)
    actions = [
        _append(tmp_path / "no" / "such" / ".gitignore"),
        FileAction("chmod", path=str(tmp_path / "missing"), mode=0o600),
        FileAction("chmod", path=str(env_file), mode=0o600),
    ]
    outcomes = apply_actions(actions)
    assert [bool(o.error) for o in outcomes] == [True, True, False]
    assert _mode(env_file) == 0o600


def test_collect_actions_takes_automatic_fixes_once_in_report_order(tmp_path):
    ignore = _append(tmp_path / ".gitignore")
    chmod = FileAction("chmod", path=str(tmp_path / ".env"), mode=0o600)
    results = [
        CheckResult("key", "API key", (Finding("x", "warn", "m", fixes=(Fix("manual", "echo hi"),)),)),
        CheckResult(
            "git",
            ".env and git",
            (
                Finding("a", "fail", "m", fixes=(Fix("ignore", auto=True, action=ignore),)),
                Finding(
                    "b", "fail", "m", fixes=(Fix("ignore again", auto=True, action=_append(tmp_path / ".gitignore")),)
                ),
                Finding("c", "warn", "m", fixes=(Fix("chmod", auto=True, action=chmod),)),
            ),
        ),
    ]
    assert collect_actions(results) == [ignore, chmod]
