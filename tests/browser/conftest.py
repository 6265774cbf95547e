"""Fixtures for the browser tests: a real server in a subprocess and headless Chromium.

The server runs as `python -m server`, exactly as a user starts it, so a test can stop it
and start it again on the same port (the page must survive that without a reload). The
browser is Debian's Chromium driven by Playwright's sync API; Playwright's own browser
download is never used. Without Chromium the tests are skipped, except on CI (env `CI`
set), where a missing browser is a failure: a green run must mean the page was tested.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

# One list of launch flags for the tests and the documented screenshot command.
from scripts.screenshot import CHROMIUM_ARGS
from tests.processes import SyncServerProcess

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("PROTOCOL_LAB_CHROMIUM", "/usr/bin/chromium")

# Faster than the defaults so reconnection tests stay short; limits small enough to provoke
# a 1009; a room burst big enough that the suite's pages (all on 127.0.0.1, one rate-limit
# bucket) never see a 429, which would be an error in the console.
SERVER_ARGS = [
    "--sse-retry",
    "500",
    "--ws-max-size",
    "65536",
    "--room-burst",
    "500",
    "--shutdown-timeout",
    "1",
]


def _require_browser() -> None:
    """Skip (locally) or fail (on CI) when Playwright or Chromium is not available."""
    problem = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problem = "the playwright package is not installed (pip install -e '.[test]')"
    if problem is None and not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        problem = f"Chromium not found at {CHROMIUM} (apt-get install chromium, or make browser)"
    if problem is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"browser tests cannot run on CI: {problem}", pytrace=False)
    pytest.skip(f"browser tests skipped: {problem}")


class ServerProcess(SyncServerProcess):
    """The browser tests' server: the shared process helper, with SERVER_ARGS by default."""

    def __init__(self, log_path: Path, args: list[str] | None = None) -> None:
        super().__init__(log_path, list(SERVER_ARGS) if args is None else args)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Debian Chromium for one test module.

    Not for the whole session: while the sync API is active, its event loop counts as the
    running loop of the main thread, and the async tests that run after these would fail.
    """
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server per test module."""
    _require_browser()
    server = ServerProcess(tmp_path_factory.mktemp("server") / "server.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server for one test only, e.g. one that stops and restarts it."""
    _require_browser()
    server = ServerProcess(tmp_path / "server.log")
    server.start()
    yield server
    server.stop()


@dataclass
class PageProblems:
    """What went wrong in a page: console messages of type error, and uncaught exceptions."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)

    def on_page_error(self, error: Any) -> None:
        self.page_errors.append(str(error))


class LabPage:
    """A Playwright page on the lab, with its problems recorded from the first request."""

    def __init__(self, page: Page, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.problems = PageProblems()
        page.on("console", self.problems.on_console)
        page.on("pageerror", self.problems.on_page_error)
        # A dialog would mean a message was run as HTML (an onerror=alert(...)).
        page.on("dialog", lambda dialog: self.problems.page_errors.append(f"dialog: {dialog}"))

    def open(self, fragment: str = "") -> Page:
        """Load the page and wait until main.js has wired everything."""
        self.page.goto(f"{self.base_url}/{fragment}")
        self.page.wait_for_selector("html[data-ready='true']", state="attached")
        return self.page


def _new_lab_page(browser: Browser, server: ServerProcess, width: int = 1280) -> LabPage:
    context = browser.new_context(viewport={"width": width, "height": 800}, accept_downloads=True)
    context.set_default_timeout(15_000)
    return LabPage(context.new_page(), server.url)


@pytest.fixture
def lab(browser: Browser, live_server: ServerProcess) -> Iterator[LabPage]:
    """The page on the module's server. Fails the test on any console error or exception."""
    lab_page = _new_lab_page(browser, live_server)
    yield lab_page
    lab_page.page.context.close()
    assert lab_page.problems.page_errors == [], "uncaught errors in the page"
    assert lab_page.problems.console_errors == [], "errors in the browser console"


@pytest.fixture
def lab_on_own_server(browser: Browser, own_server: ServerProcess) -> Iterator[LabPage]:
    """The page on a server of its own. Console errors are expected here (the server goes
    away, so requests fail), but uncaught exceptions still fail the test."""
    lab_page = _new_lab_page(browser, own_server)
    yield lab_page
    lab_page.page.context.close()
    assert lab_page.problems.page_errors == [], "uncaught errors in the page"


@pytest.fixture
def lab_on_default_server(browser: Browser, tmp_path: Path) -> Iterator[LabPage]:
    """The page on a server of its own with the shipped room rate limit (`SERVER_ARGS` widen
    it for the rest of the suite). Fails the test on any console error or exception."""
    _require_browser()
    server = ServerProcess(tmp_path / "server.log", args=["--shutdown-timeout", "1"])
    server.start()
    lab_page = _new_lab_page(browser, server)
    yield lab_page
    lab_page.page.context.close()
    server.stop()
    assert lab_page.problems.page_errors == [], "uncaught errors in the page"
    assert lab_page.problems.console_errors == [], "errors in the browser console"
