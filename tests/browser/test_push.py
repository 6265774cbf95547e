"""The server-push view in a real browser: four subscriptions, delays, finite streams."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

if TYPE_CHECKING:
    from tests.browser.conftest import LabPage, ServerProcess

pytestmark = pytest.mark.browser

COLUMNS = ("push-ws", "push-sse", "push-poll-panel", "push-long")


def test_all_four_subscriptions_show_ticks_and_delays(lab: LabPage) -> None:
    page = lab.open("#push")
    page.fill("#push-interval", "100")
    page.fill("#push-poll", "250")
    page.click("#push-start-all")
    for column in COLUMNS:
        delay = page.locator(f"#{column} .metric", has_text="Delay").locator(".value")
        expect(delay).to_have_text(re.compile(r"^last -?\d[\d.]* m?s · median "))
        expect(page.locator(f"#{column} [data-role=state]")).not_to_have_text("failed")
    # Polling every 250 ms a tick made every 100 ms must miss some.
    ticks = page.locator("#push-poll-panel .metric", has_text="Ticks").locator(".value")
    expect(ticks).to_have_text(re.compile(r"· [1-9]\d* missed"))
    page.click("#push-stop-all")
    expect(page.locator("#push-ws [data-role=state]")).to_have_text("closed")
    expect(page.locator("#push-sse [data-role=state]")).to_have_text("closed")


def test_opening_the_page_at_push_checks_the_clock(lab: LabPage) -> None:
    """A deep link starts the view as a click on its tab would."""
    page = lab.open("#push")
    expect(page.locator("#push-clock .clock-check")).to_contain_text("Clock check")


def test_finite_streams_end_for_good(lab: LabPage) -> None:
    """SSE: the resume past the end gets 204 and the EventSource is CLOSED; WS: close 1000."""
    page = lab.open("#push")
    page.fill("#push-interval", "50")
    page.fill("#push-count", "3")
    page.click("#push-sse [data-role=start]")
    page.click("#push-ws [data-role=start]")

    sse_state = page.locator("#push-sse [data-role=state]")
    expect(sse_state).to_have_text("closed")
    expect(page.locator("#push-sse [data-role=detail]")).to_contain_text("204")
    ready = page.locator("#push-sse .metric", has_text="readyState").locator(".value")
    expect(ready).to_have_text("2 CLOSED · 3")
    expect(page.locator("#push-sse [data-role=log] li.dir-in")).to_have_count(3)

    expect(page.locator("#push-ws [data-role=state]")).to_have_text("closed")
    expect(page.locator("#push-ws [data-role=log]")).to_contain_text(
        "1000 normal closure “stream complete”"
    )
    expect(page.locator("#push-ws [data-role=log] li.dir-in")).to_have_count(3)


def test_sse_tick_size_matches_the_bytes_on_the_wire(
    lab: LabPage, live_server: ServerProcess
) -> None:
    """The page computes each event's bytes (fields + chunk framing); a raw socket counts them."""
    page = lab.open("#push")
    page.fill("#push-count", "1")
    page.click("#push-sse [data-role=start]")
    first = page.locator("#push-sse [data-role=log] li.dir-in").first
    chunk = _first_event_chunk(live_server.url)
    data = next(line for line in chunk.split(b"\r\n") if line.startswith(b"data: "))[6:]
    expect(first.locator(".size")).to_have_text(f"{len(data)} B + {len(chunk) - len(data)} B")


def _first_event_chunk(base_url: str) -> bytes:
    """Tick 1 of /sse/stream?count=1 exactly as sent: its chunk-size line to its closing CRLF."""
    address = urlsplit(base_url)
    request = f"GET /sse/stream?count=1 HTTP/1.1\r\nHost: {address.netloc}\r\n\r\n".encode()
    with socket.create_connection((address.hostname, address.port), timeout=5) as sock:
        sock.sendall(request)
        received = b""
        while not received.endswith(b"\r\n0\r\n\r\n"):  # the last chunk of the response
            data = sock.recv(4096)
            assert data, "the server closed the stream early"
            received += data
    body = received[received.index(b"\r\n\r\n") + 4 :]
    return next(chunk for chunk in _chunks(body) if b"event: tick" in chunk)


def _chunks(body: bytes) -> Iterator[bytes]:
    """The raw chunks of a chunked body (RFC 9112 §7.1), each with its size line and CRLF."""
    position = 0
    while True:
        line_end = body.index(b"\r\n", position)
        size = int(body[position:line_end], 16)
        end = line_end + 2 + size + 2
        yield body[position:end]
        if size == 0:
            return
        position = end


def test_ticks_ends_polling_too_and_every_column_counts_from_one(lab: LabPage) -> None:
    """With Ticks = 5 the streams ended but polling went on (57 received), numbering its
    ticks #17960518401 while the streams said #5."""
    page = lab.open("#push")
    page.fill("#push-interval", "100")
    page.fill("#push-poll", "60")
    page.fill("#push-count", "5")
    page.click("#push-start-all")
    for column in ("push-poll-panel", "push-long"):
        log = page.locator(f"#{column} [data-role=log]")
        expect(log.locator("li", has_text="5 ticks: done, like the streams")).to_have_count(1)
        expect(page.locator(f"#{column} [data-role=state]")).to_have_text("closed")
        last = page.locator(f"#{column} .metric", has_text="Last tick").locator(".value")
        # Counted from 1, not from 1970's grid. A poll that came late on a busy machine can
        # skip over the fifth tick (and count it as missed), so the last one may be a 6th.
        # (The metrics are redrawn on a timer: wait for the final figure, do not read once.)
        expect(last).to_have_text(re.compile(r"^#[5-8] \(grid #\d+\)$"))
        ticks = page.locator(f"#{column} .metric", has_text="Ticks").locator(".value")
        received = int(ticks.inner_text().split()[0])
        assert 1 <= received <= 5, ticks.inner_text()  # and it stopped: no 57 received
    for column in ("push-ws", "push-sse"):
        last = page.locator(f"#{column} .metric", has_text="Last tick").locator(".value")
        expect(last).to_have_text("#5")
