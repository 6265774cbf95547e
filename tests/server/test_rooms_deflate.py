"""Room fan-out to permessage-deflate WebSockets (what every browser negotiates): each
message is compressed once per publish and the same frame goes to every subscriber, which
works because room connections are negotiated without server context takeover."""

import asyncio
import json
import os
import zlib
from typing import Any

import aiohttp
import pytest

from server import keys
from server.core.protocols import WireProtocol
from tests.waiting import eventually
from tests.wire import OP_TEXT, Frame, RawWebSocket

# What Chromium offers (and Firefox too, give or take the order of parameters).
BROWSER_OFFER = "permessage-deflate; client_max_window_bits"
DEFLATE_TAIL = b"\x00\x00\xff\xff"


def inflate_alone(frame: Frame, window_bits: int = 15) -> str:
    """A compressed message inflated with a fresh inflater: it works only if the message
    refers to nothing sent before it (no context takeover)."""
    assert frame.opcode == OP_TEXT
    assert frame.compressed
    return zlib.decompressobj(-window_bits).decompress(frame.payload + DEFLATE_TAIL).decode()


async def subscribe(server: Any, room: str, offer: str = BROWSER_OFFER) -> RawWebSocket:
    return await RawWebSocket.connect(
        server.host, server.port, f"/ws/room/{room}", extensions=offer
    )


async def post(session: aiohttp.ClientSession, server: Any, room: str, text: str) -> str:
    async with session.post(
        server.make_url(f"/http/room/{room}"), json={"user": "poster", "text": text}
    ) as response:
        assert response.status == 201, await response.text()
        return await response.text()


@pytest.mark.parametrize(
    ("path", "takeover_left_to_aiohttp"), [("/ws/room/lobby", False), ("/ws/echo", True)]
)
async def test_only_room_connections_drop_server_context_takeover(
    server, path, takeover_left_to_aiohttp
) -> None:
    ws = await RawWebSocket.connect(server.host, server.port, path, extensions=BROWSER_OFFER)
    await ws.close()
    accepted = ws.header("Sec-WebSocket-Extensions") or ""
    assert accepted.startswith("permessage-deflate")
    # RFC 7692 §7.1.1.1: a server may add it unasked. The echo keeps aiohttp's answer.
    assert ("server_no_context_takeover" in accepted) is not takeover_left_to_aiohttp


async def test_deflate_subscribers_get_one_shared_self_contained_frame(server, session) -> None:
    subscribers = [await subscribe(server, "shared") for _ in range(3)]
    try:
        hub = server.app[keys.HUB]
        await eventually(lambda: hub.snapshot()[0].subscribers["ws"] == 3)
        texts = ["first é", "second " * 40, "first é"]  # a repeat must not refer back
        posted = [await post(session, server, "shared", text) for text in texts]
        for sent in posted:
            frames = [await ws.read_frame() for ws in subscribers]
            assert len({f.payload for f in frames}) == 1  # the same bytes for everybody
            assert json.loads(inflate_alone(frames[0])) == json.loads(sent)
    finally:
        for ws in subscribers:
            await ws.close()


async def test_the_window_a_client_asks_for_is_kept(start_server, session) -> None:
    server = await start_server(max_text=20_000)
    ws = await subscribe(server, "small", BROWSER_OFFER + "; server_max_window_bits=10")
    try:
        assert "server_max_window_bits=10" in (ws.header("Sec-WebSocket-Extensions") or "")
        await eventually(lambda: server.app[keys.HUB].snapshot()[0].subscribers["ws"] == 1)
        # A repeat 3,000 bytes back: a 32 KiB window finds it and the message shrinks to
        # about one half compressed; within the 1 KiB window asked for it cannot be used.
        block = os.urandom(1500).hex()
        sent = await post(session, server, "small", block + block)
        frame = await ws.read_frame()
        assert json.loads(inflate_alone(frame, window_bits=10)) == json.loads(sent)
        assert len(frame.payload) > len(block)
    finally:
        await ws.close()


async def test_stalled_deflate_subscriber_is_cut_after_the_send_timeout(
    start_server, session
) -> None:
    server = await start_server(room_queue=100_000, ws_send_timeout=0.5)
    stalled = await session.ws_connect(server.make_url("/ws/room/stuck"), compress=15)
    assert stalled.compress
    hub = server.app[keys.HUB]
    await eventually(lambda: hub.snapshot()[0].subscribers["ws"] == 1)

    async def send_timeouts() -> int:
        async with session.get(server.make_url("/api/stats")) as response:
            count: int = (await response.json())["refused"].get("send_timeout", 0)
            return count

    async def publish_until_cut() -> None:
        while await send_timeouts() == 0:
            for _ in range(200):  # random text: it hardly compresses, so buffers fill
                await hub.publish("stuck", "load", os.urandom(2000).hex(), WireProtocol.HTTP)

    await asyncio.wait_for(publish_until_cut(), 20)
    await eventually(lambda: hub.snapshot()[0].subscribers["ws"] == 0)
    await stalled.close()
