"""The room tab in a real browser: messages from other protocols and other programs appear."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import aiohttp
import pytest
from playwright.sync_api import expect

if TYPE_CHECKING:
    from tests.browser.conftest import LabPage, ServerProcess

pytestmark = pytest.mark.browser

PARTICIPANTS = ("room-ws", "room-sse", "room-http")


async def _speak_from_python(base_url: str, room: str) -> None:
    """Another program joins the room: one message by HTTP POST, one over a WebSocket."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        posted = await session.post(
            f"{base_url}/http/room/{room}", json={"user": "python", "text": "posted by python"}
        )
        assert posted.status == 201, await posted.text()
        ws_url = base_url.replace("http://", "ws://") + f"/ws/room/{room}"
        async with session.ws_connect(ws_url) as ws:
            await ws.send_str(json.dumps({"user": "python", "text": "sent by python over ws"}))
            while True:  # wait for our own message to come back: it has been published
                message = json.loads((await ws.receive(timeout=10)).data)
                if message.get("text") == "sent by python over ws":
                    break


def _join(lab: LabPage, room: str) -> None:
    page = lab.open(f"?room={room}#rooms")
    expect(page.locator("#room-name")).to_have_value(room)
    page.click("#room-join-all")
    expect(page.locator("#room-ws [data-role=state]")).to_have_text("open")
    expect(page.locator("#room-sse [data-role=state]")).to_have_text("open")


def test_messages_from_other_protocols_appear_with_their_via(
    lab: LabPage, live_server: ServerProcess
) -> None:
    room = "from-elsewhere"
    _join(lab, room)
    page = lab.page
    # Playwright's sync API keeps an event loop running in this thread: use another one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _speak_from_python(live_server.url, room)).result(timeout=30)

    for participant in PARTICIPANTS:
        posted = page.locator(f"#{participant} .message", has_text="posted by python")
        expect(posted).to_have_count(1)
        expect(posted.locator(".via")).to_have_text("via http")
        over_ws = page.locator(f"#{participant} .message", has_text="sent by python over ws")
        expect(over_ws).to_have_count(1)
        expect(over_ws.locator(".via")).to_have_text("via ws")

    # The page's own SSE participant publishes by POST ?via=sse; everyone sees "via sse".
    page.fill("#room-sse-input", "typed into the SSE participant")
    page.press("#room-sse-input", "Enter")
    for participant in PARTICIPANTS:
        mine = page.locator(f"#{participant} .message", has_text="typed into the SSE participant")
        expect(mine.locator(".via")).to_have_text("via sse")
    expect(page.locator("#room-info")).to_contain_text("last id 3")


def test_room_text_is_inserted_as_text(lab: LabPage) -> None:
    _join(lab, "as-text")
    page = lab.page
    html = '<img src=x onerror="alert(1)"><b>bold?</b>'
    page.fill("#room-ws-input", html)
    page.press("#room-ws-input", "Enter")
    for participant in PARTICIPANTS:
        expect(page.locator(f"#{participant} .message .text", has_text=html)).to_have_count(1)
    assert page.locator("#view-rooms img, #view-rooms b").count() == 0
    assert lab.problems.page_errors == []


def test_long_names_wrap_and_sent_fields_are_not_marked_invalid(lab: LabPage) -> None:
    page = lab.open("?room=long-names#rooms")
    page.fill("#room-user", "x" * 32)  # the longest name the server takes, with no space
    page.click("#room-join-all")
    expect(page.locator("#room-ws [data-role=state]")).to_have_text("open")
    page.fill("#room-ws-input", "a message from a long name")
    page.press("#room-ws-input", "Enter")
    for participant in PARTICIPANTS:
        message = page.locator(f"#{participant} .message", has_text="a message from a long name")
        expect(message).to_have_count(1)
        inside = message.evaluate(
            """(item) => {
                const list = item.closest("ol").getBoundingClientRect();
                return [...item.querySelectorAll(".meta > *")]
                    .every((part) => part.getBoundingClientRect().right <= list.right);
            }"""
        )
        assert inside, f"{participant}: the message header sticks out of its list"
    # Emptied after a successful send, the required field is not painted as an error.
    expect(page.locator("#room-ws-input")).to_have_value("")
    assert not page.eval_on_selector("#room-ws-input", "(input) => input.matches(':user-invalid')")
