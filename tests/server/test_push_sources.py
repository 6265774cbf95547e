"""`/ws/stream` and `/http/tick`: the same ticks pushed over WebSocket and polled over HTTP."""

import json
import time

import aiohttp
import pytest
from aiohttp import WSMsgType


async def test_ws_stream_pushes_numbered_ticks_then_closes_1000(server, session) -> None:
    url = server.make_url("/ws/stream?count=3&interval=0&size=2")
    async with session.ws_connect(url) as ws:
        ticks = [json.loads(await ws.receive_str(timeout=5)) for _ in range(3)]
        closing = await ws.receive(timeout=5)
    assert [t["seq"] for t in ticks] == [1, 2, 3]
    assert all(t["pad"] == "xx" for t in ticks)
    assert closing.type is WSMsgType.CLOSE
    assert (closing.data, closing.extra) == (1000, "stream complete")


async def test_ws_stream_resumes_after(server, session) -> None:
    url = server.make_url("/ws/stream?count=4&interval=0&after=2")
    async with session.ws_connect(url) as ws:
        seqs = [json.loads(await ws.receive_str(timeout=5))["seq"] for _ in range(2)]
        assert (await ws.receive(timeout=5)).type is WSMsgType.CLOSE
    assert seqs == [3, 4]


async def test_ws_stream_ends_when_the_client_closes(server, session) -> None:
    async with session.ws_connect(server.make_url("/ws/stream?interval=10")) as ws:
        await ws.receive_str(timeout=5)
        await ws.close()
    assert ws.close_code == 1000
    async with session.get(server.make_url("/api/stats")) as response:
        assert (await response.json())["protocols"]["ws"]["open"] == 0


async def test_ws_stream_bad_query_is_400_before_upgrade(server, session) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await session.ws_connect(server.make_url("/ws/stream?interval=oops"))
    assert refused.value.status == 400


async def test_http_tick_reports_the_latest_grid_tick(server, session) -> None:
    before = time.time() * 1000
    async with session.get(server.make_url("/http/tick?interval=250&size=3")) as response:
        tick = await response.json()
    assert tick["ts"] == tick["seq"] * 250
    assert before - 250 <= tick["ts"] <= time.time() * 1000
    assert tick["pad"] == "xxx"


async def test_http_tick_long_poll_returns_the_next_tick(server, session) -> None:
    async with session.get(server.make_url("/http/tick?interval=100")) as response:
        current = (await response.json())["seq"]
    query = f"/http/tick?interval=100&after={current}&wait=5"
    async with session.get(server.make_url(query)) as response:
        assert (await response.json())["seq"] == current + 1


async def test_http_tick_long_poll_gives_up_after_wait(server, session) -> None:
    async with session.get(server.make_url("/http/tick?interval=60000")) as response:
        current = (await response.json())["seq"]
    query = f"/http/tick?interval=60000&after={current}&wait=0.05"
    async with session.get(server.make_url(query)) as response:
        assert (await response.json())["seq"] == current


@pytest.mark.parametrize("query", ["interval=0", "wait=31", "wait=x", "after=-1&wait=1"])
async def test_http_tick_bad_query_is_400(server, session, query: str) -> None:
    async with session.get(server.make_url(f"/http/tick?{query}")) as response:
        assert response.status == 400
        assert "error" in await response.json()
