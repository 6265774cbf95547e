"""Several `python -m server --broker redis://...` processes and a real redis-server.

Independent clients of each protocol, spread over the processes, must see one ordered
sequence per room; an SSE stream resumes on another process; a Redis crash is told to
subscribers, refused to publishers with 503, and recovered from with a `reset`.
"""

import asyncio
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest

from tests.broker.clients import (
    LIMIT_S,
    EventReader,
    poll_messages,
    post,
    post_ok,
    stats,
    ws_messages,
)
from tests.broker.redis_server import RedisServer
from tests.processes import ServerProcess

pytestmark = pytest.mark.slow
Start = Callable[..., Awaitable[list[ServerProcess]]]


@pytest.fixture
async def start_servers(redis_server: RedisServer) -> AsyncIterator[Start]:
    """Start `n` server processes sharing the test's Redis; all stopped after the test."""
    started: list[ServerProcess] = []

    async def start(n: int, *options: str) -> list[ServerProcess]:
        servers = [ServerProcess(0, "--broker", redis_server.url, *options) for _ in range(n)]
        for server in servers:
            started.append(server)
            await server.start()
        return servers

    yield start
    for server in started:
        await server.stop()


def ids_and_texts(messages: list[dict[str, object]]) -> list[tuple[object, object]]:
    return [(m["id"], m["text"]) for m in messages]


async def test_three_processes_one_ordered_sequence_per_room(
    start_servers: Start, session: aiohttp.ClientSession
) -> None:
    a, b, c = await start_servers(3)
    ws = await session.ws_connect(f"{a.url}/ws/room/lab")
    await ws.send_json({"user": "ws", "text": "w0"})
    assert (await ws_messages(ws, 1))[0]["text"] == "w0"  # subscribed, and published
    sse = await EventReader.open(session, f"{b.url}/sse/room/lab?after=0")
    for index in range(1, 4):  # interleave publishers on all three processes
        await ws.send_json({"user": "ws", "text": f"w{index}"})
        await post_ok(session, b.url, "lab", f"b{index}")
        await post_ok(session, c.url, "lab", f"c{index}")
    total = 10
    seen_ws = [await ws_messages(ws, total - 1)]
    seen_sse = await sse.messages(total)
    seen_http = await poll_messages(session, c.url, "lab", total)
    first = [(1, "w0")]
    assert first + ids_and_texts(seen_ws[0]) == ids_and_texts(seen_sse)
    assert ids_and_texts(seen_sse) == ids_and_texts(seen_http)
    assert [m["id"] for m in seen_sse] == list(range(1, total + 1))
    assert len({m["epoch"] for m in seen_sse}) == 1
    await ws.close()
    sse.close()


async def test_sse_resumes_on_another_process_without_gap_or_duplicate(
    start_servers: Start, session: aiohttp.ClientSession
) -> None:
    a, b, c = await start_servers(3)
    for index in range(5):
        await post_ok(session, c.url, "lab", f"m{index}")
    first = await EventReader.open(session, f"{a.url}/sse/room/lab?after=0")
    before = [await first.until("message") for _ in range(5)]
    first.close()  # the client leaves process a ...
    for index in range(5, 8):
        await post_ok(session, c.url, "lab", f"m{index}")
    # ... and comes back, as EventSource does, to process b with its Last-Event-ID.
    second = await EventReader.open(session, f"{b.url}/sse/room/lab", before[-1].last_event_id)
    after = [await second.next() for _ in range(3)]
    assert [e.type for e in after] == ["message"] * 3  # no reset, no gap
    texts = [e.data for e in before + after]
    assert [f'"text":"m{i}"' in text for i, text in enumerate(texts)] == [True] * 8
    second.close()


async def test_redis_crash_is_told_refused_and_recovered(
    start_servers: Start, redis_server: RedisServer, session: aiohttp.ClientSession
) -> None:
    a, b = await start_servers(2)
    sse = await EventReader.open(session, f"{a.url}/sse/room/lab")
    await post_ok(session, b.url, "lab", "before")
    assert (await sse.messages(1))[0]["text"] == "before"
    echo = await session.ws_connect(f"{a.url}/ws/echo")

    await redis_server.stop(signal.SIGKILL)
    down = await sse.until("broker")
    assert '"state":"down"' in down.data
    refused = await post(session, b.url, "lab", "while down")
    assert refused.status == 503
    assert "room broker unavailable" in (await refused.json())["error"]
    await echo.send_str("echo works without Redis")
    assert await echo.receive_str(timeout=LIMIT_S) == "echo works without Redis"
    async with session.get(f"{a.url}/sse/stream?count=2&interval=1") as ticks:
        assert ticks.status == 200  # ticks need no broker
    assert (await stats(session, a.url))["broker"]["state"] == "down"

    await redis_server.start()  # empty: the room's history is lost
    assert '"state":"up"' in (await sse.until("broker")).data
    reset = await sse.next()
    assert reset.type == "reset"
    await post_ok(session, b.url, "lab", "after")
    message = (await sse.messages(1))[0]
    assert (message["id"], message["text"]) == (1, "after")
    assert f'"epoch":"{message["epoch"]}"' in reset.data
    health = (await stats(session, a.url))["broker"]
    assert (health["state"], health["outages"]) == ("up", 1)
    await echo.close()
    sse.close()


async def test_workers_share_one_port_and_say_which_answered(
    session: aiohttp.ClientSession,
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "server", "--port", "0", "--log-level", "warning", "--workers", "2"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    try:
        async with asyncio.timeout(LIMIT_S * 2):
            warning = (await process.stderr.readline()).decode()
            banner = (await process.stdout.readline()).decode()
        assert "split brain" in warning
        assert "2 worker processes" in banner
        url = banner.split("serving on ")[1].split()[0]
        answered: set[int] = set()
        for _ in range(64):  # new connections spread over both; 2**-63 to miss one
            async with aiohttp.ClientSession() as fresh:
                line = (await stats(fresh, url))["process"]
            assert line["workers"] == 2
            answered.add(line["worker"])
            if answered == {1, 2}:
                break
        assert answered == {1, 2}
        assert (await stats(session, url))["broker"]["shared"] is False
    finally:
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(LIMIT_S):
            status = await process.wait()
    assert status == 0
