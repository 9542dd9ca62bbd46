"""The one place that decides which proxy and CA bundle the API traffic uses (requests' rules), and where httpx differs.

requests' rules are read from requests 2.34 / urllib (Linux): `requests.utils.should_bypass_proxies`,
`get_environ_proxies`, `select_proxy`, `urllib.request.getproxies_environment` and
`proxy_bypass_environment`. httpx's are read from httpx2 2.16 (`httpx2._utils.get_environment_proxies`,
`URLPattern`, `httpcore2.default_ssl_context`), which the openai 3.x SDK uses, with the older
`httpx` 0.28 modelled where it differs. Every function takes the environment as a mapping, never
os.environ, so the doctor can judge the environment a program started with `load_dotenv()` would see.
On macOS and Windows urllib also reads the system proxy settings when no variable is set; this module
models the variables only.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
# Proxy URL schemes each client can use (requests through urllib3 + PySocks; httpx through socksio).
REQUESTS_PROXY_SCHEMES = ("http", "https", "socks4", "socks4a", "socks5", "socks5h")
HTTPX_PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")
SOCKS_SCHEMES = ("socks4", "socks4a", "socks5", "socks5h")


@dataclass(frozen=True)
class ProxyChoice:
    """The proxy URL requests would use for a target, and the variable that set it."""

    url: str
    variable: str


# ---------------------------------------------------------------- requests / urllib


def environ_proxies(env: Mapping[str, str]) -> dict[str, ProxyChoice]:
    """urllib's `getproxies_environment()` on `env`: scheme ("http", "no", …) → value and the variable holding it."""
    proxies: dict[str, ProxyChoice] = {}
    # First pass: any case, non-empty values; the second pass lets lower-case `*_proxy` names win,
    # and an empty lower-case value removes what an upper-case one set.
    for name, value in env.items():
        lowered = name.lower()
        if value and lowered[-6:] == "_proxy":
            proxies[lowered[:-6]] = ProxyChoice(value, name)
    if "REQUEST_METHOD" in env:  # CVE-2016-1000110: under CGI, HTTP_PROXY may come from a request header
        proxies.pop("http", None)
    for name, value in env.items():
        if name[-6:] == "_proxy":
            if value:
                proxies[name[:-6].lower()] = ProxyChoice(value, name)
            else:
                proxies.pop(name[:-6].lower(), None)
    return proxies


def _is_ipv4_address(text: str) -> bool:
    """requests' `is_ipv4_address`: whatever inet_aton accepts (so `127.1` counts)."""
    try:
        socket.inet_aton(text)
    except OSError:
        return False
    return True


def _is_valid_cidr(text: str) -> bool:
    """requests' `is_valid_cidr`: one `/`, a mask 1..32, an inet_aton address."""
    if text.count("/") != 1:
        return False
    address, bits = text.split("/")
    try:
        mask = int(bits)
    except ValueError:
        return False
    return 1 <= mask <= 32 and _is_ipv4_address(address)


def _address_in_network(ip: str, net: str) -> bool:
    """requests' `address_in_network` for an IPv4 address and a valid CIDR."""
    address, bits = net.split("/")
    netmask = (0xFFFFFFFF << (32 - int(bits))) & 0xFFFFFFFF
    ip_value = struct.unpack("!L", socket.inet_aton(ip))[0]
    net_value = struct.unpack("!L", socket.inet_aton(address))[0]
    return (ip_value & netmask) == (net_value & netmask)


_SPLITPORT = re.compile(r"(.*):([0-9]*)", re.DOTALL)


def _urllib_bypass(host: str, proxies: Mapping[str, ProxyChoice]) -> str | None:
    """urllib's `proxy_bypass_environment(host)`: the NO_PROXY entry that bypasses `host`, or None."""
    if "no" not in proxies:
        return None
    no_proxy = proxies["no"].url
    if no_proxy == "*":
        return "*"
    host = host.lower()
    match = _SPLITPORT.fullmatch(host)
    hostonly = match.group(1) if match else host
    for raw in no_proxy.split(","):
        name = raw.strip().lstrip(".").lower()
        if not name:
            continue
        if hostonly == name or host == name or hostonly.endswith("." + name) or host.endswith("." + name):
            return raw.strip()
    return None


def bypass_entry(url: str, env: Mapping[str, str]) -> str | None:
    """The NO_PROXY entry that makes requests go direct for `url` (requests' `should_bypass_proxies`), or None."""
    parts = urlsplit(url)
    hostname = parts.hostname
    if hostname is None:
        return "(no host)"
    # requests' own pass reads `no_proxy or NO_PROXY`: an empty lower-case value does not mask here.
    no_proxy = env.get("no_proxy") or env.get("NO_PROXY")
    if no_proxy:
        entries = [h for h in no_proxy.replace(" ", "").split(",") if h]
        if _is_ipv4_address(hostname):
            for entry in entries:
                if _is_valid_cidr(entry):
                    if _address_in_network(hostname, entry):
                        return entry
                elif hostname == entry:
                    return entry
        else:
            try:
                port = parts.port
            except ValueError:
                port = None
            host_with_port = f"{hostname}:{port}" if port else hostname
            for entry in entries:
                bare = entry.lstrip(".")
                if bare in (hostname, host_with_port):
                    return entry
                if hostname.endswith("." + bare) or host_with_port.endswith("." + bare):
                    return entry
    # Then urllib's rule (Linux), which honours the lower-case masking and lower-cases both sides.
    return _urllib_bypass(hostname, environ_proxies(env))


def resolve_proxy(url: str, env: Mapping[str, str]) -> ProxyChoice | None:
    """The proxy requests would use for `url` under environment `env`, or None for a direct connection."""
    if bypass_entry(url, env) is not None:
        return None
    parts = urlsplit(url)
    proxies = environ_proxies(env)
    host = parts.hostname or ""
    for key in (f"{parts.scheme}://{host}", parts.scheme, f"all://{host}", "all"):
        if key in proxies:
            return proxies[key]
    return None


def requests_proxies(url: str, env: Mapping[str, str]) -> dict[str, str]:
    """The `proxies=` mapping to give a requests call for `url` (empty for a direct connection)."""
    choice = resolve_proxy(url, env)
    return {urlsplit(url).scheme: choice.url} if choice else {}


def ca_bundle(env: Mapping[str, str]) -> str | None:
    """The CA bundle requests would verify with: REQUESTS_CA_BUNDLE, then CURL_CA_BUNDLE."""
    return env.get("REQUESTS_CA_BUNDLE") or env.get("CURL_CA_BUNDLE") or None


# urllib3's `parse_url` takes anything starting like `word:` as a scheme, so `localhost:7890` has no host.
_URLLIB3_SCHEME = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+-]*:|/)")


def requests_proxy_url(value: str) -> str | None:
    """The proxy URL requests really uses for a variable's value (`http://` prepended), or None if it cannot."""
    if "://" in value:
        return value
    if _URLLIB3_SCHEME.search(value):
        return None  # requests raises InvalidProxyURL: "localhost:7890" parses as scheme "localhost"
    return "http://" + value


def httpx_proxy_url(value: str) -> str:
    """The proxy URL httpx uses for a variable's value: `http://` prepended when there is no `://`."""
    return value if "://" in value else "http://" + value


@dataclass(frozen=True)
class ProxyEndpoint:
    """A proxy URL taken apart: scheme, host, port and credentials (percent-decoded, as requests does)."""

    scheme: str
    host: str
    port: int
    username: str | None
    password: str | None

    @property
    def is_socks(self) -> bool:
        """Whether it is a SOCKS proxy."""
        return self.scheme in SOCKS_SCHEMES


def parse_proxy_url(url: str) -> ProxyEndpoint | None:
    """Split a proxy URL (scheme required) into its parts; None when it has no usable host or port."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if not parts.hostname or not scheme:
        return None
    default = {"http": 80, "https": 443}.get(scheme, 1080)
    user = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    return ProxyEndpoint(scheme, parts.hostname, port or default, user, password)


def mask_proxy_url(url: str) -> str:
    """A proxy URL safe to print: `http://user:****@host:port`; a lone user-info part is hidden entirely."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    authority, slash, path = rest.partition("/")
    if "@" not in authority:
        return url
    userinfo, _, hostport = authority.rpartition("@")
    user, colon, _password = userinfo.partition(":")
    shown = f"{user}:****" if colon else "****"
    return f"{scheme}{sep}{shown}@{hostport}{slash}{path}"


def is_ip_address(host: str) -> bool:
    """Whether `host` is an IPv4 or IPv6 address rather than a name."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def is_loopback_host(host: str) -> bool:
    """Whether `host` names this machine: localhost, *.localhost, 127.0.0.0/8 or ::1."""
    host = host.lower().strip("[]")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# ---------------------------------------------------------------- httpx (the openai SDK)


@dataclass(frozen=True)
class HttpxChoice:
    """What httpx would do for a URL: the proxy URL (None: direct), the rule that decided, or why it refuses."""

    url: str | None
    rule: str
    error: str | None = None


@dataclass
class _Pattern:
    """httpx's `URLPattern`, enough of it to match a target URL."""

    key: str
    scheme: str
    host: str
    port: int | None
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None
    regex: re.Pattern[str] | None

    @property
    def priority(self) -> tuple[int, int, int, int, int]:
        """httpx's sort key: a port first, then exact hosts, smaller networks, longer hosts, longer schemes."""
        port_priority = 0 if self.port is not None else 1
        host_kind = 1 if self.network is not None else 0 if self.host else 2
        network_size = self.network.num_addresses if self.network is not None else 0
        host_len = -len(self.host) if self.network is None else 0
        return (port_priority, host_kind, network_size, host_len, -len(self.scheme))

    def matches(self, scheme: str, host: str, port: int | None) -> bool:
        """Whether a target (scheme, lower-case host, port or None for the default) falls under this mount."""
        if self.scheme and self.scheme != scheme:
            return False
        if self.network is not None:
            try:
                if ipaddress.ip_address(host) not in self.network:
                    return False
            except ValueError:
                return False
        elif self.host and self.regex is not None and not self.regex.match(host):
            return False
        return not (self.port is not None and self.port != port)


def _is_ip(text: str, kind: type) -> bool:
    try:
        kind(text.split("/")[0])
    except ValueError:
        return False
    return True


def _parse_pattern(key: str, flavor: str) -> _Pattern | None:
    """Build a pattern as httpx does; None where httpx drops the entry as unparseable."""
    try:
        parts = urlsplit(key)
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme:
        return None
    netloc_host = parts.netloc.rpartition("@")[2]
    if netloc_host.startswith("["):
        host = netloc_host[1:].partition("]")[0].lower()
    else:
        host = netloc_host.rpartition(":")[0] if port is not None else netloc_host
        host = host.lower()
    prefix = parts.path.removeprefix("/")
    network = None
    if prefix and flavor == "httpx2" and (_is_ip(host, ipaddress.IPv4Address) or _is_ip(host, ipaddress.IPv6Address)):
        if not prefix.isdigit():
            return None
        try:
            network = ipaddress.ip_network(f"{host}/{prefix}", strict=False)
        except ValueError:
            return None
    scheme = "" if parts.scheme == "all" else parts.scheme
    host = "" if host == "*" else host
    regex = None
    if network is None and host:
        if host.startswith("*."):
            regex = re.compile(rf"^.+\.{re.escape(host[2:])}$")
        elif host.startswith("*"):
            regex = re.compile(rf"^(.+\.)?{re.escape(host[1:])}$")
        else:
            regex = re.compile(rf"^{re.escape(host)}$")
    return _Pattern(key, scheme, host, port, network, regex)


def _no_proxy_key(entry: str, flavor: str) -> str | None:
    """The mount key httpx makes of one NO_PROXY entry."""
    if "://" in entry:
        return entry
    if flavor == "httpx2":
        if entry.startswith("["):
            return f"all://{entry}"
        if _is_ip(entry, ipaddress.IPv4Address):
            return f"all://{entry}"
        if _is_ip(entry, ipaddress.IPv6Address):
            address, slash, prefix = entry.partition("/")
            return f"all://[{address}]{slash}{prefix}"
        if entry.lower() == "localhost":
            return f"all://{entry}"
        if entry.startswith("*.") and "/" not in entry:
            return f"all://{entry}"
        return f"all://*{entry}" if "/" not in entry else None
    # httpx 0.28: no CIDR networks (the path is ignored), no `*.` form.
    if _is_ip(entry, ipaddress.IPv4Address) or entry.lower() == "localhost":
        return f"all://{entry}"
    if _is_ip(entry, ipaddress.IPv6Address):
        return f"all://[{entry}]"
    return f"all://*{entry}"


Mounts = dict[str, tuple[str | None, str]]


def httpx_mounts(env: Mapping[str, str], flavor: str = "httpx2") -> tuple[Mounts, str | None]:
    """httpx's proxy mounts from `env`: key → (proxy URL or None for direct, the variable or entry behind it).

    The second value is the NO_PROXY `*` rule when it disables every proxy (then the mounts are empty).
    """
    proxies = environ_proxies(env)
    mounts: Mounts = {}
    for scheme in ("http", "https", "all"):
        if scheme in proxies:
            mounts[f"{scheme}://"] = (httpx_proxy_url(proxies[scheme].url), proxies[scheme].variable)
    if "no" in proxies:
        no_proxy = proxies["no"]
        for raw in no_proxy.url.split(","):
            entry = raw.strip()
            if entry == "*":
                return {}, f"{no_proxy.variable} entry '*'"
            if entry:
                key = _no_proxy_key(entry, flavor)
                if key is not None:
                    mounts[key] = (None, f"{no_proxy.variable} entry '{entry}'")
    return mounts, None


def httpx_unsupported_proxy(env: Mapping[str, str], flavor: str = "httpx2") -> str | None:
    """Why creating an httpx client fails outright for this environment (a proxy scheme it lacks), or None."""
    mounts, _ = httpx_mounts(env, flavor)
    for proxy_url, variable in mounts.values():
        if proxy_url is not None:
            scheme = proxy_url.partition("://")[0].lower()
            if scheme not in HTTPX_PROXY_SCHEMES:
                return (
                    f"httpx does not support {scheme}:// proxies ({variable}={mask_proxy_url(proxy_url)}):"
                    " creating the client (OpenAI()) raises ValueError"
                )
    return None


def httpx_resolve_proxy(url: str, env: Mapping[str, str], flavor: str = "httpx2") -> HttpxChoice:
    """What httpx (`flavor` "httpx2" or "httpx") would do for `url` with proxies from `env`."""
    error = httpx_unsupported_proxy(env, flavor)
    mounts, star = httpx_mounts(env, flavor)
    if star is not None:
        return HttpxChoice(None, star, error)
    patterns = [(p, mounts[key]) for key in mounts if (p := _parse_pattern(key, flavor)) is not None]
    patterns.sort(key=lambda item: item[0].priority)  # stable: equal priorities keep insertion order
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if port == DEFAULT_PORTS.get(scheme):
        port = None  # httpx normalises a default port away, so `host:443` entries never match it
    for pattern, (proxy_url, rule) in patterns:
        if pattern.matches(scheme, host, port):
            return HttpxChoice(proxy_url, rule, error)
    return HttpxChoice(None, "no proxy variable applies", error)


# ---------------------------------------------------------------- CA bundles


@dataclass(frozen=True)
class TrustStore:
    """Where a client takes its trusted CAs from: a file or directory, the variable that chose it, or a problem."""

    client: str
    cafile: str | None
    capath: str | None
    source: str
    problem: str | None = None

    @property
    def key(self) -> tuple[str | None, str | None]:
        """What decides verification: two stores with the same key verify alike."""
        return (self.cafile, self.capath)


def certifi_bundle() -> str | None:
    """certifi's bundle (what requests and httpx 0.28 use by default), or None when certifi is missing."""
    try:
        import certifi
    except ImportError:
        return None
    return certifi.where()


# httpcore2's fallbacks when OpenSSL's compiled-in paths are unusable (truststore's Linux list).
_SYSTEM_CA_FILES = (
    "/etc/ssl/cert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/pki/tls/cert.pem",
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/ssl/ca-bundle.pem",
)


def system_trust() -> tuple[str | None, str | None]:
    """The operating system's CA store as httpcore2 finds it: OpenSSL's compiled-in paths, never SSL_CERT_*."""
    import ssl

    paths = ssl.get_default_verify_paths()
    cafile = paths.openssl_cafile if os.path.isfile(paths.openssl_cafile) else None
    capath = paths.openssl_capath if os.path.isdir(paths.openssl_capath) else None
    if capath and not cafile and not any(re.fullmatch(r"[0-9a-fA-F]{8}\.\d", f) for f in os.listdir(capath)):
        capath = None
    if not cafile and not capath:
        cafile = next((f for f in _SYSTEM_CA_FILES if os.path.isfile(f)), None)
    return cafile, capath


def requests_trust(env: Mapping[str, str]) -> TrustStore:
    """requests' CA store: REQUESTS_CA_BUNDLE, then CURL_CA_BUNDLE (file or directory), else certifi."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        value = env.get(name)
        if value:
            if os.path.isdir(value):
                return TrustStore("requests", None, value, name)
            if not os.path.exists(value):
                problem = f"{name}={value} does not exist: requests raises OSError before connecting"
                return TrustStore("requests", value, None, name, problem)
            return TrustStore("requests", value, None, name)
    return TrustStore("requests", certifi_bundle(), None, "certifi (default)")


def httpx_trust(env: Mapping[str, str], flavor: str = "httpx2") -> TrustStore:
    """httpx's CA store: SSL_CERT_FILE, then SSL_CERT_DIR, else the system store (httpx2) or certifi (httpx)."""
    client = "httpx (openai SDK)"
    cafile = env.get("SSL_CERT_FILE")
    if cafile:
        problem = None
        if not os.path.isfile(cafile):
            problem = f"SSL_CERT_FILE={cafile} is not a file: creating the client (OpenAI()) raises an error"
        return TrustStore(client, cafile, None, "SSL_CERT_FILE", problem)
    capath = env.get("SSL_CERT_DIR")
    if capath:
        problem = None if os.path.isdir(capath) else f"SSL_CERT_DIR={capath} is not a directory: no CA is trusted"
        return TrustStore(client, None, capath, "SSL_CERT_DIR", problem)
    if flavor == "httpx":
        return TrustStore(client, certifi_bundle(), None, "certifi (default)")
    file, path = system_trust()
    return TrustStore(client, file, path, "the system store (default)")
