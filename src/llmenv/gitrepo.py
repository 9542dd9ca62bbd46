"""Asking git about a work tree: bounded, non-interactive calls whose answers come from git itself."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

# The user's own configuration (core.excludesFile, safe.directory, …) must apply, so the environment is
# theirs; these only keep git from asking questions, taking locks, paging, fetching or translating.
_ENV_OVERRIDES = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_OPTIONAL_LOCKS": "0",
    "GIT_NO_LAZY_FETCH": "1",
    "GIT_PAGER": "cat",
    "LC_ALL": "C",
}
# A repository's fsmonitor hook is a program of the repository's choosing; a doctor must not run it.
_SAFE_CONFIG = ("-c", "core.fsmonitor=false")
_CHUNK = 1 << 20


def short_id(object_id: str) -> str:
    """A commit id as people quote it: ten hex digits, unique in any repository of ordinary size."""
    return object_id[:10]


class GitError(Exception):
    """git failed or did not answer in time; the message is one line a person can read."""


@dataclass(frozen=True)
class Git:
    """A git executable, the directory it runs in and the environment it sees."""

    exe: str
    cwd: Path
    env: Mapping[str, str]

    def command(self, args: Iterable[str]) -> list[str]:
        """The full argument vector for `git ARGS`."""
        return [self.exe, *_SAFE_CONFIG, *args]

    def run(self, args: Iterable[str], timeout: float, stdin: bytes | None = None, ok: tuple[int, ...] = (0,)) -> bytes:
        """Run git to completion within `timeout` seconds and return its stdout; raise GitError otherwise."""
        args = list(args)
        try:
            proc = self.start(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError as exc:
            raise GitError(f"cannot run git: {exc.strerror or exc}") from exc
        try:
            out, err = proc.communicate(stdin or b"", timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            stop(proc)
            proc.communicate()
            raise GitError(f"`git {args[0]}` did not answer within {timeout:.1f} s") from exc
        if proc.returncode not in ok:
            raise GitError(_first_error_line(err) or f"`git {args[0]}` exited with {proc.returncode}")
        return out

    def start(self, args: Iterable[str], **popen_args) -> subprocess.Popen:
        """Start git without waiting for it (stdin closed unless the caller gives one); `stop()` ends it."""
        popen_args.setdefault("stdin", subprocess.DEVNULL)
        # Its own process group, so that stopping it also stops what a wrapper script (a `git` shim) started.
        popen_args.setdefault("start_new_session", os.name == "posix")
        return subprocess.Popen(self.command(args), cwd=self.cwd, env=dict(self.env), **popen_args)


def stop(proc: subprocess.Popen) -> None:
    """Kill a process `Git.start` started, with its whole process group; a no-op once it has ended."""
    if proc.poll() is not None:
        return
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except (ProcessLookupError, PermissionError):
        pass


def _first_error_line(stderr: bytes) -> str:
    """git's own complaint, one line, without its `fatal: ` prefix."""
    for line in stderr.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if line:
            for prefix in ("fatal: ", "error: "):
                line = line.removeprefix(prefix)
            return line
    return ""


def find_git(cwd: Path, environ: Mapping[str, str]) -> Git | None:
    """git as found on the user's PATH, set to run in `cwd`; None when there is none."""
    exe = shutil.which("git", path=environ.get("PATH", ""))
    if exe is None:
        return None
    return Git(exe, Path(cwd), {**environ, **_ENV_OVERRIDES})


@dataclass(frozen=True)
class WorkTree:
    """Where the work tree is, where the git's directory lies inside it, and what git can do."""

    top: Path
    prefix: str  # the cwd relative to the top, "" or ending in "/"
    shallow: bool
    version: tuple[int, ...]


def work_tree(git: Git, timeout: float) -> WorkTree | None:
    """The work tree holding git's directory, or None when it is not inside one."""
    try:
        out = git.run(
            ["rev-parse", "--is-inside-work-tree", "--show-toplevel", "--show-prefix", "--is-shallow-repository"],
            timeout,
        )
    except GitError as exc:
        text = str(exc)
        if "not a git repository" in text or "must be run in a work tree" in text:
            return None
        raise
    lines = os.fsdecode(out).splitlines()
    if not lines or lines[0] != "true" or len(lines) < 4:
        return None
    version_text = os.fsdecode(git.run(["version"], timeout)).split()[-1]
    version = tuple(int(part) for part in version_text.split(".")[:3] if part.isdigit())
    return WorkTree(Path(lines[1]), lines[2], lines[3] == "true", version)


@dataclass(frozen=True)
class IgnoreRule:
    """The pattern that decides whether git ignores a path: where it is written and what it says."""

    source: str  # the file, relative to the top for files in the repository, else absolute
    line: int
    pattern: str

    @property
    def ignores(self) -> bool:
        """True unless the pattern is a negation (`!.env`), which un-ignores."""
        return not self.pattern.startswith("!")


def check_ignore(git: Git, paths: list[str], timeout: float) -> dict[str, IgnoreRule | None]:
    """For each path, the rule git applies to it (None: no rule), tracked or not (`--no-index`)."""
    if not paths:
        return {}
    stdin = b"".join(os.fsencode(p) + b"\0" for p in paths)
    out = git.run(["check-ignore", "--no-index", "--stdin", "-z", "-v", "-n"], timeout, stdin=stdin, ok=(0, 1))
    fields = out.split(b"\0")
    rules: dict[str, IgnoreRule | None] = {}
    for i in range(0, len(fields) - 3, 4):
        source, line, pattern, path = (os.fsdecode(f) for f in fields[i : i + 4])
        rules[path] = IgnoreRule(source, int(line), pattern) if source else None
    return rules


def list_files(git: Git, pathspecs: list[str], timeout: float) -> tuple[list[str], list[str]]:
    """(tracked, untracked and not ignored) files matching the pathspecs, relative to git's directory."""
    out = git.run(["ls-files", "-z", "-t", "--cached", "--others", "--exclude-standard", "--", *pathspecs], timeout)
    tracked: list[str] = []
    untracked: list[str] = []
    for record in out.split(b"\0"):
        if len(record) > 2:
            tag, path = record[:1], os.fsdecode(record[2:])
            (untracked if tag == b"?" else tracked).append(path)
    return sorted(set(tracked)), sorted(set(untracked) - set(tracked))


def start_history_paths(git: Git, pathspecs: list[str]) -> subprocess.Popen:
    """Start listing the commits of every ref that add or change a file matching the pathspecs.

    `--full-history` matters: the default history simplification drops a side branch whose merge is
    TREESAME to the main line, so a `.env` committed on a branch later merged with --no-ff (and then
    deleted) would be missed by a plain `git log --all -- .env`.
    """
    args = ["log", "--all", "--full-history", "--diff-filter=d", "--no-renames", "--name-only", "-z"]
    args += ["--format=%x01%H%x02", "--", *pathspecs]
    return git.start(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish_history_paths(proc: subprocess.Popen, timeout: float) -> dict[str, list[str]]:
    """Collect `start_history_paths`: path (relative to the top) → short commit ids, newest first."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        stop(proc)
        proc.communicate()
        raise GitError(f"listing the history's env files took longer than {timeout:.1f} s") from exc
    if proc.returncode != 0:
        raise GitError(_first_error_line(err) or f"`git log` exited with {proc.returncode}")
    found: dict[str, list[str]] = {}
    for chunk in out.split(b"\x01")[1:]:
        commit, _, names = chunk.partition(b"\x02")
        # After the header come a NUL, a newline, then the NUL-terminated names.
        names = names.lstrip(b"\0").removeprefix(b"\n")
        for name in names.split(b"\0"):
            if name:
                found.setdefault(os.fsdecode(name), []).append(short_id(commit.decode("ascii")))
    return found


@dataclass
class BlobSearch:
    """What a search of every reachable blob found, and how far it got before its deadline."""

    hits: dict[str, str] = field(default_factory=dict)  # blob id → a path it was committed under
    blobs: int = 0
    bytes: int = 0
    complete: bool = True
    seconds: float = 0.0
    error: str | None = None


def search_reachable_blobs(git: Git, needle: bytes, budget: float, version: tuple[int, ...] = ()) -> BlobSearch:
    """Read every blob reachable from any ref once and report those holding `needle`, within `budget` s.

    The needle never reaches a command line (it would show in `ps`): it is compared here, in memory.
    """
    started = time.monotonic()
    result = BlobSearch()
    # --missing=allow-any: a partial clone lacks some blobs; searching must not fetch them over the network.
    rev_args = ["rev-list", "--all", "--objects", "--missing=allow-any"]
    if version >= (2, 32):
        rev_args.append("--filter=object:type=blob")  # no trees: they cannot hold a key in clear
    with tempfile.TemporaryFile() as rev_err, tempfile.TemporaryFile() as cat_err:
        rev = git.start(rev_args, stdout=subprocess.PIPE, stderr=rev_err)
        cat = git.start(
            ["cat-file", "--batch=%(objectname) %(objecttype) %(objectsize) %(rest)", "--buffer"],
            stdin=rev.stdout,
            stdout=subprocess.PIPE,
            stderr=cat_err,
        )
        rev.stdout.close()  # cat-file owns the pipe now; rev-list gets SIGPIPE if cat-file dies
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            stop(rev)
            stop(cat)

        watchdog = threading.Timer(max(0.0, budget), expire)
        watchdog.daemon = True
        watchdog.start()
        try:
            _scan_batch(cat.stdout, needle, result)
        finally:
            watchdog.cancel()
            cat.stdout.close()  # a cat-file still writing (we stopped early) gets SIGPIPE and ends
            for proc in (cat, rev):
                try:
                    proc.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    stop(proc)
                    proc.wait()
        if expired.is_set():
            result.complete = False
        elif rev.returncode != 0 or cat.returncode != 0:
            rev_err.seek(0)
            cat_err.seek(0)
            result.complete = False
            result.error = _first_error_line(rev_err.read() + cat_err.read()) or "git could not list the history"
    result.seconds = time.monotonic() - started
    return result


def _scan_batch(stream, needle: bytes, result: BlobSearch) -> None:
    """Read `cat-file --batch` output, searching each blob's bytes; returns at end of stream."""
    keep = max(0, len(needle) - 1)
    while True:
        header = stream.readline()
        if not header:
            return
        parts = header.rstrip(b"\n").split(b" ", 3)
        if len(parts) < 3 or parts[1] == b"missing":
            continue
        oid, kind, size = parts[0].decode("ascii"), parts[1], int(parts[2])
        path = os.fsdecode(parts[3]) if len(parts) > 3 else ""
        left, tail, found = size, b"", False
        while left > 0:
            chunk = stream.read(min(left, _CHUNK))
            if not chunk:
                return  # killed at the deadline, or git failed
            left -= len(chunk)
            if kind == b"blob" and not found:
                window = tail + chunk
                found = needle in window
                tail = window[-keep:] if keep else b""
        if stream.read(1) != b"\n":
            return
        if kind == b"blob":
            result.blobs += 1
            result.bytes += size
            if found:
                result.hits[oid] = path


def count_commits(git: Git, timeout: float) -> int:
    """How many commits every ref reaches together."""
    return int(git.run(["rev-list", "--all", "--count"], timeout).strip() or 0)


def commits_adding(git: Git, blob_ids: Iterable[str], timeout: float) -> dict[str, list[tuple[str, str]]]:
    """For each blob id, the (short commit id, path) pairs of the commits, in any ref, that put it there."""
    wanted = set(blob_ids)
    if not wanted:
        return {}
    args = ["log", "--all", "--no-renames", "--raw", "--no-abbrev", "-z", "--format=%x01%H%x02"]
    out = git.run([*args, *(f"--find-object={oid}" for oid in sorted(wanted))], timeout)
    found: dict[str, list[tuple[str, str]]] = {}
    for chunk in out.split(b"\x01")[1:]:
        commit, _, raw = chunk.partition(b"\x02")
        fields = raw.lstrip(b"\0\n").split(b"\0")
        # Each change is ":modes old new status" then its path (one path: renames are off).
        for meta, path in zip(fields[::2], fields[1::2], strict=False):
            parts = meta.lstrip(b"\n").split()
            oid = parts[3].decode("ascii") if len(parts) >= 4 else ""
            if oid in wanted:
                found.setdefault(oid, []).append((short_id(commit.decode("ascii")), os.fsdecode(path)))
    return found
