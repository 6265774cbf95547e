"""The connection layer (server/wire/) seen from the wire: handshake refusals a person can
read, and deadlines that cost nothing per message but still act."""

import asyncio

from aiohttp import WSMsgType


async def raw_exchange(host: str, port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(request)
    try:
        async with asyncio.timeout(10):
            return await reader.read()  # the server closes after a refused handshake
    finally:
        writer.close()


async def test_plain_get_on_a_websocket_endpoint_says_what_it_is(server, session) -> None:
    async with session.get(server.make_url("/ws/echo")) as resp:
        assert resp.status == 400
        assert resp.headers["Upgrade"] == "websocket"
        body = await resp.json()
    assert "/ws/echo is a WebSocket endpoint" in body["error"]


async def test_unknown_websocket_version_is_told_which_one_we_speak(server) -> None:
    request = (
        b"GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 99\r\n"
        b"Connection: close\r\n\r\n"
    )
    answer = await raw_exchange(server.host, server.port, request)
    head = answer.split(b"\r\n\r\n", 1)[0].lower()
    assert head.startswith(b"http/1.1 400")
    assert b"\r\nsec-websocket-version: 13" in head  # RFC 6455 §4.2.2 (4)


async def test_idle_clock_closes_a_silent_client_after_it_was_busy(start_server, session) -> None:
    # The timer is armed once and moved on; a client that talked, then went silent, is
    # still closed: the clock counts from its last message, not from the upgrade.
    server = await start_server(ws_idle_timeout=0.5)
    async with session.ws_connect(server.make_url("/ws/echo")) as ws:
        for index in range(5):
            await ws.send_str(f"m{index}")
            assert await ws.receive_str(timeout=5) == f"m{index}"
        msg = await ws.receive(timeout=10)
    assert (msg.type, msg.data, msg.extra) == (WSMsgType.CLOSE, 1000, "idle timeout")
    async with session.get(server.make_url("/api/stats")) as resp:
        assert (await resp.json())["refused"] == {"idle_timeout": 1}
