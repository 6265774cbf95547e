"""Defects a hostile-input suite found at the edge, each kept fixed by a test: clients that
vanish right after their request, numbers Python will not parse, Range units we do not know,
and room bodies far larger than any room message."""

import asyncio
import json
import logging
import socket
import struct
from collections.abc import AsyncIterator

import pytest

from server import keys
from server.core.validation import Limits, max_chat_bytes
from tests.waiting import eventually

UPGRADE = (
    "GET /ws/echo HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
REQUESTS = {
    "get": "GET /http/echo?x=1 HTTP/1.1\r\nHost: {host}\r\n\r\n",
    "sse": "GET /sse/stream?interval=10 HTTP/1.1\r\nHost: {host}\r\n\r\n",
    "post": "POST /http/echo HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5\r\n\r\nhello",
    "upgrade": UPGRADE,
    "long-poll": "GET /http/room/gone?since=0&wait=0.5 HTTP/1.1\r\nHost: {host}\r\n\r\n",
}


async def send_and_vanish(host: str, port: int, request: bytes, *, half_close: bool) -> None:
    """Send a whole request, then reset the connection (or only stop sending)."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(request)
    await writer.drain()
    sock = writer.get_extra_info("socket")
    if half_close:
        sock.shutdown(socket.SHUT_WR)
        await reader.read()  # the server answers (or closes); then we go
    else:  # SO_LINGER 0: close() sends RST, the abrupt way a client vanishes
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@pytest.mark.parametrize("half_close", [False, True], ids=["reset", "half-closed"])
async def test_clients_that_vanish_after_their_request_leave_no_traceback(
    start_live_server, session, caplog, half_close
) -> None:
    caplog.set_level(logging.DEBUG)
    server = await start_live_server(max_connections_per_ip=0)
    host = f"{server.host}:{server.port}"
    requests = [r.format(host=host).encode() for r in REQUESTS.values()] * 20
    await asyncio.wait_for(
        asyncio.gather(
            *(
                send_and_vanish(server.host, server.port, request, half_close=half_close)
                for request in requests
            )
        ),
        30,
    )
    # The server is still well, and it has let go of every stream.
    await eventually(lambda: len(server.app[keys.LIVE_CONNECTIONS]) == 0, limit_s=15)
    async with session.get(server.make_url("/api/stats")) as resp:
        stats = await resp.json()
    assert stats["departed"] <= len(requests)
    noisy = [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.levelno >= logging.WARNING or r.exc_info
    ]
    assert noisy == []


async def test_a_number_python_will_not_parse_is_a_400(server, session) -> None:
    body = '{"user": "u", "text": "t", "extra": ' + "9" * 5001 + "}"
    async with session.post(server.make_url("/http/room/digits"), data=body) as resp:
        assert resp.status == 400
        assert "more digits" in (await resp.json())["error"]
    async with session.ws_connect(server.make_url("/ws/room/digits")) as ws:
        await ws.send_str(body)
        assert "more digits" in json.loads(await ws.receive_str(timeout=5))["error"]
        await ws.send_json({"user": "u", "text": "still here"})
        assert json.loads(await ws.receive_str(timeout=5))["text"] == "still here"


async def test_a_range_in_an_unknown_unit_is_ignored(server, session) -> None:
    async with session.get(server.make_url("/static/index.html")) as resp:
        whole = await resp.read()
    async with session.get(
        server.make_url("/static/index.html"), headers={"Range": "lines=0-10"}
    ) as resp:
        assert resp.status == 200  # RFC 9110 §14.2, not 416
        assert await resp.read() == whole
    async with session.get(
        server.make_url("/static/index.html"), headers={"Range": "bytes=0-9"}
    ) as resp:
        assert resp.status == 206
        assert await resp.read() == whole[:10]


async def test_room_bodies_are_bounded_before_they_are_parsed(server, session) -> None:
    limit = max_chat_bytes(Limits())  # the default --max-user and --max-text
    huge = "[" + ",".join(["1"] * (limit // 2 + 10)) + "]"
    async with session.post(server.make_url("/http/room/big"), data=huge) as resp:
        assert resp.status == 413
        assert f"limit of {limit} bytes" in (await resp.json())["error"]

    async def chunked() -> AsyncIterator[
        bytes
    ]:  # no Content-Length: refused while it is read, not after
        for _ in range(100):
            yield b"[" + b"1," * 1000

    async with session.post(server.make_url("/http/room/big"), data=chunked()) as resp:
        assert resp.status == 413
    async with session.ws_connect(server.make_url("/ws/room/big")) as ws:
        await ws.send_str(huge)
        assert "limit of" in json.loads(await ws.receive_str(timeout=5))["error"]
    # A message at its longest, escaped at its longest, still fits.
    longest = json.dumps({"user": "\U0001f600" * 32, "text": "\U0001f600" * 4096})
    assert len(longest) <= limit
    async with session.post(server.make_url("/http/room/big"), data=longest) as resp:
        assert resp.status == 201
    async with session.get(server.make_url("/api/stats")) as resp:
        assert (await resp.json())["refused"] == {"body_too_large": 3}
