"""The server stops and comes back on the same port under a running `sse`, `ws` and `room`;
Ctrl-C ends a command cleanly with a summary and status 130."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.client.conftest import ClientSpawner
from tests.processes import ServerProcess, finish, free_port

pytestmark = pytest.mark.slow

QUICK_BACKOFF = ("--backoff-base", "0.05", "--backoff-cap", "0.3")


@pytest.fixture
async def restartable() -> AsyncIterator[ServerProcess]:
    """A server process (SSE retry 100 ms, no room rate limit) that tests may restart."""
    server = ServerProcess(free_port(), "--sse-retry", "100", "--room-rate", "0")
    await server.start()
    yield server
    await server.stop(signal.SIGKILL)


def is_message_with_text(text: str, record: dict[str, Any]) -> bool:
    """A chat message line carrying `text`."""
    return record.get("type") == "message" and record["text"] == text


def is_event(record: dict[str, Any]) -> bool:
    return record.get("type") == "event"


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT], ids=["crash", "shutdown"])
async def test_sse_resumes_with_last_event_id_after_a_restart(
    restartable: ServerProcess, how: signal.Signals, spawn: ClientSpawner
) -> None:
    process, output = await spawn(
        "sse", "--interval", "20", "--json", "--url", restartable.url, *QUICK_BACKOFF
    )
    ids: list[int] = []
    while len(ids) < 5:
        ids.append(int((await output.until_json(is_event))["id"]))
    await restartable.stop(how)
    lost = await output.until_json(lambda r: r.get("state") == "reconnecting")
    await restartable.start()
    resumed = await output.until_json(
        lambda r: r.get("state") == "connecting" and bool(r.get("last_event_id"))
    )
    last_before = None
    for line in output.seen:  # the events read before the reconnection started
        record = json.loads(line)
        if is_event(record):
            last_before = record["id"]
    assert resumed["last_event_id"] == last_before
    assert lost["delay_s"] >= 0.1  # the server's retry: 100 ms, at least
    while len(ids) < 15:
        ids.append(int((await output.until_json(is_event))["id"]))
    everything = [
        int(json.loads(line)["id"]) for line in output.seen if is_event(json.loads(line))
    ]
    assert everything == list(range(1, len(everything) + 1))  # no gap, no duplicate

    process.send_signal(signal.SIGINT)
    assert await finish(process) == 130
    summary = json.loads((await output.rest())[-1])
    assert summary["type"] == "summary"
    assert summary["reconnects"] >= 1
    assert summary["events"] >= len(everything)


@pytest.mark.parametrize(
    ("how", "close_code"),
    [(signal.SIGINT, "1001"), (signal.SIGKILL, "connection lost")],
    ids=["shutdown", "crash"],
)
async def test_ws_reconnects_and_resends_after_a_restart(
    restartable: ServerProcess, how: signal.Signals, close_code: str, spawn: ClientSpawner
) -> None:
    process, output = await spawn(
        "ws",
        "--size",
        "8",
        "--count",
        "100000",
        "--interval",
        "20",
        "--json",
        "--url",
        restartable.url,
        *QUICK_BACKOFF,
    )
    await output.until_json(lambda r: r.get("type") == "echo" and r["n"] == 5)
    await restartable.stop(how)  # SIGINT: the server closes with 1001; SIGKILL: no close
    going = await output.until_json(lambda r: r.get("state") == "reconnecting")
    assert close_code in going["reason"]
    await restartable.start()
    await output.until_json(lambda r: r.get("state") == "open")
    await output.until_json(lambda r: r.get("type") == "echo" and r["n"] == 10)

    process.send_signal(signal.SIGINT)
    assert await finish(process) == 130
    await output.rest()
    records = [json.loads(line) for line in output.seen]
    echoes = [r for r in records if r["type"] == "echo"]
    assert [e["n"] for e in echoes] == list(range(1, len(echoes) + 1))
    assert all(e["matches"] for e in echoes)
    summary = records[-1]
    assert summary["type"] == "summary"
    assert summary["reconnects"] == 1
    assert summary["echoed"] == len(echoes)


@pytest.mark.parametrize("via", ["ws", "sse", "http"])
async def test_room_follows_the_new_history_after_a_restart(
    restartable: ServerProcess, via: str, spawn: ClientSpawner
) -> None:
    """Rooms live in the server's memory: after a restart the ids start again at 1, and
    the client must not take the new messages for ones it already has."""
    process, output = await spawn(
        "room",
        "lobby",
        "--via",
        via,
        "--user",
        "ada",
        "--json",
        "--url",
        restartable.url,
        *QUICK_BACKOFF,
        stdin=True,
    )
    assert process.stdin is not None
    await output.until_json(lambda r: r.get("state") == "joined")
    for text in ("one", "two"):
        process.stdin.write(f"{text}\n".encode())
        await output.until_json(partial(is_message_with_text, text))
    await restartable.stop(signal.SIGKILL)
    await output.until_json(lambda r: r.get("state") == "reconnecting")
    await restartable.start()
    await output.until_json(lambda r: r.get("state") == "reset")
    process.stdin.write(b"after the restart\n")
    again = await output.until_json(lambda r: r.get("type") == "message")
    assert (again["id"], again["text"]) == (1, "after the restart")
    process.stdin.close()
    assert await finish(process) == 0
    summary = json.loads((await output.rest())[-1])
    assert summary["received"] == summary["sent"] == 3
    assert summary["duplicates"] == 0


async def test_ctrl_c_while_waiting_for_the_server_prints_a_summary(spawn: ClientSpawner) -> None:
    server = ServerProcess(free_port(), "--sse-retry", "100")
    try:
        await server.start()
        process, output = await spawn(
            "sse", "--interval", "1000", "--url", server.url, *QUICK_BACKOFF
        )
        await output.until(lambda line: line.startswith("[1] tick"))
    finally:
        await server.stop(signal.SIGKILL)
    await output.until(lambda line: "reconnecting in" in line)
    process.send_signal(signal.SIGINT)
    assert await finish(process) == 130
    rest = await output.rest()
    assert any(line.startswith("received 1 event(s)") for line in rest), rest
    assert not any("Traceback" in line for line in output.seen)


async def test_ctrl_c_during_bench_keeps_the_partly_measured_row(
    url: str, spawn: ClientSpawner
) -> None:
    """Ctrl-C in the middle of a row shows that row with the ticks that arrived."""
    process, output = await spawn(
        "bench", "push", "-n", "100000", "--rate", "50", "--protocols", "ws", "--url", url
    )

    async def ticks_sent() -> int:
        async with aiohttp.ClientSession() as session, session.get(f"{url}/api/stats") as got:
            stats = await got.json()
        return int(stats["protocols"]["ws"]["messages_out"])

    async with asyncio.timeout(30):
        # The bench prints nothing until it ends, and the server has no event for "ticks
        # were sent", so its counters are checked often; the deadline decides failure. A
        # second of ticks (50) leaves the client ample time to have received some.
        while await ticks_sent() < 50:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    process.send_signal(signal.SIGINT)
    assert await finish(process) == 130
    rest = await output.rest()
    row = next((line.split() for line in rest if line.startswith("ws ")), None)
    assert row is not None, rest
    received = int(row[1].replace(",", ""))  # the n column: the title's n is not the row's
    assert 1 <= received < 100000
    assert (
        f"warning: push ws x1: interrupted; its row has the {received} of 100000 tick(s) "
        "that arrived before Ctrl-C" in rest
    )
    assert "warning: interrupted: 1 row(s) were measured before Ctrl-C" in rest


async def test_tls_server_needs_its_ca(tmp_path: Path, spawn: ClientSpawner) -> None:
    """`python -m server --tls` makes a local CA and names it in its banner; with --cafile
    the client trusts it, without it the client says why it cannot connect."""
    server = ServerProcess(free_port(), "--tls", "--cert-dir", str(tmp_path))
    url = server.url.replace("http://", "https://")
    try:
        await server.start()
        refused, output = await spawn("ws", "hi", "--url", url)
        assert await finish(refused) == 1
        assert "certificate is not trusted" in (await output.rest())[-1]
        trusted, output = await spawn(
            "ws", "hi", "--json", "--url", url, "--cafile", str(tmp_path / "ca.pem")
        )
        assert await finish(trusted) == 0
        records = [json.loads(line) for line in await output.rest()]
        assert [r["data"] for r in records if r["type"] == "echo"] == ["hi"]
        assert records[0]["url"].startswith("wss://")
    finally:
        await server.stop()
