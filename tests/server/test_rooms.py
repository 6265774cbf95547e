"""Rooms through real sockets: one conversation over WebSocket, SSE and HTTP at once."""

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestServer

from client.sse_parser import EventStreamParser
from server import keys
from server.core.protocols import WireProtocol
from tests.streams import read_events
from tests.waiting import eventually


def seq_of(event_id: str) -> int:
    """The message id in an SSE id `<epoch>-<id>`."""
    return int(event_id.rpartition("-")[2])


async def post(
    session: aiohttp.ClientSession, server: TestServer, room: str, text: str, via: str = "http"
) -> dict[str, Any]:
    async with session.post(
        server.make_url(f"/http/room/{room}?via={via}"), json={"user": "poster", "text": text}
    ) as response:
        assert response.status == 201, await response.text()
        posted: dict[str, Any] = await response.json()
        return posted


async def room_info(
    session: aiohttp.ClientSession, server: TestServer, room: str
) -> dict[str, Any]:
    async with session.get(server.make_url("/api/rooms")) as response:
        rooms: dict[str, dict[str, Any]] = {
            info["name"]: info for info in (await response.json())["rooms"]
        }
    return rooms[room]


async def test_three_protocols_see_one_ordered_conversation(server, session) -> None:
    ws = await session.ws_connect(server.make_url("/ws/room/lobby"))
    stream = await session.get(server.make_url("/sse/room/lobby"))
    await stream.content.readuntil(b"\r\n\r\n")  # retry field: subscribed
    parser = EventStreamParser()

    await ws.send_json({"user": "wendy", "text": "hello from ws"})
    first = json.loads(await ws.receive_str(timeout=5))
    await post(session, server, "lobby", "hello from sse", via="sse")
    await post(session, server, "lobby", "hello from http")

    ws_seen = [first] + [json.loads(await ws.receive_str(timeout=5)) for _ in range(2)]
    sse_seen = [json.loads(e.data) for e in await read_events(stream, parser, limit=3)]
    async with session.get(server.make_url("/http/room/lobby?since=0")) as response:
        http_seen = await response.json()

    assert ws_seen == sse_seen == http_seen
    assert [m["id"] for m in ws_seen] == [1, 2, 3]
    assert [m["via"] for m in ws_seen] == ["ws", "sse", "http"]
    assert set(ws_seen[0]) == {"id", "epoch", "room", "user", "text", "ts", "via"}
    await ws.close()
    stream.close()


async def test_sse_resume_after_disconnect_has_no_gap_or_duplicate(server, session) -> None:
    for n in range(3):
        await post(session, server, "resume", f"m{n}")
    parser = EventStreamParser()
    async with session.get(server.make_url("/sse/room/resume?after=0")) as stream:
        before = await read_events(stream, parser, limit=2)
    for n in range(3, 5):  # published while disconnected
        await post(session, server, "resume", f"m{n}")
    headers = {"Last-Event-ID": before[-1].last_event_id}
    async with session.get(server.make_url("/sse/room/resume"), headers=headers) as stream:
        after = await read_events(stream, parser, limit=3)
    texts = [json.loads(e.data)["text"] for e in before + after]
    assert texts == ["m0", "m1", "m2", "m3", "m4"]


async def test_resume_older_than_history_reports_the_gap(start_server, session) -> None:
    server = await start_server(room_history=3)
    for n in range(1, 8):
        await post(session, server, "small", f"m{n}")
    async with session.get(
        server.make_url("/sse/room/small"), headers={"Last-Event-ID": "2"}
    ) as stream:
        events = await read_events(stream, EventStreamParser(), limit=4)
    assert (events[0].type, json.loads(events[0].data)) == ("gap", {"lost": 2})
    assert [seq_of(e.last_event_id) for e in events[1:]] == [5, 6, 7]
    async with session.ws_connect(server.make_url("/ws/room/small?after=2")) as ws:
        assert json.loads(await ws.receive_str(timeout=5)) == {"gap": {"lost": 2}}
        assert json.loads(await ws.receive_str(timeout=5))["id"] == 5
    async with session.get(server.make_url("/http/room/small?since=2")) as response:
        assert response.headers["X-Lost-Messages"] == "2"
        assert [m["id"] for m in await response.json()] == [5, 6, 7]


async def test_long_poll_wakes_on_publish(server, session) -> None:
    poll = asyncio.create_task(session.get(server.make_url("/http/room/wake?since=0&wait=10")))
    hub = server.app[keys.HUB]
    await eventually(lambda: any(info.waiters for info in hub.snapshot()))
    await post(session, server, "wake", "wake up")
    response = await asyncio.wait_for(poll, 5)
    assert [m["text"] for m in await response.json()] == ["wake up"]
    response.release()


async def test_long_poll_times_out_with_empty_list(server, session) -> None:
    async with session.get(server.make_url("/http/room/quiet?since=0&wait=0.1")) as response:
        assert response.status == 200
        assert await response.json() == []


async def test_stalled_ws_subscriber_is_dropped_while_others_keep_receiving(
    start_server, session
) -> None:
    server = await start_server(room_queue=8, ws_send_timeout=0.5)
    # A reader that never reads: the socket buffers fill, then its queue overflows.
    stalled = await session.ws_connect(server.make_url("/ws/room/busy"))
    healthy = await session.ws_connect(server.make_url("/ws/room/busy"))
    hub = server.app[keys.HUB]
    total, text = 2000, "x" * 4000
    received = asyncio.create_task(_count_messages(healthy, total))
    for _ in range(total):
        await hub.publish("busy", "load", text, WireProtocol.HTTP)
        await asyncio.sleep(0)  # let the healthy reader's forwarder run between publishes
    assert await asyncio.wait_for(received, 30) == total
    info = await room_info(session, server, "busy")
    assert info["subscribers"]["ws"] == 1
    async with session.get(server.make_url("/api/stats")) as response:
        assert (await response.json())["refused"]["slow_consumer"] == 1
    closing = await stalled.receive(timeout=10)
    while closing.type is WSMsgType.TEXT:  # what the buffers held before the drop
        closing = await stalled.receive(timeout=10)
    assert closing.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.ERROR)
    await healthy.close()


async def _count_messages(ws: aiohttp.ClientWebSocketResponse, total: int) -> int:
    count = 0
    while count < total:
        json.loads(await ws.receive_str(timeout=10))
        count += 1
    return count


async def test_two_hundred_subscribers_across_protocols_get_every_message(server, session) -> None:
    websockets = [await session.ws_connect(server.make_url("/ws/room/crowd")) for _ in range(100)]
    streams = []
    for _ in range(100):
        stream = await session.get(server.make_url("/sse/room/crowd"))
        await stream.content.readuntil(b"\r\n\r\n")
        streams.append(stream)
    for n in range(20):
        await post(session, server, "crowd", f"m{n}")
    expected = list(range(1, 21))

    async def ws_ids(ws: aiohttp.ClientWebSocketResponse) -> list[int]:
        return [json.loads(await ws.receive_str(timeout=10))["id"] for _ in expected]

    async def sse_ids(stream: aiohttp.ClientResponse) -> list[int]:
        events = await read_events(stream, EventStreamParser(), limit=len(expected))
        return [seq_of(e.last_event_id) for e in events]

    results = await asyncio.gather(*map(ws_ids, websockets), *map(sse_ids, streams))
    assert all(ids == expected for ids in results)
    for ws in websockets:
        await ws.close()
    for stream in streams:
        stream.close()


async def test_bad_ws_input_gets_error_frame_and_stays_open(server, session) -> None:
    async with session.ws_connect(server.make_url("/ws/room/errors")) as ws:
        for bad in (
            "not json",
            "[1]",
            '{"user": "u"}',
            json.dumps({"user": "", "text": "t"}),
            json.dumps({"user": "u", "text": "t" * 4097}),
            "[" * 100_000 + "]" * 100_000,
        ):
            await ws.send_str(bad)
            assert "error" in json.loads(await ws.receive_str(timeout=5))
        await ws.send_json({"user": "u", "text": "fine"})
        assert json.loads(await ws.receive_str(timeout=5))["text"] == "fine"


async def test_deeply_nested_json_is_a_400(server, session) -> None:
    # 40 kB, under the room body limit (a bigger body is a 413 before it is parsed).
    body = "[" * 20_000 + "]" * 20_000
    async with session.post(server.make_url("/http/room/deep"), data=body) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"] == "body is not valid JSON: nested too deeply"


async def test_ws_rate_limit_answers_with_an_error_frame(start_server, session) -> None:
    server = await start_server(room_rate=1, room_burst=2)
    async with session.ws_connect(server.make_url("/ws/room/rate")) as ws:
        for n in range(3):
            await ws.send_json({"user": "u", "text": f"m{n}"})
        frames = [json.loads(await ws.receive_str(timeout=5)) for _ in range(3)]
    # The error frame may overtake the echoes of m0 and m1: they travel through the room.
    assert sorted(f.get("text", "") for f in frames) == ["", "m0", "m1"]
    assert next(f["error"] for f in frames if "error" in f).startswith("rate limit")


async def test_http_rate_limit_is_429_with_retry_after(start_server, session) -> None:
    server = await start_server(room_rate=1, room_burst=1)
    await post(session, server, "rate", "one")
    async with session.post(
        server.make_url("/http/room/rate"), json={"user": "u", "text": "two"}
    ) as response:
        assert response.status == 429
        assert response.headers["Retry-After"] == "1"
        assert "rate limit" in (await response.json())["error"]


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        (b"not json", "JSON"),
        (b'{"user": "u"}', "text"),
        (b'{"user": 5, "text": "t"}', "user"),
        (b'{"user": "u", "text": ""}', "text"),
    ],
)
async def test_http_bad_message_is_400(server, session, body: bytes, complaint: str) -> None:
    async with session.post(server.make_url("/http/room/bad"), data=body) as response:
        assert response.status == 400
        assert complaint in (await response.json())["error"]


@pytest.mark.parametrize(
    "path",
    ["/http/room/bad%20name", "/sse/room/" + "x" * 65, "/ws/room/no.dots", "/http/room/%3Cb%3E"],
)
async def test_bad_room_name_is_400(server, session, path: str) -> None:
    async with session.get(server.make_url(path)) as response:
        assert response.status == 400
        assert "room" in (await response.json())["error"]


@pytest.mark.parametrize("query", ["since=-1", "since=x", "wait=31", "via=ftp"])
async def test_bad_room_query_is_400(server, session, query: str) -> None:
    method = session.post if query.startswith("via") else session.get
    async with method(
        server.make_url(f"/http/room/q?{query}"), json={"user": "u", "text": "t"}
    ) as response:
        assert response.status == 400


async def test_room_limit_is_503(start_server, session) -> None:
    server = await start_server(max_rooms=1)
    await post(session, server, "first", "hi")
    async with session.post(
        server.make_url("/http/room/second"), json={"user": "u", "text": "t"}
    ) as response:
        assert response.status == 503
        assert "room" in (await response.json())["error"]


async def test_api_rooms_counts_subscribers_per_protocol(server, session) -> None:
    async with session.ws_connect(server.make_url("/ws/room/census")) as ws:
        stream = await session.get(server.make_url("/sse/room/census"))
        await stream.content.readuntil(b"\r\n\r\n")
        info = await room_info(session, server, "census")
        assert info["subscribers"] == {"ws": 1, "sse": 1, "http": 0}
        stream.close()
        await ws.close()


async def test_html_in_text_is_stored_as_plain_data(server, session) -> None:
    message = await post(session, server, "xss", "<img src=x onerror=alert(1)>")
    assert message["text"] == "<img src=x onerror=alert(1)>"


async def test_stalled_sse_subscriber_is_dropped(start_server, session) -> None:
    server = await start_server(room_queue=4, sse_send_timeout=0.5)
    stalled = await session.get(server.make_url("/sse/room/slow"))
    await stalled.content.readuntil(b"\r\n\r\n")
    hub = server.app[keys.HUB]
    for _ in range(3000):  # far more than the socket buffers and the queue hold
        await hub.publish("slow", "load", "y" * 4000, WireProtocol.HTTP)
        await asyncio.sleep(0)
    assert hub.snapshot()[0].subscribers["sse"] == 0
    stalled.close()
    async with session.get(server.make_url("/api/stats")) as response:
        assert (await response.json())["refused"]["slow_consumer"] == 1


async def test_shutdown_ends_every_kind_of_room_connection(server, session) -> None:
    ws = await session.ws_connect(server.make_url("/ws/room/bye"))
    stream = await session.get(server.make_url("/sse/room/bye"))
    await stream.content.readuntil(b"\r\n\r\n")
    poll = asyncio.create_task(session.get(server.make_url("/http/room/bye?wait=30")))
    hub = server.app[keys.HUB]
    await eventually(lambda: any(info.waiters for info in hub.snapshot()))
    closing = asyncio.create_task(server.close())
    msg = await ws.receive(timeout=5)
    assert (msg.type, msg.data) == (WSMsgType.CLOSE, aiohttp.WSCloseCode.GOING_AWAY)
    assert await asyncio.wait_for(stream.content.read(), 5) == b""
    response = await asyncio.wait_for(poll, 5)
    assert await response.json() == []
    await ws.close()
    await asyncio.wait_for(closing, 5)


async def test_last_event_id_wins_over_the_after_query(server, session) -> None:
    for n in range(4):
        await post(session, server, "both", f"m{n}")
    headers = {"Last-Event-ID": "3"}  # an EventSource opened with ?after=1, reconnecting
    async with session.get(server.make_url("/sse/room/both?after=1"), headers=headers) as stream:
        events = await read_events(stream, EventStreamParser(), limit=1)
    assert seq_of(events[0].last_event_id) == 4


async def test_429_body_says_exactly_how_long_to_wait(start_server, session) -> None:
    server = await start_server(room_rate=4, room_burst=1)
    await post(session, server, "exact", "one")
    async with session.post(
        server.make_url("/http/room/exact"), json={"user": "u", "text": "two"}
    ) as response:
        assert response.status == 429
        assert 0 < (await response.json())["retry_after_s"] <= 0.25


async def test_deflate_and_plain_subscribers_get_the_same_conversation(
    start_server, session
) -> None:
    server = await start_server(max_text=100_000)
    # A plain WebSocket and an event stream are written to inside the publish (one frame
    # built per publish); a permessage-deflate WebSocket keeps aiohttp's framing and its own
    # reader task. All three must see the same messages, in order.
    plain = await session.ws_connect(server.make_url("/ws/room/mixed"))
    deflate = await session.ws_connect(server.make_url("/ws/room/mixed"), compress=15)
    assert deflate.compress
    assert not plain.compress
    stream = await session.get(server.make_url("/sse/room/mixed"))
    await stream.content.readuntil(b"\r\n\r\n")
    await eventually(lambda: server.app[keys.HUB].snapshot()[0].subscribers["ws"] == 2)
    posted = [await post(session, server, "mixed", f"m{i} é") for i in range(3)]
    posted.append(await post(session, server, "mixed", "long " + "x" * 70_000))  # 64-bit length

    for ws in (plain, deflate):
        seen = [json.loads(await ws.receive_str(timeout=5)) for _ in posted]
        assert seen == posted
    events = await read_events(stream, EventStreamParser(), limit=len(posted))
    assert [json.loads(e.data) for e in events] == posted
    assert [seq_of(e.last_event_id) for e in events] == [m["id"] for m in posted]
    assert {e.type for e in events} == {"message"}
    stream.close()
    await plain.close()
    await deflate.close()


async def test_departed_sse_subscriber_leaves_the_room(server, session) -> None:
    stream = await session.get(server.make_url("/sse/room/gone"))
    await stream.content.readuntil(b"\r\n\r\n")
    hub = server.app[keys.HUB]
    await post(session, server, "gone", "seen")
    stream.close()  # the client leaves without a word

    def left() -> bool:
        count: int = hub.snapshot()[0].subscribers["sse"]
        return count == 0

    # The server learns of it when it next writes: publish until the stream is gone.
    async def publish_until_gone() -> None:
        while not left():
            await post(session, server, "gone", "anyone?")

    await asyncio.wait_for(publish_until_gone(), 10)
    async with session.get(server.make_url("/api/stats")) as response:
        assert (await response.json())["refused"].get("slow_consumer", 0) == 0


@pytest.mark.parametrize("protocol", ["ws", "sse"])
async def test_stalled_subscriber_is_cut_after_the_send_timeout(
    start_server, session, protocol
) -> None:
    # The publish never waits on a socket, yet a reader that stops reading is still cut
    # after the send timeout, as when a write waited for it (the queue bound is set far
    # away so that the timeout, not the slow-consumer drop, is what acts).
    server = await start_server(room_queue=100_000, ws_send_timeout=0.5, sse_send_timeout=0.5)
    if protocol == "ws":
        stalled: Any = await session.ws_connect(server.make_url("/ws/room/stuck"))
    else:
        stalled = await session.get(server.make_url("/sse/room/stuck"))
        await stalled.content.readuntil(b"\r\n\r\n")
    hub = server.app[keys.HUB]
    await eventually(lambda: hub.snapshot()[0].subscribers[protocol] == 1)

    async def stats() -> dict[str, Any]:
        async with session.get(server.make_url("/api/stats")) as response:
            result: dict[str, Any] = await response.json()
            return result

    async def publish_until_cut() -> None:
        while (await stats())["refused"].get("send_timeout", 0) == 0:
            for _ in range(200):  # soon more than the socket and client buffers hold
                await hub.publish("stuck", "load", "z" * 4000, WireProtocol.HTTP)

    await asyncio.wait_for(publish_until_cut(), 20)
    await eventually(lambda: hub.snapshot()[0].subscribers[protocol] == 0)
    assert (await stats())["refused"].get("slow_consumer", 0) == 0
    stalled.close() if protocol == "sse" else await stalled.close()
