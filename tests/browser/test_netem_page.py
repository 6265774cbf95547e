"""The page through the shaping proxy (`python -m client netem`) in Chromium: every panel
works through a delay, the Network tab shows and switches the conditions, and with Upgrade
stripped the Diagnose panel falls back from WebSocket to SSE + POST."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ROOT, LabPage

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from tests.browser.conftest import ServerProcess

pytestmark = pytest.mark.browser
BANNER = re.compile(r"netem: listening on (http://127\.0\.0\.1:\d+)")

Shaper = Callable[..., str]


@pytest.fixture
def netem(live_server: ServerProcess) -> Iterator[Shaper]:
    """`netem("--delay", "20ms")`: the proxy in front of the module's server; its URL."""
    processes: list[subprocess.Popen[str]] = []

    def start(*conditions: str) -> str:
        command = [sys.executable, "-m", "client", "netem", "--listen", "127.0.0.1:0"]
        command += ["--to", live_server.url, "--quiet", *conditions]
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        processes.append(process)
        assert process.stdout is not None
        line = process.stdout.readline()  # the banner comes first; EOF if it failed
        found = BANNER.search(line)
        assert found, f"netem did not start: {line!r}"
        return found[1]

    yield start
    for process in processes:
        process.terminate()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


def _page(browser: Browser, url: str) -> LabPage:
    """A page of its own at `url` (the proxy), its console and errors recorded."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    return LabPage(context.new_page(), url)


def _conditions(proxy: str) -> dict[str, object]:
    with urllib.request.urlopen(f"{proxy}/_netem", timeout=10) as response:
        return dict(json.loads(response.read()))


def test_every_panel_works_through_a_delay_and_presets_switch(
    browser: Browser, netem: Shaper
) -> None:
    proxy = netem("--delay", "20ms")
    lab = _page(browser, proxy)
    page = lab.open()
    for key, state in (("ws", "open"), ("sse", "open"), ("http", "ready")):
        expect(page.locator(f"#{key}-state")).to_have_text(state)
        page.fill(f"#{key}-input", f"through netem over {key}")
        page.press(f"#{key}-input", "Enter")
        expect(page.locator(f"#{key}-log li.dir-in", has_text="through netem")).to_have_count(1)
    expect(page.locator("#netem-badge")).to_have_text("network: delay 20 ms each way")

    page.click("#tab-network")
    expect(page.locator("#netem-conditions")).to_contain_text("delay 20 ms each way")
    page.click("#netem-presets button[data-preset='lan']")
    expect(page.locator("#netem-state")).to_have_text("lan")
    assert _conditions(proxy)["preset"] == "lan"
    lab.page.context.close()
    assert lab.problems.page_errors == []
    assert lab.problems.console_errors == []


def test_stripped_upgrade_makes_diagnose_fall_back_to_sse(browser: Browser, netem: Shaper) -> None:
    lab = _page(browser, netem("--strip-upgrade"))
    page = lab.open("#network")
    page.click("#diagnose-run")
    expect(page.locator("#diagnose-state")).to_have_text("SSE + POST", timeout=30_000)
    expect(page.locator("#diagnose-steps tr[data-step='ws']")).to_have_attribute(
        "data-ok", "false"
    )
    expect(page.locator("#diagnose-steps tr[data-step='sse']")).to_have_attribute(
        "data-ok", "true"
    )
    expect(page.locator("#diagnose-verdict")).to_contain_text("WebSocket failed")
    lab.page.context.close()
    assert lab.problems.page_errors == []  # the failed upgrade is logged, nothing throws


def test_buffering_proxy_is_diagnosed_and_websocket_still_chosen(
    browser: Browser, netem: Shaper
) -> None:
    lab = _page(browser, netem("--buffer-until-close"))
    page = lab.open("#network")
    page.click("#diagnose-run")
    expect(page.locator("#diagnose-state")).to_have_text("WebSocket", timeout=30_000)
    sse = page.locator("#diagnose-steps tr[data-step='sse']")
    expect(sse).to_have_attribute("data-ok", "false")
    expect(sse).to_contain_text("buffers the stream")
    lab.page.context.close()
    assert lab.problems.page_errors == []


def test_without_a_proxy_the_page_says_so(lab: LabPage) -> None:
    page = lab.open("#network")
    expect(page.locator("#netem-state")).to_have_text("no proxy")
    expect(page.locator("#netem-badge")).to_be_hidden()


def test_push_compare_and_rooms_work_through_a_delay(browser: Browser, netem: Shaper) -> None:
    lab = _page(browser, netem("--delay", "20ms"))
    page = lab.open("#push")
    page.fill("#push-interval", "200")
    page.fill("#push-poll", "300")
    page.click("#push-start-all")
    for column in ("push-ws", "push-sse", "push-poll-panel", "push-long"):
        delay = page.locator(f"#{column} .metric", has_text="Delay").locator(".value")
        expect(delay).to_have_text(re.compile(r"^last -?\d[\d.]* m?s · median "))
    page.click("#push-stop-all")

    page.click("#tab-compare")
    page.fill("#compare-n", "5")
    page.fill("#compare-size", "32")
    page.click("#compare-run")
    expect(page.locator("#compare-status")).to_contain_text("Done", timeout=60_000)
    expect(page.locator("#compare-body tr")).to_have_count(3)

    page = lab.open("?room=through-netem#rooms")
    page.click("#room-join-all")
    expect(page.locator("#room-ws [data-role=state]")).to_have_text("open")
    expect(page.locator("#room-sse [data-role=state]")).to_have_text("open")
    page.fill("#room-ws-input", "across the proxy")
    page.press("#room-ws-input", "Enter")
    for participant in ("room-ws", "room-sse", "room-http"):
        expect(
            page.locator(f"#{participant} .message", has_text="across the proxy")
        ).to_have_count(1)
    lab.page.context.close()
    assert lab.problems.page_errors == []
    assert lab.problems.console_errors == []
