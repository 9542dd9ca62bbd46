"""Time the whole `llmenv doctor --timeout 2` against an API server that accepts connections and never answers.

The doctor promises to end within about one --timeout plus one second whatever the network does; this
starts such a server on 127.0.0.1, runs every check against it as a subprocess a few times, and prints each
wall time and the worst: the target is under 3 s.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import subprocess
import sys
import tempfile
import threading
import time

from scratch import scratch_project

TARGET_SECONDS = 3.0


class SilentServer:
    """Accepts every connection on loopback and never sends a byte, until closed."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self._held.append(conn)  # held open, never read from or written to

    def close(self) -> None:
        """Stop accepting and drop every held connection."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        for conn in self._held:
            with contextlib.suppress(OSError):
                conn.close()


def main() -> None:
    """Run the doctor against the silent server several times; print each wall time and the worst."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=2.0)
    args = parser.parse_args()
    server = SilentServer()
    times: list[float] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            project, env = scratch_project(tmp)
            base_url = f"http://127.0.0.1:{server.port}/v1"
            command = [
                sys.executable,
                "-m",
                "llmenv",
                "doctor",
                "--base-url",
                base_url,
                "--timeout",
                f"{args.timeout:g}",
            ]
            command += ["--python", sys.executable]
            for run in range(1, args.runs + 1):
                started = time.perf_counter()
                proc = subprocess.run(command, env=env, cwd=project, capture_output=True, text=True, check=False)
                elapsed = time.perf_counter() - started
                times.append(elapsed)
                print(f"run {run}: {elapsed:6.2f} s  (exit {proc.returncode})")
            last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr.strip()[-200:]
            print(f"last report line: {last}")
    finally:
        server.close()
    worst = max(times)
    verdict = "OK" if worst < TARGET_SECONDS else "TOO SLOW"
    print(
        f"llmenv doctor --timeout {args.timeout:g} vs a silent server: worst {worst:.2f} s,"
        f" best {min(times):.2f} s over {len(times)} runs (target < {TARGET_SECONDS:g} s): {verdict}"
    )


if __name__ == "__main__":
    main()
