"""The whole doctor — network, api and a real completion — through real proxies, as a user behind one runs it.

The api client goes through requests (with PySocks for SOCKS), a different code path from the network
check's own socket probes: this is where "the doctor itself can use a SOCKS proxy" is proven.
"""

from __future__ import annotations

import json
import sys

import pytest
from conftest import assert_no_secret, fake_key, run_cli
from openai_server import Scenario


@pytest.mark.parametrize(
    "variable, scheme, proxy_fixture",
    [("ALL_PROXY", "socks5h", "socks_proxy"), ("HTTP_PROXY", "http", "http_proxy")],
)
def test_models_and_completion_go_through_the_configured_proxy(
    request, fake_api, env, project, variable, scheme, proxy_fixture
):
    proxy = request.getfixturevalue(proxy_fixture)
    key = fake_api.add_key(fake_key(), Scenario())
    env = {**env, "OPENAI_API_KEY": key, variable: f"{scheme}://127.0.0.1:{proxy.port}"}
    args = ["--only", "network,api,completion", "--json", "--timeout", "8"]
    run = run_cli(["doctor", *args, "--base-url", fake_api.base_url, "--python", sys.executable], env, cwd=project)
    assert_no_secret(run.output, key)
    report = json.loads(run.stdout)
    checks = {c["id"]: c for c in report["checks"]}
    assert run.returncode == 0, run.output
    configured = next(f for f in checks["network"]["findings"] if f["code"] == "proxy-configured")
    assert variable in configured["message"]
    assert checks["completion"]["findings"][0]["code"] == "completion-ok"
    # The proxy itself saw the API traffic: not a direct connection that merely looked fine.
    target = f"127.0.0.1:{fake_api.port}"
    assert target in proxy.wait_log(target), proxy.log()[-2000:]
    paths = [r.path for r in fake_api.requests_for(key)]
    assert paths[0] == "/v1/models" and "/v1/chat/completions" in paths
