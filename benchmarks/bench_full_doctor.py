"""Time the whole `llmenv doctor` (every check, the test completion included) against the local fake API.

The fake OpenAI-compatible server of the tests (`tests/openai_server.py`) runs in this process on
127.0.0.1; the doctor runs as a subprocess, as a user runs it, with `--json`. The script prints the
median wall time, the median of the report's own `duration_ms`, and the share the network steps take:
`network` → `api` → `completion` run one after another (each check's `duration_ms` includes the wait
for the check it needs), so the chain's length is the `completion` check's duration.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from openai_server import Scenario, shared_server  # noqa: E402  (the tests' server, not an installed module)
from scratch import scratch_project  # noqa: E402  (beside this script)


def _run(cmd: list[str], env: dict[str, str], cwd: str) -> tuple[float, dict]:
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        raise SystemExit(f"the doctor printed no JSON report (exit {proc.returncode}):\n{proc.stderr}") from None
    return elapsed, report


def main() -> None:
    """Run the doctor several times against the fake server and print medians and the network share."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    server = shared_server()
    key = server.add_key("sk-proj-" + "b" * 48, Scenario())
    with tempfile.TemporaryDirectory() as tmp:
        project, env = scratch_project(tmp, dotenv=None)
        env["OPENAI_API_KEY"] = key
        cmd = [
            sys.executable,
            "-m",
            "llmenv",
            "doctor",
            "--json",
            "--project",
            str(project),
            "--python",
            sys.executable,
            "--base-url",
            server.base_url,
        ]
        _run(cmd, env, str(project))  # warm the file cache
        walls, totals, chains = [], [], []
        per_check: dict[str, list[int]] = {}
        statuses: dict[str, str] = {}
        for _ in range(args.runs):
            wall, report = _run(cmd, env, str(project))
            checks = {c["id"]: c for c in report["checks"]}
            walls.append(wall * 1000)
            totals.append(report["duration_ms"])
            chains.append(max(checks[c]["duration_ms"] for c in ("network", "api", "completion")))
            for check_id, check in checks.items():
                per_check.setdefault(check_id, []).append(check["duration_ms"])
                statuses[check_id] = check["status"]
    base_url = server.base_url
    server.stop()
    total, chain = statistics.median(totals), statistics.median(chains)
    print(f"llmenv doctor (all checks, completion included) against {base_url}, {args.runs} runs")
    print(f"  wall time, process start to exit : median {statistics.median(walls):7.1f} ms")
    print(f"  report duration_ms (checks+render): median {total:7.1f} ms")
    print(f"  network steps (network→api→completion chain): median {chain:7.1f} ms = {chain / total:.0%} of the report")
    for check_id, values in per_check.items():
        print(f"    {check_id:<11} {statistics.median(values):7.1f} ms  ({statuses[check_id]})")


if __name__ == "__main__":
    main()
