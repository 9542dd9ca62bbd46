"""The one place that decides which proxy and CA bundle the API traffic uses (requests' rules)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class ProxyChoice:
    """The proxy URL requests would use for a target, and the variable that set it."""

    url: str
    variable: str


def _lookup(env: Mapping[str, str], name: str) -> tuple[str, str] | None:
    """requests/urllib: the lower-case variable wins, and an empty lower-case value masks the upper-case one."""
    if name in env:
        return (env[name], name) if env[name] else None
    upper = name.upper()
    if env.get(upper):
        return env[upper], upper
    return None


def _bypassed(host: str, env: Mapping[str, str]) -> bool:
    found = _lookup(env, "no_proxy")
    if not found:
        return False
    for entry in (e.strip().lower() for e in found[0].replace(" ", ",").split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        entry = entry.lstrip(".")
        if host == entry or host.endswith("." + entry):
            return True
    return False


def resolve_proxy(url: str, env: Mapping[str, str]) -> ProxyChoice | None:
    """The proxy requests would use for `url` under environment `env`, or None for a direct connection."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if _bypassed(host, env):
        return None
    for name in (f"{parts.scheme}_proxy", "all_proxy"):
        found = _lookup(env, name)
        if found:
            return ProxyChoice(found[0], found[1])
    return None


def requests_proxies(url: str, env: Mapping[str, str]) -> dict[str, str]:
    """The `proxies=` mapping to give a requests call for `url` (empty for a direct connection)."""
    choice = resolve_proxy(url, env)
    return {urlsplit(url).scheme: choice.url} if choice else {}


def ca_bundle(env: Mapping[str, str]) -> str | None:
    """The CA bundle requests would verify with: REQUESTS_CA_BUNDLE, then CURL_CA_BUNDLE."""
    return env.get("REQUESTS_CA_BUNDLE") or env.get("CURL_CA_BUNDLE") or None
