"""The `network` check against real servers on loopback: proxies (proxy.py, pproxy), TLS with a throw-away CA,
ports that refuse, stay silent or trickle — through run(ctx) and through the CLI."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import assert_no_secret, codes, one, run_cli
from proxies import (
    HttpServer,
    RefusedPort,
    RefusingProxy,
    SilentServer,
    TlsServer,
    TrickleServer,
    pproxy,
    proxy_py,
)

from llmenv.checks import network_check
from llmenv.context import Options, gather_context
from llmenv.findings import CheckResult, Finding

PASSWORD = "pw-" + secrets.token_hex(12)  # a fresh proxy password per run: a leak is unambiguous
USER = "alice"


# ---------------------------------------------------------------- servers (one of each per session)


@pytest.fixture(scope="session")
def tls_server(servers_dir):
    server = TlsServer(servers_dir)
    yield server
    server.close()


@pytest.fixture(scope="session")
def http_server():
    server = HttpServer()
    yield server
    server.close()


@pytest.fixture(scope="session")
def auth_proxy(servers_dir):
    with proxy_py(servers_dir, basic_auth=f"{USER}:{PASSWORD}") as proxy:
        yield proxy


@pytest.fixture(scope="session")
def socks_auth_proxy(servers_dir):
    with pproxy(servers_dir, auth=f"{USER}:{PASSWORD}") as proxy:
        yield proxy


@pytest.fixture(scope="session")
def silent():
    server = SilentServer()
    yield server
    server.close()


@pytest.fixture(scope="session")
def refused():
    port = RefusedPort()
    yield port
    port.close()


@pytest.fixture(scope="session")
def refusing_proxy():
    server = RefusingProxy()
    yield server
    server.close()


def make_venv(root: Path, distributions: tuple[tuple[str, str], ...]) -> str:
    """A real virtual environment whose installed distributions are exactly `distributions` (metadata only)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "venv")], check=True)
    python = root / "venv" / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    for name, version in distributions:
        info = Path(site) / f"{name}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return str(python)


@pytest.fixture(scope="session")
def bare_python(tmp_path_factory) -> str:
    """An interpreter with requests and httpx2 installed but neither PySocks nor socksio."""
    return make_venv(tmp_path_factory.mktemp("bare-venv"), (("requests", "2.32.3"), ("httpx2", "2.16.2")))


@pytest.fixture(scope="session")
def socks_ready_python(tmp_path_factory) -> str:
    """An interpreter with requests, httpx2, PySocks and socksio: whatever this machine has installed."""
    dists = (("requests", "2.32.3"), ("httpx2", "2.16.2"), ("PySocks", "1.7.1"), ("socksio", "1.0.0"))
    return make_venv(tmp_path_factory.mktemp("socks-venv"), dists)


# ---------------------------------------------------------------- helpers


def check(project: Path, home: Path, base_url: str, timeout: float = 5.0, python: str | None = None, **env: str):
    """Run the network check through run(ctx) with exactly these variables as the environment."""
    environ = {"HOME": str(home), "PATH": os.environ["PATH"], **env}
    options = Options(base_url=base_url, timeout=timeout, python=python or sys.executable)
    ctx = gather_context(project, options=options, environ=environ)
    return network_check.run(ctx)


def status(findings: list[Finding]) -> str:
    return CheckResult("network", "Network and proxy", tuple(findings)).status


def text(findings: list[Finding]) -> str:
    """Everything a user could see of the findings, -v details included."""
    parts = []
    for f in findings:
        parts += [f.message, f.detail or ""]
        parts += [(fix.summary or "") + " " + (fix.command or "") for fix in f.fixes]
    return "\n".join(parts)


def wait_for(condition, seconds: float = 2.0) -> bool:
    """Poll `condition` briefly: servers record a connection on their own thread, just after the client is done."""
    end = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(0.02)
    return True


def tls_url(server: TlsServer, host: str = "localhost") -> str:
    return f"https://{host}:{server.port}/v1"


def trusting(server: TlsServer) -> dict[str, str]:
    return {"REQUESTS_CA_BUNDLE": str(server.ca_path), "SSL_CERT_FILE": str(server.ca_path)}


# ---------------------------------------------------------------- direct


def test_offline_skips(project, home):
    ctx = gather_context(project, options=Options(offline=True), environ={"HOME": str(home)})
    (finding,) = network_check.run(ctx)
    assert finding.code == "skipped" and finding.message == "--offline"


def test_direct_tls_with_ca_from_env_is_reachable_with_timings(project, home, tls_server):
    before = tls_server.handshakes
    findings = check(project, home, tls_url(tls_server), **trusting(tls_server))
    assert status(findings) == "ok", [f.message for f in findings]
    reach = findings[0]
    assert reach.code == "api-reachable"
    assert f"localhost:{tls_server.port} reachable directly" in reach.message
    assert "TLSv1." in reach.message
    assert "DNS:" in reach.detail and "TCP:" in reach.detail and "TLS with the CA store of requests" in reach.detail
    assert wait_for(lambda: tls_server.handshakes > before)  # the server completed a handshake with us


def test_tls_without_the_ca_fails_and_names_issuer_and_ca_variables(project, home, tls_server):
    findings = check(project, home, tls_url(tls_server))
    failure = one(findings, "tls-verify-failed")
    assert failure.severity == "fail"
    assert tls_server.ca_name in failure.message  # the issuer of the presented certificate
    for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        assert variable in failure.message
    assert "requests" in failure.message and "httpx" in failure.message
    assert {fix.command for fix in failure.fixes} >= {
        "export REQUESTS_CA_BUNDLE=/path/to/ca.pem",
        "export SSL_CERT_FILE=/path/to/ca.pem",
    }
    assert "api-reachable" not in codes(findings)


def test_ca_for_requests_only_warns_that_the_openai_sdk_fails(project, home, tls_server):
    findings = check(project, home, tls_url(tls_server), REQUESTS_CA_BUNDLE=str(tls_server.ca_path))
    warning = one(findings, "tls-verify-failed")
    assert warning.severity == "warn"
    assert "httpx (openai SDK)" in warning.message.split("does not verify for")[1].split(":")[0]
    assert "It verifies for requests" in warning.message
    assert findings[0].code == "api-reachable" and status(findings) == "warn"


def test_ca_for_httpx_only_warns_that_requests_fails(project, home, tls_server):
    findings = check(project, home, tls_url(tls_server), SSL_CERT_FILE=str(tls_server.ca_path))
    warning = one(findings, "tls-verify-failed")
    assert warning.severity == "warn"
    assert "for requests (certifi (default))" in warning.message
    assert tls_server.ca_name in warning.message


def test_missing_ca_bundle_file_is_reported(project, home, tls_server, tmp_path):
    missing = str(tmp_path / "nowhere.pem")
    findings = check(
        project, home, tls_url(tls_server), REQUESTS_CA_BUNDLE=missing, SSL_CERT_FILE=str(tls_server.ca_path)
    )
    warning = one(findings, "tls-verify-failed")
    assert f"REQUESTS_CA_BUNDLE={missing} does not exist" in warning.message
    assert warning.severity == "warn"


def test_ip_address_base_url_verifies_against_ip_san(project, home, tls_server):
    findings = check(project, home, tls_url(tls_server, "127.0.0.1"), **trusting(tls_server))
    assert findings[0].code == "api-reachable", [f.message for f in findings]


def test_dns_failure(project, home):
    findings = check(project, home, "https://api.llmenv-test.invalid/v1", timeout=3)
    failure = one(findings, "dns-failure")
    assert failure.severity == "fail" and "api.llmenv-test.invalid" in failure.message


def test_refused_port_fails_and_finds_no_local_proxy_when_none_listens(project, home, refused, monkeypatch):
    monkeypatch.setattr(network_check, "LOCAL_PROXY_PORTS", (refused.port,))
    findings = check(project, home, f"https://127.0.0.1:{refused.port}/v1")
    assert codes(findings) == ["connect-failed"]
    assert "connection refused" in findings[0].message


def test_https_to_a_plain_http_server_says_it_does_not_speak_tls(project, home, http_server):
    findings = check(project, home, f"https://127.0.0.1:{http_server.port}/v1")
    failure = one(findings, "tls-handshake-failed")
    assert "does not speak TLS" in failure.message
    assert "http://" in failure.fixes[0].summary


def test_plain_http_base_url_has_no_tls_step(project, home, http_server):
    findings = check(project, home, f"http://127.0.0.1:{http_server.port}/v1")
    assert codes(findings) == ["api-reachable"]
    assert "TLS" not in findings[0].detail


def test_silent_https_server_fails_within_the_deadline(project, home, silent):
    started = time.monotonic()
    findings = check(project, home, f"https://127.0.0.1:{silent.port}/v1", timeout=1)
    elapsed = time.monotonic() - started
    failure = one(findings, "tls-handshake-failed")
    assert "no TLS handshake within the timeout" in failure.message
    assert elapsed < 1.8


def test_trickling_tls_server_cannot_stretch_the_deadline(project, home):
    # A TLS record header announcing 16 KiB, then one byte every 0.1 s: each read succeeds, the whole never ends.
    server = TrickleServer(b"\x16\x03\x03\x40\x00", interval=0.1)
    try:
        started = time.monotonic()
        findings = check(project, home, f"https://127.0.0.1:{server.port}/v1", timeout=1)
        elapsed = time.monotonic() - started
    finally:
        server.close()
    assert codes(findings) == ["tls-handshake-failed"]
    assert elapsed < 1.8


def test_base_url_without_scheme_is_invalid(project, home):
    findings = check(project, home, "api.openai.com/v1")
    assert codes(findings) == ["base-url-invalid"]
    assert findings[0].severity == "fail"


# ---------------------------------------------------------------- local proxy discovery


def test_unreachable_api_with_a_local_proxy_suggests_it(project, home, refused, http_proxy, socks_proxy, monkeypatch):
    monkeypatch.setattr(network_check, "LOCAL_PROXY_PORTS", (refused.port, socks_proxy.port, http_proxy.port))
    findings = check(project, home, f"https://127.0.0.1:{refused.port}/v1")
    assert codes(findings) == ["connect-failed", "proxy-available-not-configured"]
    hint = findings[1]
    assert hint.severity == "warn"
    assert f"127.0.0.1:{http_proxy.port} (HTTP)" in hint.message
    assert f"127.0.0.1:{socks_proxy.port} (SOCKS5)" in hint.message
    commands = [fix.command for fix in hint.fixes]
    assert commands == [
        f"export HTTPS_PROXY=http://127.0.0.1:{http_proxy.port}",
        f"export HTTPS_PROXY=socks5h://127.0.0.1:{socks_proxy.port}",
    ]


def test_no_local_scan_when_a_proxy_is_configured(project, home, refused, http_proxy, monkeypatch):
    monkeypatch.setattr(network_check, "LOCAL_PROXY_PORTS", (http_proxy.port,))
    findings = check(
        project, home, "https://api.llmenv-test.invalid/v1", HTTPS_PROXY=f"http://127.0.0.1:{refused.port}"
    )
    assert "proxy-available-not-configured" not in codes(findings)
    assert "proxy-unreachable" in codes(findings)


# ---------------------------------------------------------------- HTTP CONNECT proxy


def test_tls_through_http_proxy_goes_through_the_proxy(project, home, tls_server, http_proxy):
    proxy_url = f"http://127.0.0.1:{http_proxy.port}"
    findings = check(project, home, tls_url(tls_server), HTTPS_PROXY=proxy_url, **trusting(tls_server))
    assert status(findings) == "ok", [f.message for f in findings]
    assert codes(findings) == ["api-reachable", "proxy-configured"]
    assert f"through the HTTP proxy {proxy_url}" in findings[0].message
    assert "CONNECT:" in findings[0].detail and "\nDNS:" not in findings[0].detail  # the proxy resolves
    assert "set by HTTPS_PROXY (shell)" in findings[1].message
    # The proxy itself logged the tunnel to our TLS server.
    assert f"CONNECT localhost:{tls_server.port}" in http_proxy.wait_log(f"CONNECT localhost:{tls_server.port}")


def test_tls_inspection_shows_through_the_proxy(project, home, tls_server, http_proxy):
    findings = check(project, home, tls_url(tls_server), https_proxy=f"http://127.0.0.1:{http_proxy.port}")
    failure = one(findings, "tls-verify-failed")
    assert "through the proxy" in failure.message and tls_server.ca_name in failure.message


def test_plain_http_through_http_proxy_is_forwarded(project, home, http_server, http_proxy):
    base = f"http://127.0.0.1:{http_server.port}/v1"
    before = len(http_server.requests)
    findings = check(project, home, base, HTTP_PROXY=f"http://127.0.0.1:{http_proxy.port}")
    assert codes(findings) == ["api-reachable", "proxy-configured"], [f.message for f in findings]
    assert "HEAD via proxy" in findings[0].detail
    assert wait_for(lambda: len(http_server.requests) > before)
    assert http_server.requests[-1].startswith(b"HEAD /v1 ")


def test_proxy_auth_required_without_credentials(project, home, tls_server, auth_proxy):
    findings = check(project, home, tls_url(tls_server), HTTPS_PROXY=f"http://127.0.0.1:{auth_proxy.port}")
    failure = one(findings, "proxy-auth-required")
    assert "407" in failure.message and "carries none" in failure.message
    assert failure.fixes[0].command == f"export HTTPS_PROXY=http://USER:PASSWORD@127.0.0.1:{auth_proxy.port}"


def test_proxy_auth_wrong_password_is_named_and_not_printed(project, home, tls_server, auth_proxy):
    wrong = "wrong-" + secrets.token_hex(8)
    findings = check(
        project, home, tls_url(tls_server), HTTPS_PROXY=f"http://{USER}:{wrong}@127.0.0.1:{auth_proxy.port}"
    )
    failure = one(findings, "proxy-auth-required")
    assert "rejected the credentials" in failure.message
    assert f"http://{USER}:****@127.0.0.1:{auth_proxy.port}" in failure.message
    assert_no_secret(text(findings), wrong)


def test_proxy_auth_with_credentials_passes_and_never_prints_them(project, home, tls_server, auth_proxy):
    proxy_url = f"http://{USER}:{PASSWORD}@127.0.0.1:{auth_proxy.port}"
    findings = check(project, home, tls_url(tls_server), HTTPS_PROXY=proxy_url, **trusting(tls_server))
    assert status(findings) == "ok", [f.message for f in findings]
    assert f"http://{USER}:****@127.0.0.1:{auth_proxy.port}" in findings[0].message
    assert_no_secret(text(findings), PASSWORD)


def test_proxy_policy_refusal_is_told_apart_from_auth(project, home, tls_server, refusing_proxy):
    findings = check(project, home, tls_url(tls_server), HTTPS_PROXY=f"http://127.0.0.1:{refusing_proxy.port}")
    failure = one(findings, "proxy-connect-refused")
    assert "403 Forbidden" in failure.message
    assert refusing_proxy.requests[-1].startswith(f"CONNECT localhost:{tls_server.port} ".encode())


def test_proxy_that_cannot_reach_the_host_refuses_the_connect(project, home, http_proxy, refused):
    findings = check(
        project, home, f"https://127.0.0.1:{refused.port}/v1", HTTPS_PROXY=f"http://127.0.0.1:{http_proxy.port}"
    )
    failure = one(findings, "proxy-connect-refused")
    assert "502" in failure.message


def test_proxy_on_a_refused_port_is_unreachable(project, home, tls_server, refused):
    findings = check(
        project, home, tls_url(tls_server), HTTPS_PROXY=f"http://{USER}:{PASSWORD}@127.0.0.1:{refused.port}"
    )
    failure = one(findings, "proxy-unreachable")
    assert "refuses connections" in failure.message
    assert failure.fixes[0].command == "unset HTTPS_PROXY"
    assert_no_secret(text(findings), PASSWORD)


def test_silent_proxy_is_unreachable_within_the_deadline(project, home, tls_server, silent):
    started = time.monotonic()
    findings = check(project, home, tls_url(tls_server), timeout=1, HTTPS_PROXY=f"http://127.0.0.1:{silent.port}")
    elapsed = time.monotonic() - started
    failure = one(findings, "proxy-unreachable")
    assert "did not open the tunnel" in failure.message
    assert elapsed < 1.8


def test_trickling_proxy_cannot_stretch_the_deadline(project, home, tls_server):
    server = TrickleServer(b"HTTP/1.1 200 Connection established\r\nX-Slow: ", interval=0.1)
    try:
        started = time.monotonic()
        findings = check(project, home, tls_url(tls_server), timeout=1, HTTPS_PROXY=f"http://127.0.0.1:{server.port}")
        elapsed = time.monotonic() - started
    finally:
        server.close()
    assert "proxy-unreachable" in codes(findings)
    assert elapsed < 1.8


def test_http_proxy_url_pointing_at_a_socks_port_hints_at_the_scheme(project, home, tls_server, socks_proxy):
    findings = check(project, home, tls_url(tls_server), HTTPS_PROXY=f"http://127.0.0.1:{socks_proxy.port}")
    failure = one(findings, "proxy-connect-refused")
    assert "socks5h://" in failure.message


def test_tls_inside_tls_through_an_https_proxy(project, home, tls_server, servers_dir):
    # The proxy itself speaks TLS (a certificate from the same throw-away CA); the API's TLS runs inside it.
    leaf = tls_server.ca.issue_cert("localhost", "127.0.0.1")
    cert, key = servers_dir / "https-proxy-cert.pem", servers_dir / "https-proxy-key.pem"
    leaf.cert_chain_pems[0].write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    with pproxy(servers_dir, scheme="http+ssl", extra=("--ssl", f"{cert},{key}")) as proxy:
        findings = check(
            project, home, tls_url(tls_server), HTTPS_PROXY=f"https://localhost:{proxy.port}", **trusting(tls_server)
        )
        assert status(findings) == "ok", [f.message for f in findings]
        assert "through the HTTPS proxy" in findings[0].message
        assert "proxy TLS:" in findings[0].detail and "CONNECT:" in findings[0].detail
        assert f"-> localhost:{tls_server.port}" in proxy.wait_log(f"-> localhost:{tls_server.port}")


# ---------------------------------------------------------------- SOCKS


def test_tls_through_socks5h_goes_through_the_proxy(project, home, tls_server, socks_proxy, socks_ready_python):
    proxy_url = f"socks5h://127.0.0.1:{socks_proxy.port}"
    findings = check(
        project, home, tls_url(tls_server), python=socks_ready_python, ALL_PROXY=proxy_url, **trusting(tls_server)
    )
    assert status(findings) == "ok", [f.message for f in findings]
    assert "through the SOCKS5 proxy" in findings[0].message and "the proxy resolves the name" in findings[0].message
    assert "SOCKS5:" in findings[0].detail and "\nDNS:" not in findings[0].detail
    assert f"-> localhost:{tls_server.port}" in socks_proxy.wait_log(f"-> localhost:{tls_server.port}")


def test_socks5_resolves_locally_and_suggests_socks5h_on_dns_failure(project, home, socks_proxy):
    proxy_url = f"socks5://127.0.0.1:{socks_proxy.port}"
    findings = check(project, home, "https://api.llmenv-test.invalid/v1", HTTPS_PROXY=proxy_url)
    failure = one(findings, "dns-failure")
    assert any("socks5h://" in fix.summary for fix in failure.fixes)


def test_socks5_with_auth(project, home, tls_server, socks_auth_proxy, socks_ready_python):
    port, python = socks_auth_proxy.port, socks_ready_python
    findings = check(project, home, tls_url(tls_server), python=python, HTTPS_PROXY=f"socks5h://127.0.0.1:{port}")
    assert "proxy-auth-required" in codes(findings)
    proxy_url = f"socks5h://{USER}:{PASSWORD}@127.0.0.1:{port}"
    findings = check(project, home, tls_url(tls_server), python=python, HTTPS_PROXY=proxy_url, **trusting(tls_server))
    assert status(findings) == "ok", [f.message for f in findings]
    assert f"socks5h://{USER}:****@127.0.0.1:{port}" in findings[0].message
    assert_no_secret(text(findings), PASSWORD)


def test_socks_proxy_without_pysocks_and_socksio_fails_with_the_install_command(
    project, home, tls_server, socks_proxy, bare_python
):
    proxy_url = f"socks5h://{USER}:{PASSWORD}@127.0.0.1:{socks_proxy.port}"
    findings = check(
        project, home, tls_url(tls_server), python=bare_python, HTTPS_PROXY=proxy_url, **trusting(tls_server)
    )
    failure = one(findings, "proxy-socks-missing-dependency")
    assert failure.severity == "fail"
    assert "requests needs PySocks" in failure.message and "httpx2 needs socksio" in failure.message
    assert failure.fixes[0].command == f"{bare_python} -m pip install PySocks socksio"
    assert "api-reachable" in codes(findings)  # the doctor speaks SOCKS itself
    assert_no_secret(text(findings), PASSWORD)


def test_socks_proxy_with_both_packages_installed_needs_nothing(
    project, home, tls_server, socks_proxy, socks_ready_python
):
    findings = check(
        project,
        home,
        tls_url(tls_server),
        python=socks_ready_python,
        HTTPS_PROXY=f"socks5h://127.0.0.1:{socks_proxy.port}",
        **trusting(tls_server),
    )
    assert "proxy-socks-missing-dependency" not in codes(findings)


# ---------------------------------------------------------------- configuration warnings


def test_only_http_proxy_for_an_https_api_warns(project, home, tls_server):
    findings = check(project, home, tls_url(tls_server), HTTP_PROXY="http://127.0.0.1:9", **trusting(tls_server))
    warning = one(findings, "proxy-env-inconsistent")
    assert "HTTPS_PROXY is not" in warning.message
    assert warning.fixes[0].command == 'export HTTPS_PROXY="$HTTP_PROXY"'
    assert findings[0].code == "api-reachable"  # it really goes direct


def test_no_proxy_bypassing_the_api_host_warns(project, home, http_proxy):
    findings = check(
        project,
        home,
        "https://api.llmenv-test.invalid/v1",
        HTTPS_PROXY=f"http://127.0.0.1:{http_proxy.port}",
        NO_PROXY=".llmenv-test.invalid",
    )
    warning = one(findings, "proxy-env-inconsistent")
    assert "entry '.llmenv-test.invalid' makes api.llmenv-test.invalid bypass the proxy" in warning.message
    assert "dns-failure" in codes(findings)  # it went direct, as requests would


def test_lower_and_upper_case_disagree_warns_and_lower_case_wins(project, home, tls_server, http_proxy, refused):
    findings = check(
        project,
        home,
        tls_url(tls_server),
        https_proxy=f"http://127.0.0.1:{http_proxy.port}",
        HTTPS_PROXY=f"http://{USER}:{PASSWORD}@127.0.0.1:{refused.port}",
        **trusting(tls_server),
    )
    warning = one(findings, "proxy-env-inconsistent")
    assert "disagree: clients use https_proxy" in warning.message
    assert findings[0].code == "api-reachable"  # the lower-case (working) proxy was used
    assert_no_secret(text(findings), PASSWORD)


def test_requests_and_httpx_disagreeing_on_no_proxy_warns(project, home, tls_server, http_proxy):
    # requests only honours a NO_PROXY of exactly '*'; httpx honours '*' anywhere in the list.
    findings = check(
        project,
        home,
        tls_url(tls_server),
        HTTPS_PROXY=f"http://127.0.0.1:{http_proxy.port}",
        NO_PROXY="*,example.com",
        **trusting(tls_server),
    )
    warning = one(findings, "proxy-env-inconsistent")
    assert "route localhost differently" in warning.message
    assert "httpx goes directly (NO_PROXY entry '*')" in warning.message


def test_proxy_from_dotenv_is_located(project, home, tls_server, http_proxy):
    (project / ".env").write_text(f"OPENAI_API_KEY=sk-test\nHTTPS_PROXY=http://127.0.0.1:{http_proxy.port}\n")
    findings = check(project, home, tls_url(tls_server), **trusting(tls_server))
    configured = one(findings, "proxy-configured")
    assert "(.env:2)" in configured.message
    assert configured.location is not None and configured.location.line == 2


def test_route_blocked_only_for_failures_on_the_route(project, home, tls_server, socks_proxy, bare_python):
    # A missing PySocks in the user's interpreter fails the check, but the doctor's own route works:
    # the api check (which NEEDS network) should still run.
    proxy_url = f"socks5h://127.0.0.1:{socks_proxy.port}"
    findings = check(
        project, home, tls_url(tls_server), python=bare_python, HTTPS_PROXY=proxy_url, **trusting(tls_server)
    )
    assert status(findings) == "fail" and not network_check.route_blocked(findings)
    assert network_check.route_blocked(check(project, home, tls_url(tls_server)))  # tls-verify-failed
    assert not network_check.route_blocked(
        check(project, home, tls_url(tls_server), SSL_CERT_FILE=str(tls_server.ca_path))
    )


# ---------------------------------------------------------------- through the CLI


def test_cli_through_an_authenticated_proxy(project, env, tls_server, auth_proxy):
    env.update(trusting(tls_server))
    env["HTTPS_PROXY"] = f"http://{USER}:{PASSWORD}@127.0.0.1:{auth_proxy.port}"
    args = ["doctor", "--only", "network", "--base-url", tls_url(tls_server), "--python", sys.executable, "-v"]
    result = run_cli(args, env, cwd=project)
    assert result.returncode == 0, result.output
    assert "reachable through the HTTP proxy" in result.stdout
    assert "CONNECT:" in result.stdout and " ms, ok" in result.stdout  # -v shows each step's timing
    assert_no_secret(result.output, PASSWORD)
    assert f"CONNECT localhost:{tls_server.port}" in auth_proxy.wait_log(f"CONNECT localhost:{tls_server.port}")


def test_cli_json_for_a_proxy_needing_auth(project, env, tls_server, auth_proxy):
    env["https_proxy"] = f"http://{USER}:{PASSWORD[:-1]}@127.0.0.1:{auth_proxy.port}"
    args = ["doctor", "--only", "network", "--base-url", tls_url(tls_server), "--json", "--python", sys.executable]
    result = run_cli(args, env, cwd=project)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    network = next(c for c in report["checks"] if c["id"] == "network")
    assert network["status"] == "fail"
    assert [f["code"] for f in network["findings"]] == ["proxy-configured", "proxy-auth-required"]
    assert_no_secret(result.output, PASSWORD[:-1])


def test_cli_silent_proxy_ends_within_timeout_plus_a_second(project, env, tls_server, silent):
    env["HTTPS_PROXY"] = f"http://127.0.0.1:{silent.port}"
    args = ["doctor", "--only", "network", "--base-url", tls_url(tls_server), "--timeout", "1"]
    started = time.monotonic()
    result = run_cli([*args, "--python", sys.executable], env, cwd=project)
    elapsed = time.monotonic() - started
    assert result.returncode == 1 and "proxy-unreachable" not in result.stdout  # codes only under -v
    assert "did not open the tunnel" in result.stdout
    assert elapsed < 2.5


def test_cli_offline_skips_network(project, env):
    result = run_cli(["doctor", "--only", "network", "--offline"], env, cwd=project)
    assert result.returncode == 0
    assert "Network and proxy — skipped: --offline" in result.stdout
