"""`GET /sse/stream` through real sockets: the event format, resume, 204, bounds, keep-alive."""

import json

import pytest

from client.sse_parser import EventStreamParser
from tests.streams import read_events


async def test_finite_stream_sends_retry_then_numbered_ticks(server, session) -> None:
    parser = EventStreamParser()
    async with session.get(server.make_url("/sse/stream?count=3&interval=0&size=5")) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/event-stream"
        assert resp.headers["Cache-Control"] == "no-cache, no-transform"
        assert resp.headers["X-Accel-Buffering"] == "no"  # nginx must not buffer the stream
        events = await read_events(resp, parser)
    assert parser.retry_ms == 2000
    assert [(e.type, e.last_event_id) for e in events] == [
        ("tick", "1"),
        ("tick", "2"),
        ("tick", "3"),
    ]
    data = [json.loads(e.data) for e in events]
    assert [d["seq"] for d in data] == [1, 2, 3]
    assert all(d["pad"] == "xxxxx" and isinstance(d["ts"], int) for d in data)


async def test_wire_format_is_exact(server, session) -> None:
    async with session.get(server.make_url("/sse/stream?count=1&interval=0")) as resp:
        body = await resp.read()
    head, event, end = body.split(b"\r\n\r\n")
    assert head == b"retry: 2000"
    lines = event.split(b"\r\n")
    assert lines[:2] == [b"id: 1", b"event: tick"]
    assert lines[2].startswith(b'data: {"seq":1,"ts":')
    assert end == b""


async def test_resume_after_last_event_id_has_no_gap_and_no_duplicate(server, session) -> None:
    url = server.make_url("/sse/stream?count=5&interval=0")
    parser = EventStreamParser()
    async with session.get(url) as resp:
        first = await read_events(resp, parser, limit=2)
    parser.reset()
    headers = {"Last-Event-ID": first[-1].last_event_id}
    async with session.get(url, headers=headers) as resp:
        rest = await read_events(resp, parser)
    seqs = [json.loads(e.data)["seq"] for e in first + rest]
    assert seqs[:2] == [1, 2]
    assert seqs == [1, 2, 3, 4, 5]


async def test_resume_past_the_end_gets_204(server, session) -> None:
    url = server.make_url("/sse/stream?count=3")
    async with session.get(url, headers={"Last-Event-ID": "3"}) as resp:
        assert resp.status == 204
    async with session.get(url, headers={"Last-Event-ID": "2"}) as resp:
        events = await read_events(resp, EventStreamParser())
    assert [e.last_event_id for e in events] == ["3"]


async def test_idle_stream_sends_keep_alive_comments(start_server, session) -> None:
    server = await start_server(sse_ping_interval=0.05)
    async with session.get(server.make_url("/sse/stream?interval=60000")) as resp:
        seen = b""
        while b": ping" not in seen:
            seen += await resp.content.readany()
    assert seen.count(b"id: ") == 1


@pytest.mark.parametrize(
    ("query", "complaint"),
    [
        ("count=-1", "count"),
        ("count=abc", "count"),
        ("count=1000001", "count"),
        ("interval=-5", "interval"),
        ("interval=1.5", "interval"),
        ("size=1048577", "size"),
    ],
)
async def test_bad_parameters_are_400_json(server, session, query: str, complaint: str) -> None:
    async with session.get(server.make_url(f"/sse/stream?{query}")) as resp:
        assert resp.status == 400
        assert complaint in (await resp.json())["error"]


@pytest.mark.parametrize(
    "last_event_id", ["abc", "-1", "1.5", "²", "9" * 5000, str(2**62 + 1), "9" * 19]
)
async def test_bad_last_event_id_is_400(server, session, last_event_id: str) -> None:
    headers = {"Last-Event-ID": last_event_id}
    for path in ("/sse/stream", "/sse/stream?count=5"):
        async with session.get(server.make_url(path), headers=headers) as resp:
            assert resp.status == 400
            assert "Last-Event-ID" in (await resp.json())["error"]


async def test_stream_over_connection_limit_is_503(start_server, session) -> None:
    server = await start_server(max_connections=1)
    async with session.get(server.make_url("/sse/stream?interval=60000")) as first:
        assert first.status == 200
        async with session.get(server.make_url("/sse/stream")) as second:
            assert second.status == 503
            assert "limit" in (await second.json())["error"]


async def test_stats_count_sse_events(server, session) -> None:
    async with session.get(server.make_url("/sse/stream?count=4&interval=0")) as resp:
        await resp.read()
    async with session.get(server.make_url("/api/stats")) as resp:
        sse = (await resp.json())["protocols"]["sse"]
    assert (sse["total"], sse["messages_out"], sse["open"]) == (1, 4, 0)


async def test_head_gets_the_headers_of_the_stream(server, session) -> None:
    for path in ("/sse/stream?count=3", "/sse/room/heads"):
        async with session.head(server.make_url(path)) as resp:
            assert resp.status == 200, path
            assert resp.headers["Content-Type"].startswith("text/event-stream"), path
    async with session.head(server.make_url("/sse/stream?count=-1")) as resp:
        assert resp.status == 400
    async with session.get(server.make_url("/api/stats")) as resp:
        assert (await resp.json())["protocols"]["sse"]["total"] == 0
