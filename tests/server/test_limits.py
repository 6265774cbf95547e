"""Limits through real sockets: per-address connections, idle WebSockets, SSE lifetime, and
`/api/stats` counting every refusal by its reason."""

import asyncio
import json
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import WSCloseCode, WSMsgType

from client.sse_parser import EventStreamParser
from server import keys
from tests.streams import read_events
from tests.waiting import eventually


@pytest.fixture
async def other_address() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session whose connections come from 127.0.0.2 (loopback, another address)."""
    connector = aiohttp.TCPConnector(limit=0, local_addr=("127.0.0.2", 0))
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


async def refused(session: aiohttp.ClientSession, server) -> dict[str, int]:
    async with session.get(server.make_url("/api/stats")) as response:
        refusals: dict[str, int] = (await response.json())["refused"]
    return refusals


async def test_per_address_limit_closes_websocket_1013_and_spares_others(
    start_server, session, other_address
) -> None:
    server = await start_server(max_connections_per_ip=2)
    url = server.make_url("/ws/echo")
    first = await other_address.ws_connect(url)
    second = await other_address.ws_connect(url)
    async with other_address.ws_connect(url) as third:
        msg = await third.receive(timeout=5)
        assert (msg.type, msg.data) == (WSMsgType.CLOSE, WSCloseCode.TRY_AGAIN_LATER)
        assert "your address holds its limit of 2" in msg.extra
    async with session.ws_connect(url) as neighbour:  # 127.0.0.1 is another client
        await neighbour.send_str("still served")
        assert await neighbour.receive_str(timeout=5) == "still served"
    await first.close()
    live = server.app[keys.LIVE_CONNECTIONS]
    await eventually(lambda: live.from_peer("127.0.0.2") == 1)
    async with other_address.ws_connect(url) as again:  # a place was freed
        await again.send_str("back")
        assert await again.receive_str(timeout=5) == "back"
    await second.close()
    assert await refused(session, server) == {"max_connections_per_ip": 1}


async def test_per_address_limit_answers_sse_with_503(
    start_server, session, other_address
) -> None:
    server = await start_server(max_connections_per_ip=1)
    url = server.make_url("/sse/stream?interval=60000")
    async with other_address.get(url) as first:
        assert first.status == 200
        async with other_address.get(url) as second:
            assert second.status == 503
            assert second.headers["Retry-After"] == "1"
            assert "your address" in (await second.json())["error"]
        async with session.get(url) as neighbour:
            assert neighbour.status == 200
    assert await refused(session, server) == {"max_connections_per_ip": 1}


async def test_total_limit_counts_its_own_reason(start_server, session, other_address) -> None:
    server = await start_server(max_connections=1, max_connections_per_ip=5)
    async with session.get(server.make_url("/sse/stream?interval=60000")) as first:
        assert first.status == 200
        async with other_address.get(server.make_url("/sse/stream")) as second:
            assert second.status == 503
            assert "the server holds its limit of 1" in (await second.json())["error"]
    assert await refused(session, server) == {"max_connections": 1}


@pytest.mark.parametrize("path", ["/ws/echo", "/ws/room/quiet"])
async def test_silent_websocket_is_closed_for_idling(start_server, session, path) -> None:
    server = await start_server(ws_idle_timeout=0.3, ws_heartbeat=0.05)
    started = time.monotonic()
    # heartbeat=0.05: the client pings too, and answers the server's pings; none of it counts.
    async with session.ws_connect(server.make_url(path), heartbeat=0.05) as ws:
        msg = await ws.receive(timeout=5)
    assert (msg.type, msg.data, msg.extra) == (WSMsgType.CLOSE, 1000, "idle timeout")
    assert 0.3 <= time.monotonic() - started < 2
    assert await refused(session, server) == {"idle_timeout": 1}


async def test_messages_keep_a_websocket_alive(start_server, session) -> None:
    server = await start_server(ws_idle_timeout=0.2)
    async with session.ws_connect(server.make_url("/ws/echo")) as ws:
        started = time.monotonic()
        while time.monotonic() - started < 0.6:  # three idle periods of steady talk
            await ws.send_str("still here")
            assert await ws.receive_str(timeout=5) == "still here"
        msg = await ws.receive(timeout=5)  # then silence
        assert msg.extra == "idle timeout"


async def test_stream_listeners_are_not_idle(start_server, session) -> None:
    server = await start_server(ws_idle_timeout=0.1)
    async with session.ws_connect(server.make_url("/ws/stream?count=8&interval=50")) as ws:
        seqs = [json.loads(await ws.receive_str(timeout=5))["seq"] for _ in range(8)]
        msg = await ws.receive(timeout=5)
    assert seqs == list(range(1, 9))
    assert (msg.data, msg.extra) == (1000, "stream complete")


async def test_sse_lifetime_ends_the_stream_and_resume_loses_nothing(
    start_server, session
) -> None:
    server = await start_server(sse_max_lifetime=0.3)
    url = server.make_url("/sse/stream?interval=20")
    parser = EventStreamParser()
    seqs: list[int] = []
    for _ in range(3):  # what EventSource does: reconnect with Last-Event-ID, three times
        headers = {"Last-Event-ID": str(seqs[-1])} if seqs else {}
        async with session.get(url, headers=headers) as response:
            started = time.monotonic()
            # Returns when the server ends the stream; without a lifetime it never would.
            events = await asyncio.wait_for(read_events(response, parser), 5)
            assert 0.25 < time.monotonic() - started < 2
        seqs += [json.loads(event.data)["seq"] for event in events]
    assert seqs == list(range(1, len(seqs) + 1))
    assert await refused(session, server) == {"sse_lifetime": 3}


async def test_sse_room_lifetime_resume_gets_what_was_said_meanwhile(
    start_server, session
) -> None:
    server = await start_server(sse_max_lifetime=0.2)
    async with session.get(server.make_url("/sse/room/talk")) as response:
        await response.content.readuntil(b"\r\n\r\n")  # retry field: subscribed
        for text in ("one", "two"):
            async with session.post(
                server.make_url("/http/room/talk"), json={"user": "u", "text": text}
            ) as posted:
                assert posted.status == 201
        body = await asyncio.wait_for(response.read(), 5)  # ends by itself at its lifetime
    assert b"stream lifetime of 0.2 s reached" in body
    events = EventStreamParser().feed(body)
    assert [json.loads(e.data)["text"] for e in events] == ["one", "two"]
    async with session.post(
        server.make_url("/http/room/talk"), json={"user": "u", "text": "three"}
    ) as posted:
        assert posted.status == 201
    async with session.get(
        server.make_url("/sse/room/talk"), headers={"Last-Event-ID": events[-1].last_event_id}
    ) as response:
        resumed = await read_events(response, EventStreamParser(), limit=1)
    assert json.loads(resumed[0].data)["text"] == "three"


async def test_every_refusal_is_counted_by_reason(start_server, session) -> None:
    server = await start_server(
        http_max_body=30, ws_max_size=10, room_rate=0.001, room_burst=1, max_rooms=1
    )
    async with session.post(server.make_url("/http/echo"), data=b"x" * 31) as response:
        assert response.status == 413
    async with session.ws_connect(server.make_url("/ws/echo")) as ws:
        await ws.send_str("x" * 11)
        assert (await ws.receive(timeout=5)).data == WSCloseCode.MESSAGE_TOO_BIG
    message = {"user": "u", "text": "t"}
    async with session.post(server.make_url("/http/room/a"), json=message) as response:
        assert response.status == 201
    async with session.post(server.make_url("/http/room/a"), json=message) as response:
        assert response.status == 429
    async with session.get(server.make_url("/sse/room/b")) as response:
        assert response.status == 503
        assert "room limit" in (await response.json())["error"]
    assert await refused(session, server) == {
        "body_too_large": 1,
        "max_rooms": 1,
        "rate_limit": 1,
        "ws_message_too_big": 1,
    }
