"""Chromium through the real proxies: the connection-limit experiment, HTTP/2 in use, and
the page's WebSocket echo (inside the h2 connection with HAProxy).

Chromium trusts the test certificate by its public key only
(`--ignore-certificate-errors-spki-list`), as if the local CA had been imported.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from playwright.sync_api import expect

from scripts.screenshot import CHROMIUM_ARGS
from server.tls import LocalCertificate
from tests.browser.conftest import CHROMIUM, LabPage, ServerProcess, _require_browser
from tests.deploy.conftest import PROXIES, Deployed, deploy

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

STREAMS = 8  # more than HTTP/1.1's 6 connections per origin
RUN_LIMIT_MS = 20_000  # 3 s for the streams + 3 s for the fetch, on a loaded machine


def spki_hash(cert_path) -> str:
    """base64(SHA-256(SubjectPublicKeyInfo)): how Chromium names a key to trust."""
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


@pytest.fixture(scope="module")
def browser(certificate: LocalCertificate) -> Iterator[Browser]:
    """Headless Debian Chromium that trusts the test certificate's key (this module only)."""
    _require_browser()
    from playwright.sync_api import sync_playwright

    trust = f"--ignore-certificate-errors-spki-list={spki_hash(certificate.cert)}"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, trust], headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def proxied(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    certificate: LocalCertificate,
) -> Iterator[dict[str, Deployed]]:
    """The app behind each proxy, started once for the module."""
    started: dict[str, Deployed] = {}
    folder = tmp_path_factory.mktemp("proxied")
    try:
        for kind in PROXIES:
            started[kind] = deploy(kind, folder, certificate, [])
        yield started
    finally:
        for deployed in started.values():
            deployed.proxy.stop()
            deployed.app.stop()


@pytest.fixture(scope="module")
def direct(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The app alone, over plain HTTP/1.1."""
    _require_browser()
    server = ServerProcess(tmp_path_factory.mktemp("direct") / "server.log")
    server.start()
    yield server
    server.stop()


def open_page(browser: Browser, base_url: str) -> Page:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    return LabPage(context.new_page(), base_url).open()


def run_experiment(page: Page, count: int) -> dict[str, str]:
    """Run the connection-limit view with `count` streams; its outcome, as the page shows it."""
    page.click("#tab-connlimit")
    page.fill("#connlimit-count", str(count))
    page.click("#connlimit-run")
    panel = page.locator("#connlimit-panel")
    expect(panel).to_have_attribute("data-state", "done", timeout=RUN_LIMIT_MS)
    return {
        name: panel.get_attribute(f"data-{name}") or "" for name in ("opened", "fetch", "protocol")
    }


def test_directly_over_http1_the_browser_opens_six_streams_and_the_fetch_waits(
    browser: Browser, direct: ServerProcess
) -> None:
    page = open_page(browser, direct.url)
    expect(page.locator("#sse-state")).to_have_text("open")
    page.click("#sse-disconnect")  # the panel's own stream would hold one of the six
    expect(page.locator("#sse-state")).not_to_have_text("open")
    outcome = run_experiment(page, STREAMS)
    assert outcome == {"opened": "6", "fetch": "blocked", "protocol": ""}
    expect(page.locator("#connlimit-verdict")).to_contain_text("6 connections")
    page.context.close()


@pytest.mark.parametrize("kind", PROXIES)
def test_through_the_proxy_over_h2_every_stream_opens_and_the_fetch_completes(
    browser: Browser, proxied: dict[str, Deployed], kind: str
) -> None:
    page = open_page(browser, proxied[kind].url)
    outcome = run_experiment(page, STREAMS)
    assert outcome == {"opened": str(STREAMS), "fetch": "completed", "protocol": "h2"}
    page.context.close()


@pytest.mark.parametrize("kind", PROXIES)
def test_the_pages_websocket_echoes_through_the_proxy(
    browser: Browser, proxied: dict[str, Deployed], kind: str
) -> None:
    deployed = proxied[kind]
    page = open_page(browser, deployed.url)
    expect(page.locator("#ws-state")).to_have_text("open")
    text = f"echo through {kind}"
    page.fill("#ws-input", text)
    page.press("#ws-input", "Enter")
    expect(page.locator("#ws-log li.dir-in", has_text=text)).to_have_count(1)
    # The HTTP panel names the protocol its requests used.
    page.fill("#http-input", "which protocol?")
    page.press("#http-input", "Enter")
    protocol = page.locator("#http-metrics .metric", has_text="Protocol (next hop)")
    expect(protocol.locator(".value")).to_have_text("h2")
    if kind == "haproxy":  # the upgrade travelled inside the HTTP/2 connection (RFC 8441)
        logged_over_h2 = re.compile(r" 101 .*/ws/echo\S* HTTP/2\.0")
        wait_until(lambda: logged_over_h2.search(deployed.proxy.log()) is not None)
    page.context.close()


def wait_until(condition: Callable[[], bool], limit_s: float = 10.0) -> None:
    """Return once `condition()` holds (a log line written by another process); fail after
    `limit_s` seconds. Nothing notifies us of a line, so the file is read again and again."""
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, "not within the time limit"
        time.sleep(0.05)
