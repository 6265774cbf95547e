"""Stopping and restarting the server under an open page: each protocol shows its own way of
coping, and everything works again without a reload."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect

if TYPE_CHECKING:
    from tests.browser.conftest import LabPage, ServerProcess

pytestmark = pytest.mark.browser

# Our WebSocket backoff draws from windows of 0.5, 1, 2, 4 s ... so after a short outage the
# next attempt comes within a few seconds; allow for an unlucky draw.
RECOVERY_MS = 25_000

# Holds every message a page's WebSocket would send after its first `limit` (counted per
# socket) and counts them in `window.wsSendsHeld`, until `window.holdWebSocketAfter` is null.
HOLD_WEBSOCKET_SENDS = """(limit) => {
  window.holdWebSocketAfter = limit;
  window.wsSendsHeld = 0;
  const sent = new WeakMap();
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    const count = (sent.get(this) ?? 0) + 1;
    sent.set(this, count);
    if (window.holdWebSocketAfter !== null && count > window.holdWebSocketAfter) {
      window.wsSendsHeld += 1;
      return;
    }
    return send.call(this, data);
  };
}"""


def test_server_restart_is_survived(lab_on_own_server: LabPage, own_server: ServerProcess) -> None:
    lab = lab_on_own_server
    page = lab.open()
    expect(page.locator("#ws-state")).to_have_text("open")
    expect(page.locator("#sse-state")).to_have_text("open")

    # A pushed SSE stream, to see the browser resume it with Last-Event-ID.
    page.click("#tab-push")
    page.fill("#push-interval", "100")
    page.click("#push-sse [data-role=start]")
    page.click("#push-ws [data-role=start]")
    for column in ("push-sse", "push-ws"):
        last_tick = page.locator(f"#{column} .metric", has_text="Last tick").locator(".value")
        expect(last_tick).to_have_text(re.compile(r"#([3-9]|\d\d+)$"))
    page.click("#tab-echo")

    own_server.stop()

    # WebSocket: told 1001 by the shutting-down server, then OUR backoff takes over.
    expect(page.locator("#ws-log li.dir-note", has_text="closed 1001 going away")).to_have_count(1)
    expect(page.locator("#ws-state")).to_have_text("reconnecting")
    expect(page.locator("#ws-state-detail")).to_contain_text("Our backoff: attempt")
    # SSE: the browser's own reconnection, announcing the Last-Event-ID it will send.
    expect(page.locator("#sse-state")).to_have_text("reconnecting")
    expect(page.locator("#sse-state-detail")).to_contain_text("the browser reconnects by itself")
    # HTTP: nothing to reconnect; the request itself fails.
    page.fill("#http-input", "sent while the server is down")
    page.press("#http-input", "Enter")
    expect(page.locator("#http-state")).to_have_text("failed")
    expect(page.locator("#http-log li.dir-error")).to_have_count(1)
    expect(page.locator("#server-status")).to_have_attribute("data-state", "down")

    own_server.start()  # same port

    expect(page.locator("#ws-state")).to_have_text("open", timeout=RECOVERY_MS)
    expect(page.locator("#sse-state")).to_have_text("open", timeout=RECOVERY_MS)
    expect(page.locator("#server-status")).to_have_attribute("data-state", "up")
    for key, state in (("ws", "open"), ("sse", "open"), ("http", "ready")):
        text = f"{key} works again"
        page.fill(f"#{key}-input", text)
        page.press(f"#{key}-input", "Enter")
        expect(page.locator(f"#{key}-log li.dir-in", has_text=text)).to_have_count(1)
        expect(page.locator(f"#{key}-state")).to_have_text(state)

    # The pushed streams resumed after their last tick: none lost, none twice. SSE by the
    # browser's Last-Event-ID, WebSocket by our own after=. Each column reconnects on its own
    # backoff (up to 10 s a try once the server was down a while), so it may still be waiting
    # after the echo columns are back: the same bound as theirs. A gap still fails, as the
    # line then says "skipped".
    for column in ("push-sse", "push-ws"):
        resumed = page.locator(
            f"#{column} [data-role=log] li", has_text=re.compile(r"resumed after #\d+: no gap")
        )
        expect(resumed).to_have_count(1, timeout=RECOVERY_MS)


def test_compare_run_survives_a_server_restart(
    lab_on_own_server: LabPage, own_server: ServerProcess
) -> None:
    """Stopped mid-run, the run waits for the server and resumes on a new connection."""
    page = lab_on_own_server.open("#compare")
    # The WebSocket part of a 400-message run takes a fraction of a second, less than the
    # server takes to stop: the server must not be stopped "soon after" a progress mark, or
    # the WebSocket may have finished by then. Instead the page holds back its WebSocket's
    # 60th message, so the run is certainly waiting mid-way when the server goes away.
    page.evaluate(HOLD_WEBSOCKET_SENDS, 60)
    page.fill("#compare-n", "400")
    page.fill("#compare-size", "16")
    page.click("#compare-run")
    page.wait_for_function("window.wsSendsHeld > 0")
    assert 0 < page.evaluate("document.querySelector('#progress-ws').value") < 400

    own_server.stop()
    expect(page.locator("#compare-status")).to_contain_text("waiting for the server")
    page.evaluate("window.holdWebSocketAfter = null")  # the new connection runs freely
    own_server.start()

    expect(page.locator("#compare-status")).to_contain_text("Done", timeout=60_000)
    expect(page.locator("#compare-status")).to_contain_text("Interrupted and resumed: WebSocket")
    rows = page.locator("#compare-body tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0).locator(".note")).to_contain_text("interrupted 1\N{MULTIPLICATION SIGN}")
    expect(rows.nth(0).locator(".note")).to_contain_text("1001 going away")
    expect(rows.nth(0).locator("td").last).to_have_text("2 WebSockets")
    expect(page.locator("#compare-body .error-note")).to_have_count(0)
