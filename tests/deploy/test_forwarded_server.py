"""`--trusted-proxies` through real sockets: per-address limits count the clients a proxy
speaks for, and the Origin check accepts the page's https:// origin behind it; the same
headers from anyone else change nothing."""

from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest

from tests.server.test_origin_check import upgrade_headers

# What nginx and HAProxy (deploy/) send for a page at https://127.0.0.1:8443.
PUBLIC = "https://127.0.0.1:8443"


def forwarded(client: str, host: str = "127.0.0.1:8443") -> dict[str, str]:
    return {"X-Forwarded-For": client, "X-Forwarded-Proto": "https", "X-Forwarded-Host": host}


OpenStream = Callable[[object, str], Awaitable[int]]


@pytest.fixture
async def open_stream(session: aiohttp.ClientSession) -> AsyncIterator[OpenStream]:
    """Open an event stream for a forwarded client and keep it open; returns its status."""
    responses: list[aiohttp.ClientResponse] = []

    async def open_for(url: object, client: str) -> int:
        response = await session.get(url, headers=forwarded(client))  # type: ignore[arg-type]
        responses.append(response)
        return response.status

    yield open_for
    for response in responses:
        response.release()


async def test_per_address_limit_counts_forwarded_clients(start_server, open_stream) -> None:
    # The test client connects from 127.0.0.1: that is the proxy.
    server = await start_server(max_connections_per_ip=1, trusted_proxies="127.0.0.1")
    url = server.make_url("/sse/stream")
    assert await open_stream(url, "203.0.113.7") == 200
    assert await open_stream(url, "203.0.113.7") == 503
    assert await open_stream(url, "203.0.113.8") == 200


async def test_forwarded_headers_from_an_untrusted_peer_are_ignored(
    start_server, open_stream
) -> None:
    server = await start_server(max_connections_per_ip=1, trusted_proxies="10.0.0.0/8")
    url = server.make_url("/sse/stream")
    assert await open_stream(url, "203.0.113.7") == 200
    # A client cannot dodge its limit by naming another address.
    assert await open_stream(url, "203.0.113.8") == 503


@pytest.mark.parametrize("host", ["127.0.0.1:8443", "localhost:8443"])
async def test_the_pages_own_websocket_is_allowed_behind_a_trusted_proxy(
    start_server, session, host
) -> None:
    server = await start_server(trusted_proxies="127.0.0.1")
    origin = f"https://{host}"
    headers = {**upgrade_headers(origin), **forwarded("203.0.113.7", host)}
    async with session.ws_connect(server.make_url("/ws/echo"), headers=headers) as ws:
        await ws.send_str("hello through the proxy")
        assert (await ws.receive(timeout=5)).data == "hello through the proxy"


async def test_without_trust_the_proxied_page_is_refused_as_the_issue_describes(
    start_server, session
) -> None:
    server = await start_server()  # no --trusted-proxies: what a plain proxy_pass gives
    headers = {**upgrade_headers(PUBLIC), **forwarded("203.0.113.7")}
    async with session.get(server.make_url("/ws/echo"), headers=headers) as response:
        assert response.status == 403
        assert PUBLIC in (await response.json())["error"]


async def test_a_forged_origin_is_still_refused_behind_the_proxy(start_server, session) -> None:
    server = await start_server(trusted_proxies="127.0.0.1")
    headers = {**upgrade_headers("https://evil.example"), **forwarded("203.0.113.7")}
    async with session.get(server.make_url("/ws/echo"), headers=headers) as response:
        assert response.status == 403
