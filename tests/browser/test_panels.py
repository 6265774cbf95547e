"""The side-by-side panels in a real browser: round trips, sizes, close codes, layout, keys."""

from __future__ import annotations

import re
import socket
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

if TYPE_CHECKING:
    from playwright.sync_api import Page, Route

    from tests.browser.conftest import LabPage, ServerProcess

pytestmark = pytest.mark.browser

OPEN_STATE = {"ws": "open", "sse": "open", "http": "ready"}


@pytest.mark.parametrize("key", ["ws", "sse", "http"])
def test_each_panel_round_trips_a_message(lab: LabPage, key: str) -> None:
    page = lab.open()
    text = f"round trip over {key}"
    expect(page.locator(f"#{key}-state")).to_have_text(OPEN_STATE[key])

    page.fill(f"#{key}-input", text)
    page.press(f"#{key}-input", "Enter")

    expect(page.locator(f"#{key}-log li.dir-out", has_text=text)).to_have_count(1)
    expect(page.locator(f"#{key}-log li.dir-in", has_text=text)).to_have_count(1)
    round_trip = page.locator(f"#{key}-metrics .metric").first.locator(".value")
    # Labelled where shown, not only with "Explain every figure" on.
    expect(round_trip).to_have_text(re.compile(r"^last \d[\d.]* m?s · median \d.* · p95 \d"))


BUSY_MS = 1000


@pytest.mark.parametrize("key", ["ws", "sse", "http"])
def test_page_work_is_not_timed_as_part_of_the_round_trip(lab: LabPage, key: str) -> None:
    """The panels read 10-14 ms where a bare WebSocket took 1 ms: writing the log line of the
    message just sent kept the echo waiting in the task queue. Here every change of the log
    costs a second of page work; the round trip must not contain it."""
    page = lab.open()
    expect(page.locator(f"#{key}-state")).to_have_text(OPEN_STATE[key])
    page.evaluate(
        """([key, busyMs]) => {
          new MutationObserver(() => {
            const until = performance.now() + busyMs;
            while (performance.now() < until);
          }).observe(document.getElementById(`${key}-log`), { childList: true, subtree: true });
        }""",
        [key, BUSY_MS],
    )
    page.fill(f"#{key}-input", "time the network")
    page.press(f"#{key}-input", "Enter")
    expect(page.locator(f"#{key}-log li.dir-in", has_text="time the network")).to_have_count(1)
    round_trip = page.locator(f"#{key}-metrics .metric").first.locator(".value")
    expect(round_trip).to_have_text(re.compile(r"^last \d[\d.]* m?s · "))
    _, value, unit = round_trip.inner_text().split(" · ")[0].split()
    last_ms = float(value) * (1000 if unit == "s" else 1)
    assert last_ms < BUSY_MS, f"{key}: the round trip ({last_ms} ms) includes the page's work"


def test_websocket_sizes_follow_the_framing_rules(lab: LabPage) -> None:
    """Client frames carry a 4-byte mask; a 126-byte payload needs the 2-byte extended length."""
    page = lab.open()
    expect(page.locator("#ws-state")).to_have_text("open")
    for text, out_header, in_header in (("a" * 125, 6, 2), ("b" * 126, 8, 4)):
        page.fill("#ws-input", text)
        page.press("#ws-input", "Enter")
        echoed = page.locator("#ws-log li.dir-in", has_text=text[:20]).last
        expect(echoed.locator(".size")).to_have_text(f"{len(text)} B + {in_header} B")
        sent = page.locator("#ws-log li.dir-out", has_text=text[:20]).last
        expect(sent.locator(".size")).to_have_text(f"{len(text)} B + {out_header} B")


def test_http_response_head_size_matches_the_bytes_on_the_wire(
    lab: LabPage, live_server: ServerProcess
) -> None:
    """The page computes the response head from fetch()'s headers; a raw socket counts it."""
    page = lab.open()
    text = "count my headers"
    page.fill("#http-input", text)
    page.press("#http-input", "Enter")
    expect(page.locator("#http-log li.dir-in", has_text=text)).to_have_count(1)
    received = page.locator("#http-metrics .metric", has_text="Last received").locator(".value")

    head = _raw_response_head(live_server.url, text.encode(), "text/plain;charset=utf-8")
    expect(received).to_have_text(f"{len(text)} B payload + {len(head)} B overhead")


def test_http_request_head_size_is_the_one_the_server_reports(lab: LabPage) -> None:
    """The page cannot see its request head; the server's X-Request-Head-Bytes fills it in."""
    page = lab.open()
    text = "count my request head"
    expect(page.locator("#http-state")).to_have_text("ready")
    with page.expect_response(lambda r: urlsplit(r.url).path == "/http/echo") as echo:
        page.fill("#http-input", text)
        page.press("#http-input", "Enter")
    reported = echo.value.header_value("X-Request-Head-Bytes")
    assert reported is not None
    assert reported.isdigit(), reported
    expect(page.locator("#http-log li.dir-in", has_text=text)).to_have_count(1)

    sent = page.locator("#http-metrics .metric", has_text="Last sent")
    expect(sent.locator(".value")).to_have_text(f"{len(text)} B payload + {reported} B overhead")
    expect(sent.locator(".src")).to_have_text("reported by server")


def test_http_request_head_is_not_visible_without_the_servers_report(lab: LabPage) -> None:
    """An older server sends no X-Request-Head-Bytes: the request head stays "not visible"."""
    page = lab.open()

    def strip_report(route: Route) -> None:
        response = route.fetch()
        headers = {
            name: value
            for name, value in response.headers.items()
            if name.lower() != "x-request-head-bytes"
        }
        route.fulfill(response=response, headers=headers)

    page.route("**/http/echo?*", strip_report)
    text = "no report"
    expect(page.locator("#http-state")).to_have_text("ready")
    page.fill("#http-input", text)
    page.press("#http-input", "Enter")
    expect(page.locator("#http-log li.dir-in", has_text=text)).to_have_count(1)

    sent = page.locator("#http-metrics .metric", has_text="Last sent")
    expect(sent.locator(".value")).to_have_text(f"{len(text)} B payload + headers (not visible)")
    expect(sent.locator(".src")).to_have_text("not visible")


def _raw_response_head(base_url: str, body: bytes, content_type: str) -> bytes:
    """POST /http/echo over a plain socket and return the response head, CRLFCRLF included.

    A keep-alive request like the browser's (no `Connection: close`, which would add a
    `Connection` header to the response).
    """
    address = urlsplit(base_url)
    request = (
        f"POST /http/echo HTTP/1.1\r\nHost: {address.netloc}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    with socket.create_connection((address.hostname, address.port), timeout=5) as sock:
        sock.sendall(request)
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = sock.recv(4096)
            assert chunk, "the server closed the connection before the head was complete"
            response += chunk
    return response[: response.index(b"\r\n\r\n") + 4]


def test_html_looking_message_is_shown_as_text(lab: LabPage) -> None:
    page = lab.open()
    html = "<img src=x onerror=alert(1)>"
    for key in ("ws", "sse", "http"):
        expect(page.locator(f"#{key}-state")).to_have_text(OPEN_STATE[key])
        page.fill(f"#{key}-input", html)
        page.press(f"#{key}-input", "Enter")
        expect(page.locator(f"#{key}-log li.dir-in .text", has_text=html)).to_be_visible()
    assert page.locator("img").count() == 0
    assert lab.problems.page_errors == []  # no alert() dialog either


def test_close_codes_are_shown_and_the_websocket_comes_back(lab: LabPage) -> None:
    page = lab.open()
    state = page.locator("#ws-state")
    expect(state).to_have_text("open")

    # One byte over --ws-max-size: the server closes with 1009; our backoff reconnects.
    page.click("#ws-oversize")
    expect(
        page.locator("#ws-log li.dir-note", has_text="closed 1009 message too big")
    ).to_have_count(1)
    expect(state).to_have_text("open")
    expect(page.locator("#ws-metrics")).to_contain_text("1009 message too big")

    # Disconnect is a clean 1000 and stays closed: no reconnect after our own close.
    page.click("#ws-disconnect")
    expect(state).to_have_text("closed")
    expect(
        page.locator("#ws-log li.dir-note", has_text="closed by the page: 1000 normal closure")
    ).to_have_count(1)
    page.click("#ws-connect")
    expect(state).to_have_text("open")
    # the first connection, the one after 1009, and this one
    expect(page.locator("#ws-metrics")).to_contain_text("3 opened since load")


def test_sse_disconnect_closes_the_eventsource_for_good(lab: LabPage) -> None:
    page = lab.open()
    state = page.locator("#sse-state")
    expect(state).to_have_text("open")
    ready_state = page.locator("#sse-metrics .metric", has_text="readyState").locator(".value")
    expect(ready_state).to_have_text("1 OPEN")

    page.click("#sse-disconnect")
    expect(state).to_have_text("closed")
    expect(ready_state).to_have_text("2 CLOSED")
    page.click("#sse-connect")
    expect(state).to_have_text("open")


def test_panels_sit_side_by_side_and_stack_on_a_narrow_screen(lab: LabPage) -> None:
    page = lab.open()
    wide = [page.locator(f"#panel-{key}").bounding_box() for key in ("ws", "sse", "http")]
    assert all(box is not None for box in wide)
    assert len({round(box["y"]) for box in wide if box}) == 1, wide
    assert [box["x"] for box in wide if box] == sorted(box["x"] for box in wide if box)

    page.set_viewport_size({"width": 390, "height": 800})
    narrow = [page.locator(f"#panel-{key}").bounding_box() for key in ("ws", "sse", "http")]
    assert len({round(box["x"]) for box in narrow if box}) == 1, narrow
    tops = [box["y"] for box in narrow if box]
    assert tops == sorted(tops)
    assert len(set(tops)) == 3
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_every_tab_and_every_table_column_is_reachable_at_phone_width(lab: LabPage) -> None:
    """At 390 px the tab strip cut the last tab to "Roo", and Compare's last columns were
    off-screen with nothing saying so."""
    page = lab.open()
    page.set_viewport_size({"width": 390, "height": 844})
    for tab in page.locator('[role="tab"]').all():
        box = tab.bounding_box()
        assert box is not None
        assert box["x"] >= 0, tab.inner_text()
        assert box["x"] + box["width"] <= 390, f"{tab.inner_text()} is cut off"
    page.click("#tab-compare")
    hint = page.locator("#compare-scroll-hint")
    expect(hint).to_be_visible()
    expect(hint).to_contain_text("scroll the table sideways")
    page.set_viewport_size({"width": 1280, "height": 800})
    expect(hint).to_be_hidden()  # the whole table fits: no hint


def test_tabs_work_from_the_keyboard(lab: LabPage) -> None:
    page = lab.open()
    page.focus("#tab-echo")
    page.keyboard.press("ArrowRight")
    expect(page.locator("#tab-compare")).to_be_focused()
    expect(page.locator("#tab-compare")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#view-compare")).to_be_visible()
    expect(page.locator("#view-echo")).to_be_hidden()
    page.keyboard.press("End")  # the last tab, whichever view that is
    last_tab = page.locator('[role="tab"]').last
    expect(last_tab).to_have_attribute("aria-selected", "true")
    expect(page.locator(f"#{last_tab.get_attribute('aria-controls')}")).to_be_visible()
    page.keyboard.press("Home")
    expect(page.locator("#view-echo")).to_be_visible()


def test_every_control_has_a_name(lab: LabPage) -> None:
    page = lab.open()
    unnamed = page.evaluate(
        """() => [...document.querySelectorAll("input, select, button")]
            .filter((c) => !(c.labels?.length || c.getAttribute("aria-label")
                             || c.textContent.trim()))
            .map((c) => c.outerHTML)"""
    )
    assert unnamed == []


def test_no_console_errors_across_every_view(lab: LabPage) -> None:
    """Use every view once; the `lab` fixture also checks the console after each test."""
    page = lab.open()
    for key in ("ws", "sse", "http"):
        expect(page.locator(f"#{key}-state")).to_have_text(OPEN_STATE[key])
        page.click(f"#{key}-ping")
        expect(page.locator(f"#{key}-log li.dir-in.kind-ping")).to_have_count(1)

    page.click("#tab-push")
    page.fill("#push-interval", "100")
    page.fill("#push-poll", "100")
    page.click("#push-start-all")
    for column in ("push-ws", "push-sse", "push-poll-panel", "push-long"):
        expect(page.locator(f"#{column} [data-role=log] li.dir-in").first).to_be_visible()
    page.click("#push-stop-all")

    page.click("#tab-rooms")
    page.fill("#room-name", "console-check")
    page.click("#room-join-all")
    page.fill("#room-ws-input", "checking the console")
    page.press("#room-ws-input", "Enter")
    expect(page.locator("#room-http .message", has_text="checking the console")).to_have_count(1)
    page.click("#room-leave-all")

    page.click("#tab-compare")
    page.fill("#compare-n", "5")
    page.click("#compare-run")
    expect(page.locator("#compare-status")).to_contain_text("Done", timeout=30_000)

    assert lab.problems.console_errors == []
    assert lab.problems.page_errors == []


def test_logs_keep_following_while_their_tab_is_hidden(lab: LabPage) -> None:
    """Lines that arrive while another tab is shown are in view when the tab comes back."""
    page = lab.open()
    expect(page.locator("#ws-state")).to_have_text("open")
    for count in range(1, 16):  # more than the log's height: it scrolls
        page.click("#ws-ping")
        expect(page.locator("#ws-log li.dir-in.kind-ping")).to_have_count(count)
    page.click("#tab-rooms")
    for count in range(16, 24):  # the button is hidden now: click it from script
        page.evaluate("document.getElementById('ws-ping').click()")
        expect(page.locator("#ws-log li.dir-in.kind-ping")).to_have_count(count)
    page.click("#tab-echo")
    last_line_shown = page.eval_on_selector(
        "#ws-log",
        """(log) => {
            const box = log.getBoundingClientRect();
            const last = log.lastElementChild.getBoundingClientRect();
            return last.top >= box.top && last.bottom <= box.bottom + 1;
        }""",
    )
    assert last_line_shown, "the log stayed where it was when its tab was hidden"


def test_sse_panel_refuses_text_longer_than_max_text_without_a_request(lab: LabPage) -> None:
    """The SSE panel posts into a room, which takes at most max_text characters: the page
    says so instead of sending a request that ends in a 400 (an error in the console)."""
    page = lab.open()
    expect(page.locator("#sse-state")).to_have_text("open")
    page.eval_on_selector("#sse-input", "(input) => { input.value = 'y'.repeat(5000); }")
    page.click("#sse-form button[type=submit]")
    expect(page.locator("#sse-log li.dir-error")).to_contain_text("not sent: 5000 characters")
    expect(page.locator("#sse-log li.dir-out")).to_have_count(0)


def test_what_am_i_looking_at_links_open_the_docs(lab: LabPage) -> None:
    page = lab.open()
    assert page.locator("#view-echo .doc-ref a").first.get_attribute("href") == "/docs/page.md"
    page.locator(".site-footer a", has_text="docs/page.md").click()
    expect(page).to_have_url(f"{lab.base_url}/docs/page.md")
    expect(page.locator("body")).to_contain_text("# The comparison page")


def set_visibility(page: Page, state: str) -> None:
    """Make the page believe its browser tab is `state` ("hidden" or "visible")."""
    page.evaluate(
        """(state) => {
          Object.defineProperty(document, "visibilityState", { value: state, configurable: true });
          document.dispatchEvent(new Event("visibilitychange"));
        }""",
        state,
    )


def test_the_sse_panel_streams_only_while_its_view_is_shown(lab: LabPage) -> None:
    """Every tab used to hold an SSE stream whatever it showed: six tabs took all six
    connections the browser allows per host, and the seventh tab's requests waited for ever."""
    page = lab.open()
    expect(page.locator("#sse-state")).to_have_text("open")
    page.click("#tab-compare")
    expect(page.locator("#sse-state")).to_have_text("closed")
    expect(page.locator("#sse-log li", has_text="view not shown: stream closed")).to_have_count(1)
    page.click("#tab-echo")
    expect(page.locator("#sse-state")).to_have_text("open")
    # A hidden browser tab (another tab in front, a minimised window) closes it too.
    set_visibility(page, "hidden")
    expect(page.locator("#sse-state")).to_have_text("closed")
    set_visibility(page, "visible")
    expect(page.locator("#sse-state")).to_have_text("open")


def test_a_page_opened_on_another_view_holds_no_stream(lab: LabPage) -> None:
    """Seven tabs on the page, none on Side by side: the seventh still gets its answers."""
    pages = [lab.open("#compare")]
    for _ in range(6):
        extra = pages[0].context.new_page()
        extra.goto(f"{lab.base_url}/#compare")
        extra.wait_for_selector("html[data-ready='true']", state="attached")
        pages.append(extra)
    last = pages[-1]
    expect(last.locator("#sse-state")).to_have_text("closed")
    last.click("#tab-echo")  # the panels of the seventh tab: its HTTP echo must answer
    last.fill("#http-input", "seventh tab")
    last.press("#http-input", "Enter")
    expect(last.locator("#http-log li.dir-in", has_text="seventh tab")).to_have_count(1)


def test_a_request_held_back_by_the_browser_says_why(lab: LabPage) -> None:
    """A request that waits for seconds names the likely cause instead of 'busy' for ever."""
    page = lab.open()
    expect(page.locator("#http-state")).to_have_text("ready")
    answered = []
    # The request never reaches the server: as if the browser's connections were all taken.
    page.route("**/http/echo**", lambda route: answered.append(route))
    page.fill("#http-input", "stuck")
    page.press("#http-input", "Enter")
    expect(page.locator("#http-state-detail")).to_contain_text("six connections", timeout=15_000)
    for route in answered:  # let it through at last: it is answered, and the state clears
        route.fulfill(status=200, content_type="text/plain; charset=utf-8", body="stuck")
    expect(page.locator("#http-log li.dir-in", has_text="stuck")).to_have_count(1)
    expect(page.locator("#http-state")).to_have_text("ready")


@pytest.mark.parametrize("key", ["ws", "sse", "http"])
def test_log_and_figure_give_a_message_the_same_size(lab: LabPage, key: str) -> None:
    """The SSE log said `14 B + ≥30 B` where the figure said 679 B (it added the POST's
    response), and the HTTP log `+ headers` where the figure said 633 B."""
    page = lab.open()
    expect(page.locator(f"#{key}-state")).to_have_text(OPEN_STATE[key])
    page.fill(f"#{key}-input", "same size")
    page.press(f"#{key}-input", "Enter")
    for direction, label in (("out", "Last sent"), ("in", "Last received")):
        line = page.locator(f"#{key}-log li.dir-{direction}", has_text="same size").last
        logged = re.findall(r"\d+", line.locator(".size").inner_text())
        figure = page.locator(f"#{key}-metrics .metric", has_text=label).first.locator(".value")
        expect(figure).to_contain_text("overhead")
        shown = re.findall(r"\d+", figure.inner_text())
        assert logged == shown, f"{key} {direction}: log {logged}, figure {shown}"
