"""The resume rule on every protocol, through real sockets (in-memory hub, one server).

A cursor from another epoch (a restart without a shared broker) is told `reset` before the
room's current history; a bad cursor is a 400. The same rule with Redis is in
test_processes.py.
"""

import json

import aiohttp
from aiohttp.test_utils import TestServer

from tests.broker.clients import LIMIT_S, EventReader, post_ok

OLD_LIFE = "0123abcd-7"  # a cursor from a previous life of the room


async def test_websocket_after_foreign_cursor_gets_reset_then_history(
    server: TestServer, session: aiohttp.ClientSession
) -> None:
    base = str(server.make_url(""))
    sent = await post_ok(session, base, "lab", "new life")
    async with session.ws_connect(server.make_url(f"/ws/room/lab?after={OLD_LIFE}")) as ws:
        reset = json.loads(await ws.receive_str(timeout=LIMIT_S))
        message = json.loads(await ws.receive_str(timeout=LIMIT_S))
    assert reset == {"reset": {"epoch": sent["epoch"], "reason": reset["reset"]["reason"]}}
    assert "another life" in reset["reset"]["reason"]
    assert message == sent


async def test_sse_foreign_last_event_id_gets_reset_event(
    server: TestServer, session: aiohttp.ClientSession
) -> None:
    base = str(server.make_url(""))
    sent = await post_ok(session, base, "lab", "new life")
    stream = await EventReader.open(session, f"{base}/sse/room/lab", OLD_LIFE)
    reset, message = await stream.next(), await stream.next()
    assert (reset.type, json.loads(reset.data)["epoch"]) == ("reset", sent["epoch"])
    assert (message.type, message.last_event_id) == ("message", f"{sent['epoch']}-1")
    stream.close()


async def test_http_poll_with_foreign_since_says_reset_in_headers(
    server: TestServer, session: aiohttp.ClientSession
) -> None:
    base = str(server.make_url(""))
    sent = await post_ok(session, base, "lab", "new life")
    async with session.get(f"{base}/http/room/lab?since={OLD_LIFE}") as response:
        assert response.headers["X-Room-Reset"] == "1"
        assert response.headers["X-Room-Cursor"] == f"{sent['epoch']}-1"
        assert await response.json() == [sent]
    async with session.get(f"{base}/http/room/lab?since={sent['epoch']}-1") as response:
        assert "X-Room-Reset" not in response.headers
        assert await response.json() == []


async def test_a_malformed_cursor_is_a_400_that_names_the_form(
    server: TestServer, session: aiohttp.ClientSession
) -> None:
    async with session.get(server.make_url("/http/room/lab?since=yesterday")) as response:
        assert response.status == 400
        assert "<epoch>-<id>" in (await response.json())["error"]
