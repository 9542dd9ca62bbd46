"""Timed network steps on plain sockets — DNS, TCP, HTTP CONNECT, SOCKS, TLS — each bound by one deadline.

Every read and write re-arms the socket timeout from the deadline, so a peer that trickles one byte at
a time cannot stretch a step beyond it; DNS runs in a daemon thread that is abandoned at the deadline.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ssl

_MAX_HEAD = 64 * 1024


class Deadline:
    """An absolute point in time (monotonic clock) that every step of a probe must finish by."""

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + max(0.0, seconds)

    def left(self) -> float:
        """Seconds left, possibly negative."""
        return self.at - time.monotonic()

    def budget(self) -> float:
        """Seconds to give a blocking call: what is left, raising `ProbeError("timeout")` when nothing is."""
        left = self.left()
        if left <= 0:
            raise ProbeError("timeout", "out of time")
        return left


class ProbeError(Exception):
    """A step failed. `kind` is one of: dns, refused, unreachable, timeout, closed, protocol,
    tls-verify, tls, proxy-auth, proxy-refused."""

    def __init__(self, kind: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status


@dataclass
class Step:
    """One timed step and how it ended."""

    name: str
    ms: float
    outcome: str


@dataclass
class StepLog:
    """The steps of a probe in order, for `-v` details."""

    steps: list[Step] = field(default_factory=list)

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time the enclosed block as step `name`, recording whether it failed."""
        started = time.perf_counter()
        try:
            yield
        except ProbeError as exc:
            self.steps.append(Step(name, (time.perf_counter() - started) * 1000, f"failed: {exc.message}"))
            raise
        self.steps.append(Step(name, (time.perf_counter() - started) * 1000, "ok"))

    def ms(self, name: str) -> float | None:
        """The duration of the last step called `name`, if it ran."""
        return next((s.ms for s in reversed(self.steps) if s.name == name), None)

    def text(self) -> str:
        """One line per step: name, milliseconds, outcome."""
        return "\n".join(f"{s.name}: {s.ms:.1f} ms, {s.outcome}" for s in self.steps)


class Channel:
    """A connected socket whose sends and receives are bound by a deadline."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def send_all(self, data: bytes, deadline: Deadline) -> None:
        """Send everything before the deadline."""
        view = memoryview(data)
        while view:
            self.sock.settimeout(deadline.budget())
            try:
                sent = self.sock.send(view)
            except TimeoutError:
                raise ProbeError("timeout", "the peer stopped reading") from None
            except OSError as exc:
                raise ProbeError("closed", f"the connection broke while sending ({_reason(exc)})") from None
            view = view[sent:]

    def recv_some(self, deadline: Deadline, size: int = 65536) -> bytes:
        """Up to `size` bytes; b"" when the peer closed the connection."""
        self.sock.settimeout(deadline.budget())
        try:
            return self.sock.recv(size)
        except TimeoutError:
            raise ProbeError("timeout", "no answer") from None
        except ConnectionResetError:
            raise ProbeError("closed", "the connection was reset") from None
        except OSError as exc:
            raise ProbeError("closed", f"the connection broke ({_reason(exc)})") from None

    def recv_exact(self, count: int, deadline: Deadline) -> bytes:
        """Exactly `count` bytes, or ProbeError("closed") when the peer closes first."""
        data = b""
        while len(data) < count:
            chunk = self.recv_some(deadline, count - len(data))
            if not chunk:
                raise ProbeError("closed", "the connection closed mid-answer")
            data += chunk
        return data

    def close(self) -> None:
        """Close the socket, ignoring errors."""
        with contextlib.suppress(OSError):
            self.sock.close()


class TlsChannel(Channel):
    """TLS spoken over another channel (a tunnel, or TLS to an HTTPS proxy) through memory BIOs."""

    def __init__(self, inner: Channel, sslobj: ssl.SSLObject, incoming: ssl.MemoryBIO, outgoing: ssl.MemoryBIO):
        super().__init__(inner.sock)
        self.inner, self.sslobj, self.incoming, self.outgoing = inner, sslobj, incoming, outgoing

    def _flush(self, deadline: Deadline) -> None:
        pending = self.outgoing.read()
        if pending:
            self.inner.send_all(pending, deadline)

    def send_all(self, data: bytes, deadline: Deadline) -> None:
        """Encrypt and send everything before the deadline."""
        self.sslobj.write(data)
        self._flush(deadline)

    def recv_some(self, deadline: Deadline, size: int = 65536) -> bytes:
        """Up to `size` decrypted bytes; b"" at the end of the stream."""
        import ssl

        while True:
            try:
                return self.sslobj.read(size)
            except ssl.SSLWantReadError:
                data = self.inner.recv_some(deadline)
                if data:
                    self.incoming.write(data)
                else:
                    self.incoming.write_eof()
            except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
                return b""
            except ssl.SSLError as exc:
                raise ProbeError("closed", f"TLS error ({exc.reason or exc})") from None


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def resolve(host: str, port: int, deadline: Deadline) -> list[tuple[int, tuple]]:
    """The addresses of `host` (family, sockaddr), asked of the system resolver; bound by the deadline."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
        return [(family, (host, port, 0, 0) if address.version == 6 else (host, port))]
    result: list = []

    def ask() -> None:
        """Resolve on the worker thread, keeping the answer or the error."""
        try:
            result.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except (OSError, UnicodeError) as exc:
            result.append(exc)

    # A daemon thread, not an executor: a resolver that hangs must not hold the process at exit.
    worker = threading.Thread(target=ask, name="llmenv-dns", daemon=True)
    worker.start()
    worker.join(deadline.budget())
    if not result:
        raise ProbeError("dns", f"the resolver did not answer for {host} within the timeout")
    answer = result[0]
    if isinstance(answer, Exception):
        detail = answer.strerror if isinstance(answer, OSError) and answer.strerror else str(answer)
        raise ProbeError("dns", f"{host} does not resolve ({detail})")
    seen: list[tuple[int, tuple]] = []
    for family, _type, _proto, _name, sockaddr in answer:
        if (family, sockaddr) not in seen:
            seen.append((family, sockaddr))
    return seen


def tcp_connect(addresses: list[tuple[int, tuple]], deadline: Deadline) -> Channel:
    """Connect to the first address that accepts, trying them in order as requests (urllib3) does."""
    errors: list[OSError] = []
    for family, sockaddr in addresses:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(deadline.budget())
        try:
            sock.connect(sockaddr)
        except TimeoutError:
            sock.close()
            raise ProbeError("timeout", "no TCP connection within the timeout") from None
        except OSError as exc:
            sock.close()
            errors.append(exc)
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return Channel(sock)
    if any(isinstance(e, ConnectionRefusedError) for e in errors):
        raise ProbeError("refused", "connection refused")
    reason = _reason(errors[0]) if errors else "no address"
    raise ProbeError("unreachable", reason)


def read_http_head(channel: Channel, deadline: Deadline) -> tuple[int, str, bytes]:
    """Read an HTTP response head: (status, status line, bytes after the head)."""
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > _MAX_HEAD:
            raise ProbeError("protocol", "an answer head larger than 64 KiB")
        try:
            chunk = channel.recv_some(deadline)
        except ProbeError as exc:
            if exc.kind == "timeout" and data:
                raise ProbeError("timeout", "an incomplete answer within the timeout") from None
            raise
        if not chunk:
            if not data:
                raise ProbeError("closed", "closed the connection without answering")
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1", "replace").strip()
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        shown = status_line[:60] if status_line.isprintable() else repr(data[:24])
        raise ProbeError("protocol", f"not an HTTP answer: {shown}")
    return int(parts[1]), status_line, rest


def _basic_auth(username: str | None, password: str | None) -> str:
    if username is None:
        return ""
    token = base64.b64encode(f"{username}:{password or ''}".encode()).decode("ascii")
    return f"Proxy-Authorization: Basic {token}\r\n"


def _authority(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def http_connect(
    channel: Channel, host: str, port: int, username: str | None, password: str | None, deadline: Deadline
) -> bytes:
    """Open a CONNECT tunnel to host:port through an HTTP proxy; returns any bytes that followed the answer."""
    target = _authority(host, port)
    request = f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n{_basic_auth(username, password)}\r\n"
    channel.send_all(request.encode("idna" if not host.isascii() else "ascii"), deadline)
    status, line, rest = read_http_head(channel, deadline)
    if status == 407:
        raise ProbeError("proxy-auth", line, status)
    if not 200 <= status < 300:
        raise ProbeError("proxy-refused", line, status)
    return rest


def http_forward(
    channel: Channel, url: str, host: str, port: int, username: str | None, password: str | None, deadline: Deadline
) -> tuple[int, str]:
    """Send `HEAD url` through an HTTP proxy (how clients send plain-http requests); returns its status."""
    bracketed = f"[{host}]" if ":" in host else host
    host_header = bracketed if port == 80 else _authority(host, port)
    auth = _basic_auth(username, password)
    request = f"HEAD {url} HTTP/1.1\r\nHost: {host_header}\r\nConnection: close\r\n{auth}\r\n"
    channel.send_all(request.encode("ascii", "replace"), deadline)
    status, line, _rest = read_http_head(channel, deadline)
    if status == 407:
        raise ProbeError("proxy-auth", line, status)
    return status, line


_SOCKS5_REPLIES = {
    1: "general SOCKS server failure",
    2: "connection not allowed by ruleset",
    3: "network unreachable",
    4: "host unreachable",
    5: "connection refused",
    6: "TTL expired",
    7: "command not supported",
    8: "address type not supported",
}


def socks5_connect(
    channel: Channel,
    host: str,
    port: int,
    username: str | None,
    password: str | None,
    deadline: Deadline,
) -> None:
    """The SOCKS5 handshake (RFC 1928, user/password per RFC 1929) asking for host:port.

    `host` is sent as a name (the proxy resolves it, socks5h) unless it is an IP address.
    """
    # Offer user/password even without credentials: a proxy that needs them then says so, where some
    # (pproxy) would otherwise just hang up on a "no authentication" offer.
    channel.send_all(b"\x05\x02\x00\x02", deadline)
    reply = channel.recv_some(deadline, 2)
    if len(reply) == 1:
        reply += channel.recv_exact(1, deadline)
    if not reply:
        raise ProbeError("protocol", "hung up at the SOCKS5 greeting: not a SOCKS5 proxy, or it refuses us")
    if reply[0] != 5:
        raise ProbeError("protocol", f"not a SOCKS5 proxy (it answered {reply[:8]!r})")
    if reply[1] == 0xFF:
        if username is None:
            raise ProbeError("proxy-auth", "the SOCKS5 proxy requires a username and password")
        raise ProbeError("proxy-auth", "the SOCKS5 proxy accepts none of the offered authentication methods")
    if reply[1] == 2:
        if username is None:
            raise ProbeError("proxy-auth", "the SOCKS5 proxy requires a username and password")
        user, pw = username.encode(), (password or "").encode()
        channel.send_all(b"\x01" + bytes([len(user)]) + user + bytes([len(pw)]) + pw, deadline)
        status = channel.recv_exact(2, deadline)
        if status[1] != 0:
            raise ProbeError("proxy-auth", "the SOCKS5 proxy rejected the username and password")
    elif reply[1] != 0:
        raise ProbeError("protocol", f"the SOCKS5 proxy chose an unknown method {reply[1]}")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        name = host.encode("idna")
        dest = b"\x03" + bytes([len(name)]) + name
    else:
        dest = (b"\x01" if address.version == 4 else b"\x04") + address.packed
    channel.send_all(b"\x05\x01\x00" + dest + struct.pack(">H", port), deadline)
    head = channel.recv_exact(4, deadline)
    if head[0] != 5:
        raise ProbeError("protocol", "a malformed SOCKS5 answer")
    if head[1] != 0:
        reason = _SOCKS5_REPLIES.get(head[1], f"error {head[1]}")
        raise ProbeError("proxy-refused", f"SOCKS5 reply: {reason}", head[1])
    # Consume the bound address so the tunnel starts clean.
    kind = head[3]
    length = {1: 4, 4: 16}.get(kind)
    if length is None:
        length = channel.recv_exact(1, deadline)[0]
    channel.recv_exact(length + 2, deadline)


def socks4_connect(
    channel: Channel, host: str, port: int, username: str | None, remote_dns: bool, deadline: Deadline
) -> None:
    """The SOCKS4 (IPv4 address) or SOCKS4a (`remote_dns`: the proxy resolves the name) handshake."""
    user = (username or "").encode() + b"\x00"
    if remote_dns:
        request = b"\x04\x01" + struct.pack(">H", port) + b"\x00\x00\x00\x01" + user + host.encode("idna") + b"\x00"
    else:
        request = b"\x04\x01" + struct.pack(">H", port) + socket.inet_aton(host) + user
    channel.send_all(request, deadline)
    reply = channel.recv_exact(8, deadline)
    if reply[1] == 0x5A:
        return
    if reply[1] in (0x5C, 0x5D):
        raise ProbeError("proxy-auth", "the SOCKS4 proxy could not confirm the user id (identd)", reply[1])
    if reply[1] == 0x5B:
        raise ProbeError("proxy-refused", "SOCKS4 reply: request rejected or failed", reply[1])
    raise ProbeError("protocol", f"not a SOCKS4 proxy (it answered {reply[:2]!r})")


def tls_handshake(
    channel: Channel, context: ssl.SSLContext, server_hostname: str, deadline: Deadline, leftover: bytes = b""
) -> TlsChannel:
    """A TLS handshake over `channel` (a socket or a tunnel), pumped by hand so the deadline bounds it whole."""
    import ssl

    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    if leftover:
        incoming.write(leftover)
    sslobj = context.wrap_bio(incoming, outgoing, server_hostname=server_hostname)
    tls = TlsChannel(channel, sslobj, incoming, outgoing)
    while True:
        try:
            sslobj.do_handshake()
            tls._flush(deadline)
            return tls
        except ssl.SSLWantReadError:
            tls._flush(deadline)
            try:
                data = channel.recv_some(deadline)
            except ProbeError as exc:
                if exc.kind == "timeout":
                    raise ProbeError("timeout", "no TLS handshake within the timeout") from None
                raise ProbeError("tls", f"{exc.message} during the TLS handshake") from None
            if data:
                incoming.write(data)
            else:
                incoming.write_eof()
        except ssl.SSLCertVerificationError as exc:
            raise ProbeError("tls-verify", exc.verify_message or exc.reason or str(exc)) from None
        except ssl.SSLEOFError:
            raise ProbeError("tls", "the connection closed during the TLS handshake") from None
        except ssl.SSLError as exc:
            reason = (exc.reason or str(exc)).replace("_", " ").lower()
            raise ProbeError("tls", f"TLS handshake failed ({reason})") from None


def unverified_context() -> ssl.SSLContext:
    """A client context that accepts any certificate: only to read what the server presents."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def verifying_context(cafile: str | None, capath: str | None) -> ssl.SSLContext:
    """A client context trusting exactly `cafile`/`capath` (no CA at all when both are None)."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cafile or capath:
        context.load_verify_locations(cafile, capath)
    return context


def describe_certificate(der: bytes) -> dict[str, str]:
    """Subject, issuer and expiry of a DER certificate, decoded by the ssl module (empty if it cannot)."""
    import os
    import ssl
    import tempfile

    decode = getattr(getattr(ssl, "_ssl", None), "_test_decode_cert", None)
    if decode is None:
        return {}
    fd, path = tempfile.mkstemp(suffix=".pem")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(ssl.DER_cert_to_PEM_cert(der))
        info = decode(path)
    except (OSError, ValueError, ssl.SSLError):
        return {}
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)

    return {
        "subject": certificate_name(info.get("subject", ())),
        "issuer": certificate_name(info.get("issuer", ())),
        "not_after": str(info.get("notAfter", "")),
    }


def certificate_name(rdns: tuple) -> str:
    """A distinguished name from `getpeercert()` form as `CN=…, O=…, OU=…`."""
    wanted = {"commonName": "CN", "organizationName": "O", "organizationalUnitName": "OU"}
    return ", ".join(f"{wanted[k]}={v}" for rdn in rdns for k, v in rdn if k in wanted)


def detect_proxy_protocol(host: str, port: int, deadline: Deadline) -> str | None:
    """What a listening port speaks: "http", "socks5", "unknown" (open, unrecognised), or None (closed)."""
    addresses = [(socket.AF_INET, (host, port))]
    try:
        channel = tcp_connect(addresses, deadline)
    except ProbeError:
        return None
    try:
        # An HTTP proxy (or a mixed HTTP/SOCKS port) answers any HTTP request with a status line.
        channel.send_all(b"OPTIONS * HTTP/1.0\r\n\r\n", deadline)
        if channel.recv_some(deadline, 16).startswith(b"HTTP/"):
            return "http"
    except ProbeError:
        pass
    finally:
        channel.close()
    try:
        channel = tcp_connect(addresses, deadline)
    except ProbeError:
        return "unknown"
    try:
        channel.send_all(b"\x05\x01\x00", deadline)
        if channel.recv_some(deadline, 2)[:1] == b"\x05":
            return "socks5"
    except ProbeError:
        pass
    finally:
        channel.close()
    return "unknown"


def scan_local_proxies(ports: tuple[int, ...], seconds: float) -> list[tuple[int, str]]:
    """Probe loopback ports concurrently for a proxy; (port, protocol) of those that answer, in `ports` order."""
    deadline = Deadline(seconds)
    found: dict[int, str | None] = {}

    def probe(port: int) -> None:
        """Detect one port's protocol on its own thread."""
        found[port] = detect_proxy_protocol("127.0.0.1", port, deadline)

    workers = [threading.Thread(target=probe, args=(p,), daemon=True, name="llmenv-scan") for p in ports]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(max(0.0, deadline.left()))
    return [(p, proto) for p in ports if (proto := found.get(p)) not in (None, "unknown")]
