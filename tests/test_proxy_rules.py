"""llmenv.network against the clients themselves: for many environments, `resolve_proxy` must pick what
requests picks, and `httpx_resolve_proxy` what httpx2 (the openai SDK's HTTP client) picks. No sockets."""

from __future__ import annotations

import contextlib
import os
import random
import ssl
from collections.abc import Iterator

import pytest

from llmenv.network import (
    ca_bundle,
    httpx_resolve_proxy,
    httpx_trust,
    httpx_unsupported_proxy,
    mask_proxy_url,
    requests_proxies,
    requests_proxy_url,
    requests_trust,
    resolve_proxy,
)
from llmenv.probe import verifying_context

PROXY_VARS = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")
PROXY_VALUES = ("", "http://a.proxy:1", "http://b.proxy:2", "socks5h://u:p@c.proxy:3", "d.proxy:4", "127.0.0.1:5")
NO_PROXY_VALUES = (
    "",
    "*",
    "*,other.org",
    "api.example.com",
    ".example.com",
    "example.com",
    ".api.example.com",
    "*.example.com",
    "API.EXAMPLE.COM",
    "api.example.com:8443",
    " api.example.com , other.org",
    "other.org",
    "localhost",
    "127.0.0.1",
    "127.0.0.0/8",
    "10.0.0.0/8",
    ".0.0.1",
    "::1",
    "[::1]",
    "http://api.example.com",
)
# Only strings: nothing here is ever connected to.
URLS = (
    "https://api.example.com/v1",
    "http://api.example.com/v1",
    "https://api.example.com:8443/v1",
    "https://example.com/v1",
    "https://API.Example.com/v1",
    "http://127.0.0.1:8000/v1",
    "https://localhost:8443/v1",
    "http://[::1]:11434/v1",
    "https://10.1.2.3/v1",
)
CLEARED = {*PROXY_VARS, "no_proxy", "NO_PROXY", "REQUEST_METHOD", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"}
CLEARED |= {"SSL_CERT_FILE", "SSL_CERT_DIR"}


@contextlib.contextmanager
def environ(env: dict[str, str]) -> Iterator[None]:
    """os.environ holding `env` for the proxy and CA variables (the clients read os.environ only)."""
    saved = dict(os.environ)
    for name in list(os.environ):
        if name in CLEARED or name.lower().endswith("_proxy"):
            del os.environ[name]
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def requests_decision(url: str) -> tuple[str | None, object]:
    """The proxy and `verify` requests itself chooses for `url` (a Session, as every client program uses)."""
    import requests
    from requests.utils import select_proxy

    settings = requests.Session().merge_environment_settings(url, {}, None, None, None)
    return select_proxy(url, settings["proxies"]), settings["verify"]


def httpx_decision(url: str) -> str | None:
    """The proxy httpx2 chooses for `url`, with the same mounts and ordering its Client builds."""
    import httpx2
    from httpx2._utils import URLPattern, get_environment_proxies

    mounts = get_environment_proxies()
    patterns = sorted(((URLPattern(key), proxy) for key, proxy in mounts.items()), key=lambda item: item[0])
    target = httpx2.URL(url)
    return next((proxy for pattern, proxy in patterns if pattern.matches(target)), None)


def random_envs(count: int, seed: int) -> list[dict[str, str]]:
    rng = random.Random(seed)
    envs = []
    for _ in range(count):
        env = {name: rng.choice(PROXY_VALUES) for name in PROXY_VARS if rng.random() < 0.35}
        for name in ("no_proxy", "NO_PROXY"):
            if rng.random() < 0.4:
                env[name] = rng.choice(NO_PROXY_VALUES)
        if rng.random() < 0.05:
            env["REQUEST_METHOD"] = "GET"
        envs.append(env)
    return envs


HAND_PICKED = [
    {},
    {"HTTPS_PROXY": "http://a.proxy:1"},
    {"https_proxy": "http://a.proxy:1", "HTTPS_PROXY": "http://b.proxy:2"},  # lower case wins
    {"https_proxy": "", "HTTPS_PROXY": "http://b.proxy:2"},  # an empty lower-case value masks
    {"https_proxy": "", "HTTPS_PROXY": "http://b.proxy:2", "ALL_PROXY": "http://a.proxy:1"},
    {"HTTP_PROXY": "http://a.proxy:1"},  # http only: https goes direct
    {"ALL_PROXY": "socks5h://c.proxy:3"},
    {"HTTPS_PROXY": "http://a.proxy:1", "NO_PROXY": "*"},
    {"HTTPS_PROXY": "http://a.proxy:1", "no_proxy": "", "NO_PROXY": "api.example.com"},
    {"HTTPS_PROXY": "http://a.proxy:1", "NO_PROXY": "*,other.org"},
    {"HTTPS_PROXY": "http://a.proxy:1", "NO_PROXY": "10.0.0.0/8,127.0.0.0/8"},
    {"HTTPS_PROXY": "http://a.proxy:1", "NO_PROXY": ".api.example.com"},
    {"HTTP_PROXY": "http://a.proxy:1", "REQUEST_METHOD": "GET"},  # CGI: HTTP_PROXY ignored
    {"http_proxy": "http://a.proxy:1", "REQUEST_METHOD": "GET"},
]


@pytest.mark.parametrize("env", HAND_PICKED + random_envs(400, seed=20240501))
def test_resolve_proxy_matches_requests(env):
    with environ(env):
        expected = {url: requests_decision(url)[0] for url in URLS}
    for url in URLS:
        choice = resolve_proxy(url, env)
        assert (choice.url if choice else None) == expected[url], (url, env)
        if choice is not None:
            assert env[choice.variable] == choice.url  # the variable named is the one holding the value
        assert requests_proxies(url, env) == ({url.split(":")[0]: choice.url} if choice else {})


@pytest.mark.parametrize("env", HAND_PICKED + random_envs(400, seed=77))
def test_httpx_resolve_proxy_matches_httpx2(env):
    with environ(env):
        expected = {url: httpx_decision(url) for url in URLS}
    for url in URLS:
        assert httpx_resolve_proxy(url, env, "httpx2").url == expected[url], (url, env)


@pytest.mark.parametrize(
    "env",
    [
        {"HTTPS_PROXY": "http://a.proxy:1", "NO_PROXY": "*.example.com,10.0.0.0/8"},
        {"HTTPS_PROXY": "http://a.proxy:1", "ALL_PROXY": "socks5h://c.proxy:3", "NO_PROXY": "localhost"},
        {"https_proxy": "", "HTTPS_PROXY": "http://b.proxy:2", "all_proxy": "d.proxy:4", "NO_PROXY": "api.example.com"},
        {"HTTP_PROXY": "http://a.proxy:1", "NO_PROXY": "http://api.example.com"},
        {"HTTPS_PROXY": "socks4://c.proxy:3"},
        {"HTTP_PROXY": "ftp://c.proxy:3"},
    ],
)
def test_httpx_model_matches_a_real_httpx2_client(env):
    import httpx2
    from httpx2._utils import get_environment_proxies

    with environ(env):
        mounts = get_environment_proxies()
        try:
            client = httpx2.Client()
        except ValueError:
            assert httpx_unsupported_proxy(env) is not None  # OpenAI() would raise the same way
            return
        with client:
            for url in URLS:
                target = httpx2.URL(url)
                chosen = next((p.pattern for p, t in client._mounts.items() if p.matches(target)), None)
                expected = mounts[chosen] if chosen is not None else None
                assert httpx_resolve_proxy(url, env).url == expected, (url, env)
    assert httpx_unsupported_proxy(env) is None


def test_documented_differences_between_requests_and_httpx():
    proxy = {"HTTPS_PROXY": "http://a.proxy:1"}
    host = "https://api.example.com/v1"
    # '*' among other entries: httpx goes direct for everything, requests only honours NO_PROXY='*' alone.
    env = {**proxy, "NO_PROXY": "*,other.org"}
    assert resolve_proxy(host, env) is not None and httpx_resolve_proxy(host, env).url is None
    # A leading dot: requests strips it (matches the host itself), httpx matches subdomains only.
    env = {**proxy, "NO_PROXY": ".api.example.com"}
    assert resolve_proxy(host, env) is None and httpx_resolve_proxy(host, env).url == "http://a.proxy:1"
    # CIDR: both for IPv4 in httpx2; the older httpx 0.28 matches the network address only.
    env = {**proxy, "NO_PROXY": "10.0.0.0/8"}
    assert resolve_proxy("https://10.1.2.3/v1", env) is None
    assert httpx_resolve_proxy("https://10.1.2.3/v1", env, "httpx2").url is None
    assert httpx_resolve_proxy("https://10.1.2.3/v1", env, "httpx").url == "http://a.proxy:1"
    # An empty lower-case no_proxy: requests still reads NO_PROXY for its own check, httpx does not.
    env = {**proxy, "no_proxy": "", "NO_PROXY": "api.example.com"}
    assert resolve_proxy(host, env) is None and httpx_resolve_proxy(host, env).url == "http://a.proxy:1"
    # A proxy value without scheme: requests cannot use `localhost:7890`, httpx prepends http://.
    assert (
        requests_proxy_url("localhost:7890") is None and requests_proxy_url("127.0.0.1:7890") == "http://127.0.0.1:7890"
    )
    assert httpx_resolve_proxy(host, {"HTTPS_PROXY": "localhost:7890"}).url == "http://localhost:7890"
    # socks4: requests (PySocks) can, httpx cannot: creating the client raises.
    assert httpx_unsupported_proxy({"ALL_PROXY": "socks4://c.proxy:3"}) is not None


@pytest.mark.parametrize(
    "value",
    [
        "127.0.0.1:7890",
        "localhost:7890",
        "proxy.corp:3128",
        "http://u:p@h:1",
        "socks5h://h:1",
        "h",
        "[::1]:8080",
        "u:p@h:1",
    ],
)
def test_requests_proxy_url_matches_requests_adapter(value):
    from requests.utils import prepend_scheme_if_needed
    from urllib3.util import parse_url

    prepared = prepend_scheme_if_needed(value, "http")
    usable = bool(parse_url(prepared).host)  # requests.adapters raises InvalidProxyURL otherwise
    assert (requests_proxy_url(value) is not None) == usable
    if usable:
        assert requests_proxy_url(value) == prepared


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"REQUESTS_CA_BUNDLE": "/a.pem"},
        {"CURL_CA_BUNDLE": "/b.pem"},
        {"REQUESTS_CA_BUNDLE": "", "CURL_CA_BUNDLE": "/b.pem"},
        {"REQUESTS_CA_BUNDLE": "/a.pem", "CURL_CA_BUNDLE": "/b.pem"},
    ],
)
def test_ca_bundle_matches_requests(env):
    with environ(env):
        _, verify = requests_decision("https://api.example.com/v1")
    assert ca_bundle(env) == (None if verify is True else verify)
    store = requests_trust(env)
    if verify is True:
        from requests.utils import DEFAULT_CA_BUNDLE_PATH

        assert store.cafile == DEFAULT_CA_BUNDLE_PATH and store.source == "certifi (default)"
    else:
        assert store.cafile == verify and store.problem is not None  # these paths do not exist


def test_httpx_trust_loads_what_httpx2_loads(tmp_path):
    import httpx2
    import trustme

    ca = trustme.CA()
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    for env in ({}, {"SSL_CERT_FILE": str(path)}, {"SSL_CERT_FILE": str(path), "REQUESTS_CA_BUNDLE": "/x.pem"}):
        with environ(env):
            theirs = httpx2.create_ssl_context()
        store = httpx_trust(env, "httpx2")
        ours = verifying_context(store.cafile, store.capath)
        assert ours.get_ca_certs() == theirs.get_ca_certs(), env
        assert theirs.verify_mode == ssl.CERT_REQUIRED
    assert httpx_trust({"SSL_CERT_FILE": str(path)}).source == "SSL_CERT_FILE"
    assert httpx_trust({}, "httpx").source == "certifi (default)"  # httpx 0.28 defaults to certifi
    assert httpx_trust({"SSL_CERT_FILE": str(tmp_path / "missing.pem")}).problem is not None


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://alice:s3cret@proxy:8080", "http://alice:****@proxy:8080"),
        ("socks5h://alice:p%40ss@127.0.0.1:1080", "socks5h://alice:****@127.0.0.1:1080"),
        ("http://tokenonly@proxy:8080", "http://****@proxy:8080"),
        ("http://proxy:8080", "http://proxy:8080"),
        ("alice:pw@proxy:8080", "alice:****@proxy:8080"),
        ("http://a:b@c@proxy:1/path", "http://a:****@proxy:1/path"),
    ],
)
def test_mask_proxy_url_hides_passwords(url, shown):
    assert mask_proxy_url(url) == shown
