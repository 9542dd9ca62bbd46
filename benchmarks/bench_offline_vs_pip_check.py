"""Time `llmenv doctor --offline` against `python -m pip check` on the same interpreter.

Runs alternate (doctor, pip check, doctor, …) so both see the same machine load, and the
script prints the median of each and their ratio (doctor / pip check): the target is ≤ 1.0.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time

from scratch import scratch_project


def _time(cmd: list[str], env: dict[str, str], cwd: str) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - started


def main() -> None:
    """Alternate the two commands, then print medians and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        project, env = scratch_project(tmp)
        doctor = [sys.executable, "-m", "llmenv", "doctor", "--offline", "--python", sys.executable]
        pip_check = [sys.executable, "-m", "pip", "check"]
        _time(doctor, env, str(project))  # warm the file cache for both
        _time(pip_check, env, str(project))
        ours, theirs = [], []
        for _ in range(args.runs):
            ours.append(_time(doctor, env, str(project)))
            theirs.append(_time(pip_check, env, str(project)))
    ours_median, theirs_median = statistics.median(ours), statistics.median(theirs)
    print(f"python: {sys.executable}")
    print(f"llmenv doctor --offline : median {ours_median * 1000:7.1f} ms over {args.runs} runs")
    print(f"python -m pip check     : median {theirs_median * 1000:7.1f} ms over {args.runs} runs")
    print(f"ratio (doctor / pip check): {ours_median / theirs_median:.2f}  (target <= 1.0, aim 0.5)")


if __name__ == "__main__":
    main()
