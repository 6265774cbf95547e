"""`GET /ws/echo` through real sockets: echo, limits, close codes, heartbeat."""

import aiohttp
import pytest
from aiohttp import WSMsgType

from tests.wire import OP_BINARY, OP_CLOSE, OP_TEXT, RawWebSocket


async def test_text_and_binary_are_echoed_verbatim(server, session) -> None:
    async with session.ws_connect(server.make_url("/ws/echo")) as ws:
        await ws.send_str("héllo, wörld")
        assert await ws.receive_str(timeout=5) == "héllo, wörld"
        payload = bytes(range(256)) * 4
        await ws.send_bytes(payload)
        assert await ws.receive_bytes(timeout=5) == payload


async def test_message_over_limit_gets_1009(start_server, session) -> None:
    server = await start_server(ws_max_size=1024)
    async with session.ws_connect(server.make_url("/ws/echo")) as ws:
        await ws.send_str("x" * 1024)
        assert await ws.receive_str(timeout=5) == "x" * 1024
        await ws.send_str("x" * 1025)
        msg = await ws.receive(timeout=5)
        assert msg.type is WSMsgType.CLOSE
        assert msg.data == aiohttp.WSCloseCode.MESSAGE_TOO_BIG


async def test_zero_limit_means_unlimited(start_server, session) -> None:
    server = await start_server(ws_max_size=0)
    async with session.ws_connect(server.make_url("/ws/echo"), max_msg_size=0) as ws:
        big = b"y" * (5 * 1024 * 1024)
        await ws.send_bytes(big)
        assert await ws.receive_bytes(timeout=10) == big


async def test_clean_close_is_answered_with_the_same_code(server, session) -> None:
    async with session.ws_connect(server.make_url("/ws/echo")) as ws:
        await ws.close(code=4000, message=b"bye")
        assert ws.close_code == 4000


@pytest.mark.parametrize(
    ("sent", "answered"),
    [
        (1000, 1000),
        (1001, 1001),
        (3000, 3000),
        (4999, 4999),
        (1006, 1002),
        (1005, 1002),
        (1004, 1002),
        (999, 1002),
        (2999, 1002),
        (5000, 1002),
    ],
)
async def test_close_codes_follow_rfc_6455(server, sent: int, answered: int) -> None:
    peer = await RawWebSocket.connect(server.host, server.port, "/ws/echo")
    try:
        peer.send_close(sent)
        frame = await peer.read_frame()
        assert frame.opcode == OP_CLOSE
        assert frame.close_code == answered
    finally:
        await peer.close()


async def test_invalid_utf8_text_gets_1007(server) -> None:
    peer = await RawWebSocket.connect(server.host, server.port, "/ws/echo")
    try:
        peer.send_frame(OP_TEXT, b"\xff\xfe broken")
        frame = await peer.read_frame()
        assert (frame.opcode, frame.close_code) == (OP_CLOSE, 1007)
    finally:
        await peer.close()


async def test_fragmented_message_is_echoed_whole(server) -> None:
    peer = await RawWebSocket.connect(server.host, server.port, "/ws/echo")
    try:
        peer.send_frame(OP_BINARY, b"abc", fin=False)
        peer.send_frame(0x0, b"def", fin=True)
        frame = await peer.read_frame()
        assert (frame.opcode, frame.payload) == (OP_BINARY, b"abcdef")
    finally:
        await peer.close()


async def test_heartbeat_closes_a_peer_that_never_answers_pings(start_server, session) -> None:
    server = await start_server(ws_heartbeat=0.2)
    # autoping=False: this client receives the pings but never answers them.
    async with session.ws_connect(server.make_url("/ws/echo"), autoping=False) as ws:
        first = await ws.receive(timeout=5)
        assert first.type is WSMsgType.PING
        while (msg := await ws.receive(timeout=5)).type is WSMsgType.PING:
            pass
        assert msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED)


async def test_connection_limit_closes_with_1013(start_server, session) -> None:
    server = await start_server(max_connections=1)
    async with session.ws_connect(server.make_url("/ws/echo")) as first:
        async with session.ws_connect(server.make_url("/ws/echo")) as second:
            msg = await second.receive(timeout=5)
            assert msg.type is WSMsgType.CLOSE
            assert msg.data == aiohttp.WSCloseCode.TRY_AGAIN_LATER
        await first.send_str("still served")
        assert await first.receive_str(timeout=5) == "still served"
    async with session.get(server.make_url("/api/stats")) as response:
        assert (await response.json())["refused"] == {"max_connections": 1}


async def test_plain_get_without_upgrade_is_a_json_400(server, session) -> None:
    async with session.get(server.make_url("/ws/echo")) as response:
        assert response.status == 400
        assert "error" in await response.json()
