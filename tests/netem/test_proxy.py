"""The shaping proxy on real sockets: delay with order kept, rate, idle cut, buffering,
stripped Upgrade, limits and the control endpoint.

Times are checked with lower bounds only (a delay is never shorter than configured) and
generous upper bounds: the machine may be loaded.
"""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from yarl import URL

from tests.conftest import ServerFactory
from tests.netem.conftest import ProxyFactory, Reports


async def _exchange(port: int, chunks: list[bytes]) -> tuple[bytes, float]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.perf_counter()
    for chunk in chunks:
        writer.write(chunk)
    expected = sum(map(len, chunks))
    received = await asyncio.wait_for(reader.readexactly(expected), 30)
    elapsed = time.perf_counter() - started
    writer.close()
    await writer.wait_closed()
    return received, elapsed


async def test_delay_and_jitter_keep_byte_order(shaped: ProxyFactory, echo_url: URL) -> None:
    proxy = await shaped(echo_url, "delay=20ms,jitter=30ms")
    chunks = [f"<{i:04}>".encode() for i in range(300)]
    received, elapsed = await _exchange(proxy.port, chunks)
    assert received == b"".join(chunks)
    # Handshake round trip + up + down: never less than 4 x 20 ms.
    assert 4 * 0.020 <= elapsed < 10


async def test_rate_limits_a_bounded_transfer(shaped: ProxyFactory, echo_url: URL) -> None:
    proxy = await shaped(echo_url, "rate=1mbit")  # 125,000 bytes/s each way
    size = 96 * 1024
    received, elapsed = await _exchange(proxy.port, [b"x" * size])
    assert len(received) == size
    burst = 4096
    assert elapsed >= (size - burst) / 125_000  # ~0.75 s: the rate held it back
    assert elapsed < 15 * size / 125_000  # generous: a loaded machine is slower, not faster


async def test_idle_connection_is_cut(shaped: ProxyFactory, echo_url: URL) -> None:
    reports = Reports()
    proxy = await shaped(echo_url, "idle-timeout=300ms", on_close=reports)
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(b"hello")
    assert await asyncio.wait_for(reader.readexactly(5), 10) == b"hello"
    quiet_since = time.perf_counter()
    assert await asyncio.wait_for(reader.read(), 15) == b""  # cut: end of stream
    assert time.perf_counter() - quiet_since >= 0.3
    writer.close()
    (report,) = await reports.wait_for(1)
    assert report.ended == "idle timeout 0.3 s"
    assert (report.up, report.down) == (5, 5)


async def test_strip_upgrade_breaks_websocket_but_not_http(
    shaped: ProxyFactory, server: TestServer, session: aiohttp.ClientSession
) -> None:
    proxy = await shaped(server.make_url("/"), "strip-upgrade")
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await session.ws_connect(proxy.url / "ws/echo")
    async with session.post(proxy.url / "http/echo", data=b"still here") as response:
        assert await response.read() == b"still here"


@pytest.mark.parametrize("spec", ["delay=10ms", "delay=10ms,buffer-until-close"])
async def test_websocket_lives_through_a_proxy_that_keeps_upgrade(
    shaped: ProxyFactory, server: TestServer, session: aiohttp.ClientSession, spec: str
) -> None:
    proxy = await shaped(server.make_url("/"), spec)
    async with session.ws_connect(proxy.url / "ws/echo") as ws:
        started = time.perf_counter()
        await ws.send_str("hi")
        assert (await ws.receive(timeout=10)).data == "hi"
        assert time.perf_counter() - started >= 2 * 0.010


async def test_buffer_until_close_bunches_sse_events(
    shaped: ProxyFactory, server: TestServer, session: aiohttp.ClientSession
) -> None:
    proxy = await shaped(server.make_url("/"), "buffer-until-close")
    url = proxy.url.with_path("/sse/stream").with_query(count=3, interval=150)
    arrivals, stamps = await _sse_ticks(session, url, 3)
    # Held until the stream ended: the first event arrived after the last was sent.
    assert arrivals[0] >= stamps[-1]


async def test_buffer_by_size_releases_in_bursts(
    shaped: ProxyFactory, server: TestServer, session: aiohttp.ClientSession
) -> None:
    proxy = await shaped(server.make_url("/"), "buffer=2500")
    url = proxy.url.with_path("/sse/stream").with_query(count=4, interval=100, size=1000)
    arrivals, stamps = await _sse_ticks(session, url, 2)
    # ~1 KB per event, 2500 B held: events 1 and 2 only leave once event 3 is sent.
    assert arrivals[0] >= stamps[1]


async def test_no_buffer_delivers_each_event_as_sent(
    shaped: ProxyFactory, server: TestServer, session: aiohttp.ClientSession
) -> None:
    proxy = await shaped(server.make_url("/"), "none")
    url = proxy.url.with_path("/sse/stream").with_query(count=3, interval=300)
    arrivals, stamps = await _sse_ticks(session, url, 3)
    assert arrivals[0] < stamps[-1]  # the first event was here before the last was sent


async def _sse_ticks(
    session: aiohttp.ClientSession, url: URL, count: int
) -> tuple[list[float], list[float]]:
    """Arrival times and server timestamps (ms, wall clock) of the first `count` ticks."""
    arrivals: list[float] = []
    stamps: list[float] = []
    async with session.get(url) as response:
        async with asyncio.timeout(20):
            async for line in response.content:
                if line.startswith(b"data:") and b'"ts"' in line:
                    arrivals.append(time.time() * 1000)
                    stamps.append(float(json.loads(line[5:])["ts"]))
                    if len(arrivals) == count:
                        break
    return arrivals, stamps


async def test_connection_limit_answers_503(shaped: ProxyFactory, echo_url: URL) -> None:
    proxy = await shaped(echo_url, max_connections=1)
    _, first = await asyncio.open_connection("127.0.0.1", proxy.port)
    reader, second = await asyncio.open_connection("127.0.0.1", proxy.port)
    answer = await asyncio.wait_for(reader.read(), 10)
    assert answer.startswith(b"HTTP/1.1 503")
    assert b"too many connections" in answer
    for writer in (first, second):
        writer.close()
        await writer.wait_closed()


async def test_unreachable_target_answers_502(shaped: ProxyFactory, echo_url: URL) -> None:
    from tests.processes import free_port

    proxy = await shaped(URL.build(scheme="http", host="127.0.0.1", port=free_port()))
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    assert (await asyncio.wait_for(reader.read(), 10)).startswith(b"HTTP/1.1 502")
    writer.close()
    await writer.wait_closed()


async def test_control_endpoint_shows_and_switches_conditions(
    shaped: ProxyFactory, start_server: ServerFactory, session: aiohttp.ClientSession
) -> None:
    server = await start_server()
    proxy = await shaped(server.make_url("/"), "delay=5ms")
    control = proxy.url / "_netem"
    async with session.get(control) as response:
        state = await response.json()
    assert state["conditions"]["delay_up_ms"] == 5
    assert {p["name"] for p in state["presets"]} >= {"loopback", "mobile", "satellite"}

    async with session.post(control, json={"preset": "lan"}) as response:
        assert response.status == 200
        assert (await response.json())["preset"] == "lan"
    assert proxy.conditions.delay_up_s == pytest.approx(0.001)

    refusals = [
        (session.post(control, json={"preset": "moon"}), 400),
        (session.post(control, json={"spec": "delay=99s"}), 400),
        (session.post(control, data="delay=5ms"), 415),
        (session.delete(control), 405),
        (session.get(proxy.url / "_netem" / "x"), 404),
    ]
    for request, status in refusals:
        async with request as response:
            assert response.status == status
            assert "error" in await response.json()
    assert proxy.conditions.delay_up_s == pytest.approx(0.001)  # unchanged by refusals


async def test_websocket_heartbeat_below_the_idle_timeout_survives(
    shaped: ProxyFactory, start_server: ServerFactory, session: aiohttp.ClientSession
) -> None:
    server = await start_server(ws_heartbeat=0.2)
    proxy = await shaped(server.make_url("/"), "idle-timeout=600ms")
    async with session.ws_connect(proxy.url / "ws/echo", autoping=False) as ws:
        for _ in range(6):  # 6 pings 0.2 s apart: longer than the timeout, never quiet
            message = await ws.receive(timeout=10)
            assert message.type is aiohttp.WSMsgType.PING
            await ws.pong(message.data)
        await ws.send_str("alive")
        assert (await ws.receive(timeout=10)).data == "alive"


async def test_sse_keepalive_below_the_idle_timeout_survives(
    shaped: ProxyFactory, start_server: ServerFactory, session: aiohttp.ClientSession
) -> None:
    server = await start_server(sse_ping_interval=0.2)
    proxy = await shaped(server.make_url("/"), "idle-timeout=600ms")
    comments = 0
    async with session.get(proxy.url / "sse/room/quiet") as response:
        async with asyncio.timeout(20):
            async for line in response.content:
                comments += line.startswith(b":")
                if comments == 6:  # >1 s of keep-alive comments: longer than the timeout
                    break
        async with session.post(
            proxy.url / "http/room/quiet", json={"user": "t", "text": "alive"}
        ) as posted:
            assert posted.status == 201
        async with asyncio.timeout(10):
            async for line in response.content:
                if b"alive" in line:
                    break


async def test_long_poll_waiting_longer_than_the_idle_timeout_is_cut(
    shaped: ProxyFactory, server: TestServer, session: aiohttp.ClientSession
) -> None:
    proxy = await shaped(server.make_url("/"), "idle-timeout=500ms")
    started = time.perf_counter()
    with pytest.raises(aiohttp.ServerDisconnectedError):
        async with session.get(proxy.url / "http/room/empty", params={"wait": "5"}) as response:
            await response.read()
    assert time.perf_counter() - started >= 0.5


async def test_oversized_control_body_is_refused_and_the_connection_closed(
    shaped: ProxyFactory, echo_url: URL
) -> None:
    proxy = await shaped(echo_url)
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(b"POST /_netem HTTP/1.1\r\nContent-Type: application/json\r\n")
    writer.write(b"Content-Length: 1000000\r\n\r\n{")
    answer = await asyncio.wait_for(reader.read(), 10)  # then the end: closed
    assert answer.startswith(b"HTTP/1.1 413")
    assert b'"error"' in answer
    writer.close()
    await writer.wait_closed()
