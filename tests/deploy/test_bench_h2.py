"""`bench h2` and `bench overhead` through a real proxy over TLS: the relay counts the TLS
bytes of the same requests over HTTP/1.1 and HTTP/2."""

import json

import pytest

from tests.deploy.conftest import DeployFactory
from tests.processes import finish, start_client

pytestmark = pytest.mark.slow


async def bench(*argv: str) -> dict[str, dict[str, float]]:
    """Run `python -m client bench ... --json`; its rows by protocol (one JSON object per
    line: the run's meta first, then a row per protocol)."""
    process, lines = await start_client("bench", *argv, "--json")
    output = await lines.rest(60)
    assert await finish(process) == 0, output
    rows = [json.loads(line) for line in output if line.startswith('{"scenario"')]
    return {row["protocol"]: row for row in rows}


async def test_h2_sends_the_same_requests_in_fewer_bytes_than_http1(
    behind_proxy: DeployFactory,
) -> None:
    deployed = behind_proxy("nginx")
    target = ["--url", deployed.url, "--cafile", str(deployed.ca)]
    rows = await bench("h2", "-n", "30", "--size", "32", *target)
    h1, h2 = rows["http/1.1"], rows["h2"]
    # Every request carries the 32-byte body and a head; HPACK shrinks the repeated head.
    for row in (h1, h2):
        assert row["up_bytes_per_msg"] > 32
    assert h2["up_bytes_per_msg"] < h1["up_bytes_per_msg"]
    assert h2["down_bytes_per_msg"] < h1["down_bytes_per_msg"]


async def test_overhead_runs_through_the_proxy_over_tls(behind_proxy: DeployFactory) -> None:
    deployed = behind_proxy("haproxy")
    target = ["--url", deployed.url, "--cafile", str(deployed.ca)]
    rows = await bench("overhead", "-n", "10", "--protocols", "ws,http", *target)
    # A WebSocket frame is far smaller than a request with its headers, TLS records or not.
    assert 32 < rows["ws"]["up_bytes_per_msg"] < rows["http"]["up_bytes_per_msg"]
