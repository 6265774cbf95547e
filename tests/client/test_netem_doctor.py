"""`doctor` against each condition of the shaping proxy: it finds what the proxy does and
recommends a transport that survives it."""

from __future__ import annotations

from typing import Any

import pytest
from yarl import URL

from client.netem.conditions import parse_spec
from client.netem.proxy import NetemProxy
from tests.client.conftest import CliRunner


async def _doctor(cli: CliRunner, url: str, spec: str, budget: str = "0") -> dict[str, Any]:
    async with NetemProxy(URL(url), parse_spec(spec)) as proxy:
        run = await cli("doctor", str(proxy.url), "--idle-budget", budget, "--json")
    records = run.json_lines()
    steps = {r["step"]: r for r in records if r["type"] == "step"}
    lives = {r["protocol"]: r["lives"] for r in records if r["type"] == "survives"}
    (verdict,) = [r for r in records if r["type"] == "recommendation"]
    return {"code": run.code, "steps": steps, "lives": lives, "verdict": verdict}


async def test_clean_path_recommends_websocket(cli: CliRunner, url: str) -> None:
    found = await _doctor(cli, url, "delay=5ms")
    assert found["code"] == 0
    assert all(step["ok"] for step in found["steps"].values())
    assert found["steps"]["sse"]["detail"].startswith("delivered as sent")
    assert found["verdict"]["transport"] == "WebSocket"


async def test_stripped_upgrade_falls_back_to_sse(cli: CliRunner, url: str) -> None:
    found = await _doctor(cli, url, "strip-upgrade")
    assert not found["steps"]["websocket"]["ok"]
    assert "refused (HTTP 400)" in found["steps"]["websocket"]["detail"]
    assert found["lives"] == {"ws": False, "sse": True, "long-poll": True}
    assert found["verdict"]["transport"] == "SSE + POST"


async def test_buffering_proxy_is_seen_in_sse(cli: CliRunner, url: str) -> None:
    found = await _doctor(cli, url, "buffer-until-close")
    assert found["steps"]["sse"]["detail"].startswith("buffered")
    assert found["lives"]["sse"] is False
    assert found["verdict"]["transport"] == "WebSocket"  # a tunnel once upgraded


@pytest.mark.slow
async def test_idle_timeout_is_found_and_kills_slow_heartbeats(cli: CliRunner, url: str) -> None:
    found = await _doctor(cli, url, "idle-timeout=1s", budget="3")
    idle = found["verdict"]["idle_timeout_s"]
    assert 1.0 <= idle < 3.0  # never before the timeout; generous above
    # The test server pings every 20 s and comments every 15 s: both are cut first.
    assert found["lives"] == {"ws": False, "sse": False, "long-poll": False}
    assert found["verdict"]["transport"].startswith("HTTP long-poll with wait=")
