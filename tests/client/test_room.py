"""`room` over each protocol, as a user runs it: a separate process reading stdin.

Skipped (with the reason) on a server without rooms.
"""

from __future__ import annotations

import asyncio
import json
import secrets

import aiohttp
import pytest

from tests.client.conftest import ClientSpawner, CliRunner
from tests.processes import finish

pytestmark = pytest.mark.usefixtures("rooms")
VIAS = ["ws", "sse", "http"]


def fresh_room() -> str:
    return f"test-{secrets.token_hex(4)}"


@pytest.mark.parametrize("via", VIAS)
async def test_room_sends_stdin_lines_and_shows_them_come_back(
    url: str, via: str, spawn: ClientSpawner
) -> None:
    room = fresh_room()
    process, _ = await spawn(
        "room", room, "--via", via, "--user", "ada", "--json", "--url", url, stdin=True
    )
    out, _ = await asyncio.wait_for(process.communicate(b"hello\n\nsecond line\n"), 20)
    assert process.returncode == 0, out
    records = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    messages = [r for r in records if r["type"] == "message"]
    assert [(m["id"], m["user"], m["text"], m["via"]) for m in messages] == [
        (1, "ada", "hello", via),
        (2, "ada", "second line", via),
    ]
    summary = records[-1]
    assert summary["type"] == "summary"
    assert summary["sent"] == summary["received"] == 2
    assert summary["duplicates"] == summary["lost"] == 0


@pytest.mark.parametrize("via", VIAS)
async def test_room_listens_to_messages_from_other_protocols(
    url: str, via: str, cli: CliRunner, spawn: ClientSpawner
) -> None:
    room = fresh_room()
    async with aiohttp.ClientSession() as session:
        for text in ("before", "history"):
            async with session.post(
                f"{url}/http/room/{room}", json={"user": "bob", "text": text}
            ) as response:
                assert response.status == 201
        process, output = await spawn(
            "room",
            room,
            "--via",
            via,
            "--listen",
            "--max-messages",
            "2",
            "--json",
            "--since",
            "1",
            "--url",
            url,
        )
        await output.until_json(lambda r: r.get("state") == "joined")
        async with session.ws_connect(f"{url}/ws/room/{room}") as ws:
            await ws.send_json({"user": "carol", "text": "live"})
            await ws.receive(timeout=5)
    assert await finish(process) == 0
    await output.rest()
    records = [json.loads(line) for line in output.seen]
    texts = [(r["text"], r["via"]) for r in records if r["type"] == "message"]
    # --since 1: history after message 1, then the live message from a WebSocket client.
    assert texts == [("history", "http"), ("live", "ws")]


async def test_room_human_output(url: str, spawn: ClientSpawner) -> None:
    room = fresh_room()
    process, _ = await spawn(
        "room", room, "--via", "sse", "--user", "ada", "--url", url, stdin=True
    )
    out, _ = await asyncio.wait_for(process.communicate(b"hi there\n"), 20)
    assert process.returncode == 0
    text = out.decode()
    assert "#1 ada (via sse): hi there" in text
    assert f"joined room '{room}' as 'ada' via sse" in text
    assert "received 1, sent 1, lost 0" in text
