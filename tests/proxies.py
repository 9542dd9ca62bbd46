"""Real servers on loopback for the network tests: proxies (proxy.py, pproxy), TLS with a throw-away CA, and
misbehaving ports (refusing, silent, trickling). Each starts in well under a second and stops cleanly."""

from __future__ import annotations

import contextlib
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    """A port nothing listens on right now (the kernel's choice)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_listening(port: int, proc: subprocess.Popen, log: Path, seconds: float = 10) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"proxy exited early: {log.read_text(errors='replace')[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeError("proxy did not start listening")


class SubprocessProxy:
    """A proxy server running as a child process, with its log in a file the tests can read."""

    def __init__(self, args: list[str], port: int, log: Path) -> None:
        self.port, self.log_path = port, log
        self._log_file = log.open("wb")
        self.proc = subprocess.Popen(args, stdout=self._log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def log(self) -> str:
        """Everything the proxy logged so far."""
        self._log_file.flush()
        return self.log_path.read_text(errors="replace")

    def wait_log(self, text: str, seconds: float = 3) -> str:
        """The log once it contains `text` (proxies write access lines after the connection ends)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            log = self.log()
            if text in log:
                return log
            time.sleep(0.05)
        return self.log()

    def stop(self) -> None:
        """Terminate the proxy and wait for it."""
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self._log_file.close()


@contextlib.contextmanager
def proxy_py(tmp: Path, basic_auth: str | None = None) -> Iterator[SubprocessProxy]:
    """An HTTP CONNECT proxy: the `proxy.py` package (optionally requiring `user:password`, answering 407)."""
    port_file = tmp / f"proxy-py-{id(tmp)}-{basic_auth is not None}.port"
    args = [sys.executable, "-m", "proxy", "--hostname", "127.0.0.1", "--port", "0", "--port-file", str(port_file)]
    args += ["--num-workers", "1", "--num-acceptors", "1", "--log-level", "INFO"]
    if basic_auth:
        args += ["--basic-auth", basic_auth]
    log = tmp / (port_file.stem + ".log")
    proc_holder = SubprocessProxy(args, 0, log)
    try:
        end = time.monotonic() + 15
        while not (port_file.exists() and port_file.read_text().strip()):
            if proc_holder.proc.poll() is not None or time.monotonic() > end:
                raise RuntimeError(f"proxy.py did not start: {proc_holder.log()[-2000:]}")
            time.sleep(0.05)
        proc_holder.port = int(port_file.read_text().strip())
        _wait_listening(proc_holder.port, proc_holder.proc, log)
        yield proc_holder
    finally:
        proc_holder.stop()


@contextlib.contextmanager
def pproxy(
    tmp: Path, scheme: str = "socks5", auth: str | None = None, extra: tuple[str, ...] = ()
) -> Iterator[SubprocessProxy]:
    """A SOCKS5 proxy (or `http+ssl` with `--ssl CERT,KEY`, …): the `pproxy` package, verbose, so it logs each
    connection."""
    port = free_port()
    listen = f"{scheme}://127.0.0.1:{port}" + (f"#{auth}" if auth else "")
    log = tmp / f"pproxy-{port}.log"
    proxy = SubprocessProxy([sys.executable, "-u", "-m", "pproxy", "-l", listen, "-v", *extra], port, log)
    try:
        _wait_listening(port, proxy.proc, log)
        yield proxy
    finally:
        proxy.stop()


class _Server:
    """A listening socket served by a thread; subclasses say what to do with each connection."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.requests: list[bytes] = []
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            self._held.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:  # overridden
        pass

    def close(self) -> None:
        """Stop accepting and close every connection."""
        self._stop.set()
        self._thread.join(2)
        self.sock.close()
        for conn in self._held:
            with contextlib.suppress(OSError):
                conn.close()


class SilentServer(_Server):
    """Accepts connections and never sends a byte."""

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(30)
        with contextlib.suppress(OSError):
            while not self._stop.is_set() and conn.recv(4096):
                pass


class TrickleServer(_Server):
    """Accepts, then sends `prefix` and one byte of `body` every `interval` seconds, forever (a slow peer)."""

    def __init__(self, prefix: bytes, interval: float = 0.1) -> None:
        self.prefix, self.interval = prefix, interval
        super().__init__()

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            conn.settimeout(1)
            with contextlib.suppress(TimeoutError):
                conn.recv(4096)
            conn.sendall(self.prefix)
            while not self._stop.is_set():
                conn.sendall(b"x")
                time.sleep(self.interval)


class RefusingProxy(_Server):
    """An HTTP proxy whose policy refuses every CONNECT with `403 Forbidden`, as Squid's `http_access deny`."""

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            conn.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            self.requests.append(data)
            body = b"Access denied by policy"
            conn.sendall(
                b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\nConnection: close\r\n\r\n"
                + body
            )
            conn.close()


class HttpServer(_Server):
    """A plain HTTP server answering every request with 200 and a small JSON body, and garbage (such as a TLS
    ClientHello) with 400 at once, as real servers (uvicorn, nginx) do."""

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            conn.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
                if not data[:1].isalpha():
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    return
            self.requests.append(data)
            body = b'{"object":"list","data":[]}'
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\nConnection: close\r\n\r\n"
                + body
            )


class TlsServer(_Server):
    """A TLS server whose certificate comes from a throw-away `trustme` CA; counts completed handshakes."""

    def __init__(self, tmp: Path) -> None:
        import trustme

        self.ca = trustme.CA()
        self.ca_path = tmp / "throwaway-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_path))
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ca.issue_cert("localhost", "127.0.0.1", "::1").configure_cert(self.context)
        self.handshakes = 0
        super().__init__()

    @property
    def ca_name(self) -> str:
        """The organization in the CA's subject, which findings name as the issuer."""
        return "trustme"

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError, ssl.SSLError):
            conn.settimeout(5)
            tls = self.context.wrap_socket(conn, server_side=True)
            self.handshakes += 1
            with contextlib.suppress(OSError):
                tls.recv(4096)
            tls.close()


class RefusedPort:
    """A port bound but not listening: connections to it are refused, and no one else can take it meanwhile."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def close(self) -> None:
        """Release the port."""
        self.sock.close()
