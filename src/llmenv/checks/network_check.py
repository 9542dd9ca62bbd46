"""The `network` check: which proxy the API traffic takes, then DNS, TCP, the tunnel and TLS to the API host."""

from __future__ import annotations

import shlex
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from llmenv.findings import Finding, Fix, Location, skipped
from llmenv.network import (
    DEFAULT_PORTS,
    REQUESTS_PROXY_SCHEMES,
    ProxyChoice,
    ProxyEndpoint,
    TrustStore,
    bypass_entry,
    environ_proxies,
    httpx_mounts,
    httpx_resolve_proxy,
    httpx_trust,
    is_ip_address,
    is_loopback_host,
    mask_proxy_url,
    parse_proxy_url,
    requests_proxy_url,
    requests_trust,
    resolve_proxy,
)
from llmenv.probe import (
    Channel,
    Deadline,
    ProbeError,
    StepLog,
    certificate_name,
    describe_certificate,
    http_connect,
    http_forward,
    resolve,
    scan_local_proxies,
    socks4_connect,
    socks5_connect,
    tcp_connect,
    tls_handshake,
    unverified_context,
    verifying_context,
)

ID = "network"
TITLE = "Network and proxy"

# Loopback ports where local proxies usually listen (Clash, Clash Verge, SOCKS, v2rayN, Privoxy, Squid, …).
LOCAL_PROXY_PORTS: tuple[int, ...] = (7890, 7897, 1080, 10808, 10809, 8118, 8889, 3128)
# Loopback answers in well under a millisecond; this bound only guards against a wedged listener.
_SCAN_SECONDS = 0.5
_OPENAI = "the openai SDK (httpx)"

# Failures meaning the API host cannot be reached along the route requests takes. Not in this set:
# proxy-socks-missing-dependency, which is about the checked interpreter, not the route the doctor walks.
BLOCKING_CODES = frozenset(
    {
        "base-url-invalid",
        "proxy-unreachable",
        "proxy-auth-required",
        "proxy-connect-refused",
        "dns-failure",
        "connect-timeout",
        "connect-failed",
        "tls-verify-failed",
        "tls-handshake-failed",
    }
)


def route_blocked(findings) -> bool:
    """Whether these network findings mean an API request would not get through (for checks that NEED network)."""
    return any(f.severity == "fail" and f.code in BLOCKING_CODES for f in findings)


@dataclass(frozen=True)
class Target:
    """The API host as a client connects to it."""

    scheme: str
    host: str
    port: int
    url: str

    @property
    def authority(self) -> str:
        """host:port, with brackets around an IPv6 address."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


class _StageError(Exception):
    """A probe step failed at `stage` (proxy, tunnel, dns, tcp, tls, forward)."""

    def __init__(self, stage: str, error: ProbeError) -> None:
        super().__init__(error.message)
        self.stage = stage
        self.error = error


def run(ctx) -> list[Finding]:
    """Say which proxy the API traffic uses and whether it gets to the API host, step by step."""
    if ctx.options.offline:
        return [skipped("--offline")]
    env = ctx.effective_env()
    url = ctx.base_url()
    target, problem = _parse_target(url)
    if target is None:
        fix = Fix("set OPENAI_BASE_URL (or --base-url) to a URL like https://api.openai.com/v1")
        message = f"the base URL {mask_proxy_url(url)!r} cannot be used: {problem}"
        return [Finding("base-url-invalid", "fail", message, fixes=(fix,))]
    facts = ctx.interpreter()
    facts = facts if facts is not None and not facts.error else None
    flavor = _httpx_flavor(facts)
    choice = resolve_proxy(target.url, env)
    findings = _proxy_findings(ctx, target, env, choice, flavor, facts)
    probe = _RouteProbe(ctx, target, env, choice, flavor)
    if probe.usable:
        findings += probe.run()
    # The outcome first: the console shows a passing check's first finding on its line.
    outcome = [f for f in findings if f.code == "api-reachable"]
    return outcome + [f for f in findings if f.code != "api-reachable"]


def _parse_target(url: str) -> tuple[Target | None, str]:
    """The scheme, host and port of the base URL, or why it has none."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return None, str(exc)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        return None, "it must start with https:// or http://"
    if not parts.hostname:
        return None, "it has no host name"
    return Target(scheme, parts.hostname, port or DEFAULT_PORTS[scheme], url), ""


def _httpx_flavor(facts) -> str | None:
    """Which httpx the checked interpreter's openai SDK uses; httpx2 (openai 3.x) when it cannot be told."""
    if facts is None or facts.has("httpx2"):
        return "httpx2"
    if facts.has("httpx"):
        return "httpx"
    return None


def _source(ctx, variable: str) -> tuple[str, Location | None]:
    """Where a variable comes from: ' (shell)' or ' (.env:3)', and a location for a file."""
    setting = ctx.setting(variable)
    if setting is None:
        return "", None
    return f" ({setting.source})", setting.location


# ---------------------------------------------------------------- configuration


def _proxy_findings(ctx, target: Target, env: Mapping[str, str], choice, flavor, facts) -> list[Finding]:
    """proxy-configured, proxy-env-inconsistent and proxy-socks-missing-dependency: no network needed."""
    findings: list[Finding] = []
    proxies = environ_proxies(env)
    if choice is not None:
        where, location = _source(ctx, choice.variable)
        findings.append(
            Finding(
                "proxy-configured",
                "info",
                f"API traffic to {target.host} goes through the proxy {mask_proxy_url(choice.url)},"
                f" set by {choice.variable}{where}",
                location,
            )
        )
    findings += _case_disagreements(ctx, target, env)
    if target.scheme == "https" and "http" in proxies and "https" not in proxies and "all" not in proxies:
        http = proxies["http"]
        where, location = _source(ctx, http.variable)
        findings.append(
            _inconsistent(
                f"{http.variable}{where} is set but HTTPS_PROXY is not: {http.variable} applies to http:// URLs only,"
                f" so requests and httpx send https://{target.host} traffic directly",
                location,
                Fix("set HTTPS_PROXY to the same proxy", f'export HTTPS_PROXY="${http.variable}"'),
            )
        )
    findings += _bypass_findings(ctx, target, env, choice, proxies)
    if choice is not None and requests_proxy_url(choice.url) is None:
        where, location = _source(ctx, choice.variable)
        shown = mask_proxy_url(choice.url)
        findings.append(
            _inconsistent(
                f"{choice.variable}={shown}{where} has no scheme, and requests reads '{shown.split(':')[0]}' as one:"
                " every request raises InvalidProxyURL (httpx assumes http://)",
                location,
                Fix("write the scheme out", f"export {choice.variable}=http://{shown}"),
            )
        )
    if flavor is not None:
        findings += _httpx_disagreement(target, env, choice, flavor)
    findings += _socks_dependencies(target, env, choice, flavor, facts)
    return findings


def _inconsistent(message: str, location: Location | None = None, *fixes: Fix) -> Finding:
    return Finding("proxy-env-inconsistent", "warn", message, location, fixes)


def _case_disagreements(ctx, target: Target, env: Mapping[str, str]) -> list[Finding]:
    """Lower- and upper-case variables that disagree; the lower-case one wins in requests, httpx and curl."""
    found = []
    for base in (target.scheme, "all", "no"):
        lower, upper = f"{base}_proxy", f"{base.upper()}_PROXY"
        if lower not in env or upper not in env or env[lower] == env[upper]:
            continue
        show = mask_proxy_url if base != "no" else str
        if env[lower]:
            message = f"{lower}={show(env[lower])} and {upper}={show(env[upper])} disagree: clients use {lower}"
        else:
            message = f"{lower} is set but empty, which hides {upper}={show(env[upper])} from urllib and httpx"
            if base == "no":
                message += " (requests still applies NO_PROXY to its own host check)"
        _, location = _source(ctx, lower)
        found.append(_inconsistent(message, location, Fix(f"keep one of them: unset {lower} or {upper}")))
    return found


def _bypass_findings(ctx, target: Target, env, choice, proxies) -> list[Finding]:
    """NO_PROXY that sends a remote API host direct, or a loopback API host sent to a remote proxy."""
    found = []
    would_proxy = target.scheme in proxies or "all" in proxies
    entry = bypass_entry(target.url, env)
    if would_proxy and choice is None and entry is not None and not is_loopback_host(target.host):
        no_var = "no_proxy" if env.get("no_proxy") else "NO_PROXY"
        where, location = _source(ctx, no_var)
        found.append(
            _inconsistent(
                f"{no_var}{where} entry '{entry}' makes {target.host} bypass the proxy: API traffic goes directly",
                location,
                Fix(f"remove '{entry}' from {no_var} if {target.host} is only reachable through the proxy"),
            )
        )
    if choice is not None and is_loopback_host(target.host):
        endpoint = parse_proxy_url(requests_proxy_url(choice.url) or "")
        if endpoint is not None and not is_loopback_host(endpoint.host):
            command = 'export NO_PROXY="${NO_PROXY:+$NO_PROXY,}localhost,127.0.0.1,::1"'
            found.append(
                _inconsistent(
                    f"the API host {target.host} is this machine, but its traffic goes to the remote proxy"
                    f" {mask_proxy_url(choice.url)}, which cannot reach it",
                    None,
                    Fix("exempt loopback from the proxy", command),
                )
            )
    return found


def _route_words(proxy_url: str | None, why: str) -> str:
    return f"through {mask_proxy_url(proxy_url)} ({why})" if proxy_url else f"directly ({why})"


def _httpx_disagreement(target: Target, env, choice, flavor: str) -> list[Finding]:
    """Where httpx (the openai SDK) routes the API differently from requests, or refuses the proxy settings."""
    found = []
    hx = httpx_resolve_proxy(target.url, env, flavor)
    if hx.error:
        found.append(_inconsistent(hx.error, None, Fix("use an http:// or socks5h:// proxy URL")))
    ours = requests_proxy_url(choice.url) if choice is not None else None
    if choice is not None and ours is None:
        return found  # already reported: requests cannot parse the proxy URL at all
    if ours != hx.url:
        if choice is not None:
            requests_way = _route_words(ours, choice.variable)
        else:
            entry = bypass_entry(target.url, env)
            requests_way = _route_words(None, f"NO_PROXY entry '{entry}'" if entry else "no proxy variable applies")
        found.append(
            _inconsistent(
                f"requests and {_OPENAI} route {target.host} differently: requests goes {requests_way},"
                f" httpx goes {_route_words(hx.url, hx.rule)}",
                None,
                Fix("write NO_PROXY as plain host names (api.example.com), without '*', CIDR ranges or a leading dot"),
            )
        )
    return found


def _socks_dependencies(target: Target, env, choice, flavor, facts) -> list[Finding]:
    """A SOCKS proxy needs PySocks (requests) / socksio (httpx) in the checked interpreter."""
    if facts is None:
        return []
    missing = []
    socks_for_requests = choice is not None and choice.url.lower().startswith("socks")
    if socks_for_requests and facts.has("requests") and not facts.has("pysocks"):
        missing.append(("PySocks", "requests", choice))
    if flavor is not None and facts.has(flavor):
        mounts, _ = httpx_mounts(env, flavor)
        socks = [(u, v) for u, v in mounts.values() if u and u.partition("://")[0].lower() in ("socks5", "socks5h")]
        if socks and not facts.has("socksio"):
            missing.append(("socksio", flavor, ProxyChoice(socks[0][0], socks[0][1])))
    if not missing:
        return []
    names = " ".join(name for name, _, _ in missing)
    what = "; ".join(
        f"{client} needs {name} for {mask_proxy_url(proxy.url)} ({proxy.variable})" for name, client, proxy in missing
    )
    command = f"{shlex.quote(facts.executable)} -m pip install {names}"
    return [
        Finding(
            "proxy-socks-missing-dependency",
            "fail",
            f"a SOCKS proxy, but {' and '.join(n for n, _, _ in missing)}"
            f" {'is' if len(missing) == 1 else 'are'} not installed in {facts.executable}: {what}",
            fixes=(Fix(f"install {names} into the interpreter your program runs with", command),),
        )
    ]


# ---------------------------------------------------------------- probing


class _RouteProbe:
    """Walks the route to the API host (proxy, tunnel, DNS, TCP, TLS) within the run's deadline."""

    def __init__(self, ctx, target: Target, env: Mapping[str, str], choice, flavor) -> None:
        self.ctx, self.target, self.env, self.choice = ctx, target, env, choice
        self.endpoint: ProxyEndpoint | None = None
        if choice is not None:
            self.endpoint = parse_proxy_url(requests_proxy_url(choice.url) or f"http://{choice.url}")
        self.stores = _trust_stores(env, flavor) if target.scheme == "https" else []
        self.log = StepLog()
        self.proxy_label = mask_proxy_url(choice.url) if choice is not None else ""
        self.variable = choice.variable if choice is not None else ""

    @property
    def usable(self) -> bool:
        """Whether the doctor can walk this route (an unusable proxy URL is reported by the config findings)."""
        if self.choice is None:
            return True
        return self.endpoint is not None and self.endpoint.scheme in REQUESTS_PROXY_SCHEMES

    @property
    def route(self) -> str:
        """The route in words: directly, or through which kind of proxy."""
        if self.endpoint is None:
            return "directly"
        kinds = {"http": "HTTP", "https": "HTTPS", "socks4": "SOCKS4", "socks4a": "SOCKS4a"}
        kind = kinds.get(self.endpoint.scheme, "SOCKS5")
        note = " (the proxy resolves the name)" if self.endpoint.scheme in ("socks5h", "socks4a") else ""
        return f"through the {kind} proxy {self.proxy_label}{note}"

    def deadline(self) -> Deadline:
        """The rest of the run's single deadline."""
        return Deadline(self.ctx.remaining())

    def run(self) -> list[Finding]:
        """The outcome findings of the walk, the first one carrying the step timings as detail."""
        started = time.perf_counter()
        try:
            channel, leftover = self.open(timed=True)
        except _StageError as exc:
            return self.failure(exc)
        try:
            if self.target.scheme == "http" and self.endpoint is not None and self.endpoint.scheme in ("http", "https"):
                failed = self.forward(channel)
                if failed is not None:
                    return failed
            tls_version = None
            warnings: list[Finding] = []
            if self.target.scheme == "https":
                outcome = self.tls(channel, leftover)
                if isinstance(outcome, list):
                    return outcome
                tls_version, warnings = outcome
        finally:
            channel.close()
        total = (time.perf_counter() - started) * 1000
        return [self.with_detail(self.reachable(total, tls_version)), *warnings]

    def open(self, timed: bool) -> tuple[Channel, bytes]:
        """Connect to the API host along the route: directly, through a CONNECT tunnel, or through SOCKS."""
        steps = self.log if timed else StepLog()
        deadline = self.deadline()
        target, endpoint = self.target, self.endpoint
        if endpoint is None:
            addresses = self.resolve(steps, deadline)
            return _stage("tcp", steps, "TCP", lambda: tcp_connect(addresses, deadline)), b""
        if is_ip_address(endpoint.host):
            proxy_addrs = resolve(endpoint.host, endpoint.port, deadline)
        else:
            proxy_addrs = _stage("proxy", steps, "proxy DNS", lambda: resolve(endpoint.host, endpoint.port, deadline))
        channel = _stage("proxy", steps, "proxy TCP", lambda: tcp_connect(proxy_addrs, deadline))
        try:
            if endpoint.scheme == "https":
                context = _context_for(requests_trust(self.env))
                plain = channel
                channel = _stage(
                    "proxy", steps, "proxy TLS", lambda: tls_handshake(plain, context, endpoint.host, deadline)
                )
            if endpoint.scheme in ("http", "https"):
                if target.scheme == "http":
                    return channel, b""  # plain-http requests are forwarded by the proxy, not tunnelled
                tunnel = channel
                leftover = _stage(
                    "tunnel",
                    steps,
                    "CONNECT",
                    lambda: http_connect(
                        tunnel, target.host, target.port, endpoint.username, endpoint.password, deadline
                    ),
                )
                return channel, leftover
            self.socks(channel, steps, deadline)
            return channel, b""
        except BaseException:
            channel.close()
            raise

    def resolve(self, steps: StepLog, deadline: Deadline) -> list[tuple[int, tuple]]:
        """The API host's addresses; a timed DNS step only when it is a name, not an address."""
        target = self.target
        if is_ip_address(target.host):
            return resolve(target.host, target.port, deadline)
        return _stage("dns", steps, "DNS", lambda: resolve(target.host, target.port, deadline))

    def socks(self, channel: Channel, steps: StepLog, deadline: Deadline) -> None:
        """The SOCKS handshake; socks5/socks4 resolve the API host here, socks5h/socks4a leave it to the proxy."""
        target, endpoint = self.target, self.endpoint
        host = target.host
        if endpoint.scheme in ("socks5", "socks4"):
            addresses = self.resolve(steps, deadline)
            if endpoint.scheme == "socks4":
                addresses = [a for a in addresses if len(a[1]) == 2]
                if not addresses:
                    raise _StageError("dns", ProbeError("dns", f"{target.host} has no IPv4 address for SOCKS4"))
            host = addresses[0][1][0]
        if endpoint.scheme in ("socks4", "socks4a"):
            remote = endpoint.scheme == "socks4a"
            _stage(
                "tunnel",
                steps,
                "SOCKS4",
                lambda: socks4_connect(channel, host, target.port, endpoint.username, remote, deadline),
            )
        else:
            _stage(
                "tunnel",
                steps,
                "SOCKS5",
                lambda: socks5_connect(channel, host, target.port, endpoint.username, endpoint.password, deadline),
            )

    def forward(self, channel: Channel) -> list[Finding] | None:
        """Plain http through an HTTP proxy: have the proxy forward one HEAD request, as clients do."""
        target, endpoint = self.target, self.endpoint
        path = urlsplit(target.url).path or "/"
        url = f"http://{target.authority.removesuffix(':80')}{path}"  # the default port is left out, as clients do
        try:
            with self.log.step("HEAD via proxy"):
                status, line = http_forward(
                    channel, url, target.host, target.port, endpoint.username, endpoint.password, self.deadline()
                )
        except ProbeError as exc:
            return self.failure(_StageError("forward", exc))
        if status in (502, 503, 504):  # the proxy's own "could not reach the upstream" answers
            return self.failure(_StageError("tunnel", ProbeError("proxy-refused", line, status)))
        return None

    def tls(self, channel: Channel, leftover: bytes):
        """TLS with each client's CA store: (TLS version, warnings) when one verifies, else the failure findings."""
        verdicts: list[tuple[TrustStore, str | None]] = []  # (store, None when verified, else why not)
        verified_cert: dict | None = None
        version = None
        used = False
        for store in self.stores:
            if store.problem:
                verdicts.append((store, store.problem))
                continue
            try:
                if used:
                    channel, leftover = self.open(timed=False)
                used = True
                with self.log.step(f"TLS with the CA store of {store.client} ({store.source})"):
                    tls = tls_handshake(channel, _context_for(store), self.target.host, self.deadline(), leftover)
                verified_cert = verified_cert or tls.sslobj.getpeercert()
                version = version or tls.sslobj.version()
                verdicts.append((store, None))
            except _StageError as exc:
                return self.failure(exc)
            except ProbeError as exc:
                if exc.kind != "tls-verify":
                    return [self.with_detail(self.tls_broken(exc))]
                verdicts.append((store, exc.message))
            finally:
                if used:
                    channel.close()
        failed = [(s, why) for s, why in verdicts if why is not None]
        if not failed:
            return version, []
        issuer = self.issuer(verified_cert)
        if len(failed) == len(verdicts):
            return [self.with_detail(self.verify_failed(verdicts, failed, issuer, "fail"))]
        return version, [self.verify_failed(verdicts, failed, issuer, "warn")]

    def issuer(self, verified_cert: dict | None) -> dict[str, str]:
        """The presented certificate's names: from a verified handshake, else read without verification."""
        if verified_cert:
            return {
                "issuer": certificate_name(verified_cert.get("issuer", ())),
                "subject": certificate_name(verified_cert.get("subject", ())),
            }
        try:
            channel, leftover = self.open(timed=False)
        except _StageError:
            return {}
        try:
            with self.log.step("TLS without verification, to read the certificate"):
                tls = tls_handshake(channel, unverified_context(), self.target.host, self.deadline(), leftover)
            der = tls.sslobj.getpeercert(binary_form=True)
            return describe_certificate(der) if der else {}
        except ProbeError:
            return {}
        finally:
            channel.close()

    def via(self) -> str:
        """' through the proxy …' when there is one, for messages."""
        return f" through the proxy {self.proxy_label}" if self.endpoint is not None else ""

    def verify_failed(self, verdicts, failed, issuer: dict[str, str], severity: str) -> Finding:
        """tls-verify-failed: who fails, why, who issued the certificate, and the CA variables of each client."""
        who = " and ".join(f"{s.client} ({s.source})" for s, _ in failed)
        why = "; ".join(dict.fromkeys(why for _, why in failed if why))
        if issuer.get("issuer"):
            self_signed = issuer.get("issuer") == issuer.get("subject")
            presented = f"the certificate is {'self-signed' if self_signed else 'issued by'} {issuer['issuer']}"
        else:
            presented = "its issuer could not be read"
        name_problem = "mismatch" in why.lower() or "hostname" in why.lower()
        hint = "" if name_problem else " (a TLS-inspecting proxy or a private CA shows here)"
        message = (
            f"TLS to {self.target.authority}{self.via()} does not verify for {who}: {why}; {presented}{hint}."
            f" {_ca_variables(self.env)}"
        )
        if severity == "warn":
            good = " and ".join(f"{s.client} ({s.source})" for s, why in verdicts if why is None)
            message += f". It verifies for {good}"
        fixes = (
            Fix("for requests: a PEM file holding that CA", "export REQUESTS_CA_BUNDLE=/path/to/ca.pem"),
            Fix("for the openai SDK (httpx): the same file", "export SSL_CERT_FILE=/path/to/ca.pem"),
        )
        return Finding("tls-verify-failed", severity, message, fixes=fixes)

    def tls_broken(self, exc: ProbeError) -> Finding:
        """tls-handshake-failed: the handshake ended with no verdict on the certificate."""
        where = f"{self.target.authority}{self.via()}"
        if "wrong version number" in exc.message or "record layer failure" in exc.message:
            message = f"TLS to {where} failed: the server does not speak TLS ({exc.message})"
            fix = Fix("if it is a plain HTTP server, use http:// in the base URL")
        elif exc.kind == "timeout":
            message = f"TLS to {where}: connected, but no TLS handshake within the timeout"
            fix = Fix("check that the base URL points at an HTTPS server; a filter on the path may hold the handshake")
        else:
            message = f"TLS to {where} failed: {exc.message}"
            fix = Fix(
                f"something on the path ends TLS connections to {self.target.host}: try a proxy or another network"
            )
        return Finding("tls-handshake-failed", "fail", message, fixes=(fix,))

    def reachable(self, total_ms: float, tls_version: str | None) -> Finding:
        """api-reachable: the route and how long each step took."""
        steps = ", ".join(f"{s.name.split(' with ')[0]} {s.ms:.0f} ms" for s in self.log.steps if s.outcome == "ok")
        version = f", {tls_version}" if tls_version else ""
        message = (
            f"{self.target.scheme}://{self.target.authority} reachable {self.route} in {total_ms:.0f} ms"
            f" ({steps}{version})"
        )
        return Finding("api-reachable", "info", message)

    def with_detail(self, finding: Finding) -> Finding:
        """The finding with the route, each step's timing and the CA stores as `-v` detail."""
        lines = [f"route: {self.route}", self.log.text()]
        lines += [f"CA store of {s.client}: {s.source} ({s.cafile or s.capath or 'none'})" for s in self.stores]
        return replace(finding, detail="\n".join(line for line in lines if line))

    def failure(self, exc: _StageError) -> list[Finding]:
        """Turn the failed step into its finding, then look for a local proxy when none is configured."""
        finding = self.failure_finding(exc.stage, exc.error)
        findings = [self.with_detail(finding)]
        if self.choice is None and not _any_proxy(self.env) and exc.stage in ("dns", "tcp"):
            findings += _local_proxies(self.ctx, self.target)
        return findings

    def failure_finding(self, stage: str, error: ProbeError) -> Finding:
        """The finding for a step that failed at `stage`."""
        target, endpoint, label, variable = self.target, self.endpoint, self.proxy_label, self.variable
        if stage == "proxy":
            words = {
                "refused": f"refuses connections (nothing listens on {endpoint.host}:{endpoint.port})",
                "timeout": "does not answer within the timeout",
                "dns": f"cannot be found: {error.message}",
                "tls-verify": f"presents a certificate that does not verify with requests' CA store: {error.message}",
            }.get(error.kind, error.message)
            fix = Fix(f"start the proxy, or point {variable} at one that runs (or unset it)", f"unset {variable}")
            return Finding("proxy-unreachable", "fail", f"the proxy {label} ({variable}) {words}", fixes=(fix,))
        if stage in ("tunnel", "forward") and error.kind == "proxy-auth":
            if endpoint.username is not None:
                message = f"the proxy {label} rejected the credentials in {variable} ({error.message})"
            else:
                message = f"the proxy {label} requires authentication ({error.message}); {variable} carries none"
            command = f"export {variable}={endpoint.scheme}://USER:PASSWORD@{endpoint.host}:{endpoint.port}"
            fix = Fix("put the proxy's user name and password in the URL", command)
            return Finding("proxy-auth-required", "fail", message, fixes=(fix,))
        if stage == "tunnel" and error.kind == "timeout":
            return Finding(
                "proxy-unreachable",
                "fail",
                f"the proxy {label} ({variable}) accepted the connection but did not open the tunnel to"
                f" {target.authority} within the timeout ({error.message})",
                fixes=(
                    Fix(f"check that the proxy runs, can reach {target.host}, and matches the scheme in {variable}"),
                ),
            )
        if stage == "forward" and error.kind == "timeout":
            return Finding(
                "connect-timeout",
                "fail",
                f"no answer from {target.authority}{self.via()} within the timeout",
                fixes=(Fix(f"check that {target.host} runs and that the proxy can reach it"),),
            )
        if stage in ("tunnel", "forward"):
            hint = ""
            if error.kind in ("closed", "protocol"):
                hint = f"; is the scheme in {variable} right (http:// versus socks5h://)?"
            return Finding(
                "proxy-connect-refused",
                "fail",
                f"the proxy {label} did not open a connection to {target.authority}: {error.message}{hint}",
                fixes=(Fix(f"the proxy refuses {target.host}: ask its administrator, or exempt the host in NO_PROXY"),),
            )
        if stage == "dns":
            fixes = [Fix(f"check the host name in the base URL ({target.host}) and this machine's DNS")]
            if endpoint is not None and endpoint.scheme in ("socks5", "socks4"):
                fixes.append(Fix("let the proxy resolve names: use socks5h:// (or socks4a://)"))
            return Finding("dns-failure", "fail", error.message, fixes=tuple(fixes))
        if stage == "tcp" and error.kind == "timeout":
            return Finding(
                "connect-timeout",
                "fail",
                f"no TCP connection to {target.authority} within the timeout (a firewall may drop it)",
                fixes=(Fix("if this network reaches the internet through a proxy, set HTTPS_PROXY"),),
            )
        if stage == "tcp":
            return Finding(
                "connect-failed",
                "fail",
                f"TCP to {target.authority}: {error.message}",
                fixes=(Fix(f"check the port in the base URL and that the server on {target.host} runs"),),
            )
        return self.tls_broken(error)


def _stage(stage: str, log: StepLog, name: str, action):
    """Run one timed step, tagging a failure with the stage it belongs to."""
    try:
        with log.step(name):
            return action()
    except ProbeError as exc:
        raise _StageError(stage, exc) from None


def _trust_stores(env: Mapping[str, str], flavor: str | None) -> list[TrustStore]:
    """requests' CA store, and httpx's when the checked interpreter has httpx and its store differs."""
    stores = [requests_trust(env)]
    if flavor is not None:
        other = httpx_trust(env, flavor)
        if other.key != stores[0].key or other.problem != stores[0].problem:
            stores.append(other)
    return stores


def _context_for(store: TrustStore):
    return verifying_context(store.cafile, store.capath)


def _ca_variables(env: Mapping[str, str]) -> str:
    """Which CA variables each client reads, and their values now."""

    def now(*names: str) -> str:
        """The variables among `names` that are set, with their values."""
        values = [f"{n}={env[n]}" for n in names if env.get(n)]
        return ", ".join(values) if values else "none set"

    return (
        f"requests reads REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE ({now('REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE')});"
        f" {_OPENAI} reads SSL_CERT_FILE / SSL_CERT_DIR ({now('SSL_CERT_FILE', 'SSL_CERT_DIR')})"
    )


def _any_proxy(env: Mapping[str, str]) -> bool:
    proxies = environ_proxies(env)
    return any(k in proxies for k in ("http", "https", "all"))


def _local_proxies(ctx, target: Target) -> list[Finding]:
    """proxy-available-not-configured: a proxy listening on a usual loopback port."""
    # Loopback answers in microseconds, so even after a timeout used the budget a short scan stays worth it.
    found = scan_local_proxies(LOCAL_PROXY_PORTS, min(_SCAN_SECONDS, max(ctx.remaining(), 0.25)))
    if not found:
        return []
    variable = "HTTPS_PROXY" if target.scheme == "https" else "HTTP_PROXY"
    found.sort(key=lambda item: item[1] != "http")  # prefer HTTP: it needs no extra package
    listed = ", ".join(f"127.0.0.1:{port} ({'HTTP' if proto == 'http' else 'SOCKS5'})" for port, proto in found)
    fixes = []
    for port, proto in found[:2]:
        scheme = "http" if proto == "http" else "socks5h"
        summary = "use the local proxy" + ("" if proto == "http" else " (SOCKS needs PySocks / socksio)")
        fixes.append(Fix(summary, f"export {variable}={scheme}://127.0.0.1:{port}"))
    return [
        Finding(
            "proxy-available-not-configured",
            "warn",
            f"{target.host} is not reachable directly and no proxy is set, but a proxy listens on {listed}",
            fixes=tuple(fixes),
        )
    ]
