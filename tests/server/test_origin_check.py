"""The Origin check through real sockets: cross-site WebSocket hijacking and CSRF refused."""

import base64
import os

import aiohttp
import pytest

from tests.wire import RawWebSocket

EVIL = "http://evil.example"


def upgrade_headers(origin: str | None) -> dict[str, str]:
    """A WebSocket upgrade request as a browser would send it from a page at `origin`."""
    headers = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
    }
    if origin is not None:
        headers["Origin"] = origin
    return headers


async def refused_counts(session: aiohttp.ClientSession, server) -> dict[str, int]:
    async with session.get(server.make_url("/api/stats")) as response:
        refusals: dict[str, int] = (await response.json())["refused"]
    return refusals


@pytest.mark.parametrize("path", ["/ws/echo", "/ws/stream?count=1", "/ws/room/lobby"])
async def test_foreign_page_gets_403_json_before_the_upgrade(server, session, path) -> None:
    async with session.get(server.make_url(path), headers=upgrade_headers(EVIL)) as response:
        assert response.status == 403
        assert "Upgrade" not in response.headers
        error = (await response.json())["error"]
    assert "http://evil.example" in error
    assert "--allowed-origins" in error
    assert await refused_counts(session, server) == {"origin": 1}


async def test_hijacking_page_cannot_join_a_room(server, session) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await session.ws_connect(server.make_url("/ws/room/lobby"), origin=EVIL)
    assert refused.value.status == 403
    async with session.get(server.make_url("/api/rooms")) as response:
        assert (await response.json())["rooms"] == []  # not even subscribed


async def test_cross_site_post_is_refused_and_publishes_nothing(server, session) -> None:
    url = server.make_url("/http/room/lobby")
    body = {"user": "mallory", "text": "sent from another site"}
    async with session.post(url, json=body, headers={"Origin": EVIL}) as response:
        assert response.status == 403
    async with session.post(
        server.make_url("/http/echo"), data=b"x", headers={"Origin": EVIL}
    ) as response:
        assert response.status == 403
    async with session.get(server.make_url("/http/room/lobby")) as response:
        assert await response.json() == []
    assert await refused_counts(session, server) == {"origin": 2}


@pytest.mark.parametrize(
    "origin", [None, "http://127.0.0.1:{port}", "http://localhost:{port}", "http://[::1]:{port}"]
)
async def test_own_page_and_programs_without_origin_are_served(server, session, origin) -> None:
    origin = origin.format(port=server.port) if origin else None
    async with session.ws_connect(server.make_url("/ws/echo"), origin=origin) as ws:
        await ws.send_str("mine")
        assert await ws.receive_str(timeout=5) == "mine"
    headers = {"Origin": origin} if origin else {}
    async with session.post(
        server.make_url("/http/room/lobby"), json={"user": "u", "text": "t"}, headers=headers
    ) as response:
        assert response.status == 201


async def test_null_origin_and_other_local_ports_are_refused(server, session) -> None:
    for origin in ("null", f"http://127.0.0.1:{server.port + 1}"):
        async with session.get(
            server.make_url("/ws/echo"), headers=upgrade_headers(origin)
        ) as response:
            assert response.status == 403, origin


async def test_dns_rebinding_is_refused(server) -> None:
    # The browser was sent to evil.example, which resolves to 127.0.0.1 now: Host and Origin
    # both name the attacker's site, and match each other.
    peer_error = None
    try:
        peer = await RawWebSocket.connect(
            server.host, server.port, "/ws/echo", origin=f"http://evil.example:{server.port}"
        )
        await peer.close()
    except ConnectionError as exc:
        peer_error = str(exc)
    assert peer_error is not None
    assert peer_error.startswith("HTTP/1.1 403")


async def test_reading_is_not_checked(server, session) -> None:
    # GETs change nothing, and CORS already keeps a foreign page from reading the answer.
    async with session.get(server.make_url("/api/stats"), headers={"Origin": EVIL}) as response:
        assert response.status == 200
        assert "Access-Control-Allow-Origin" not in response.headers


async def test_allowed_origins_extends_the_list(start_server, session) -> None:
    server = await start_server(allowed_origins="https://lab.example.com")
    async with session.ws_connect(
        server.make_url("/ws/echo"), origin="https://lab.example.com"
    ) as ws:
        await ws.send_str("ok")
        assert await ws.receive_str(timeout=5) == "ok"
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await session.ws_connect(server.make_url("/ws/echo"), origin=EVIL)


async def test_star_allows_any_origin(start_server, session) -> None:
    server = await start_server(allowed_origins="*")
    async with session.ws_connect(server.make_url("/ws/echo"), origin=EVIL) as ws:
        await ws.send_str("anyone")
        assert await ws.receive_str(timeout=5) == "anyone"
