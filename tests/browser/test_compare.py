"""The compare run in a real browser: it completes, draws, and its results download."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect

if TYPE_CHECKING:
    from tests.browser.conftest import LabPage

pytestmark = pytest.mark.browser

# Pixels of each protocol's colour on the chart (lines are drawn in --ws, --sse, --http).
COUNT_COLOURED_PIXELS = """(canvas) => {
  const css = getComputedStyle(document.documentElement);
  const rgb = (name) => {
    const probe = document.createElement("span");
    probe.style.color = css.getPropertyValue(name);
    document.body.append(probe);
    const [r, g, b] = getComputedStyle(probe).color.match(/\\d+/g).map(Number);
    probe.remove();
    return [r, g, b];
  };
  const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
  const counts = {};
  for (const name of ["ws", "sse", "http"]) {
    const [r, g, b] = rgb(`--${name}`);
    let n = 0;
    for (let i = 0; i < data.length; i += 4) {
      const near = (offset, value) => Math.abs(data[i + offset] - value) < 12;
      if (near(0, r) && near(1, g) && near(2, b)) n += 1;
    }
    counts[name] = n;
  }
  return counts;
}"""


def test_compare_run_completes_draws_and_downloads(lab: LabPage) -> None:
    page = lab.open("#compare")
    canvas = page.locator("#compare-canvas")
    before = canvas.evaluate(COUNT_COLOURED_PIXELS)
    assert before == {"ws": 0, "sse": 0, "http": 0}

    page.fill("#compare-n", "20")
    page.fill("#compare-size", "32")
    page.click("#compare-run")
    expect(page.locator("#compare-status")).to_contain_text("Done", timeout=60_000)

    rows = page.locator("#compare-body tr")
    expect(rows).to_have_count(3)
    for index, name in enumerate(("WebSocket", "SSE + POST", "HTTP")):
        row = rows.nth(index)
        expect(row.locator("th")).to_contain_text(name)
        expect(row.locator(".error-note")).to_have_count(0)
        cells = row.locator("td")
        expect(cells.nth(0)).to_have_text(re.compile(r"^\d[\d.]* m?s$"))  # median
        expect(cells.nth(1)).to_have_text(re.compile(r"^\d[\d.]* m?s$"))  # p95
        expect(cells.nth(2)).to_have_text(re.compile(r"^\d+ msg/s$"))
    # WebSocket overhead is exact: 32-byte payloads, 6-byte masked header out, 2 bytes in.
    expect(rows.nth(0).locator("td").nth(3)).to_have_text("6 B / 2 B")
    # Request heads are reported by the server (X-Request-Head-Bytes), responses computed and
    # measured: both directions are exact, no "≥" or "hidden".
    expect(rows.nth(1).locator("td").nth(3)).to_have_text(re.compile(r"^\d+ B / \d+ B$"))
    expect(rows.nth(2).locator("td").nth(3)).to_have_text(re.compile(r"^\d+ B / \d+ B$"))

    drawn = canvas.evaluate(COUNT_COLOURED_PIXELS)
    assert all(count > 100 for count in drawn.values()), drawn

    page.select_option("#compare-chart", "histogram")
    assert all(count > 100 for count in canvas.evaluate(COUNT_COLOURED_PIXELS).values())

    with page.expect_download() as json_download:
        page.click("#compare-json")
    run = json.loads(Path(json_download.value.path()).read_text())
    assert [result["protocol"] for result in run["results"]] == ["ws", "sse", "http"]
    assert all(len(result["samplesMs"]) == 20 for result in run["results"])
    assert run["n"] == 20
    assert run["size"] == 32

    with page.expect_download() as csv_download:
        page.click("#compare-csv")
    table = _read_csv(csv_download.value.path())
    assert [row["protocol"] for row in table] == ["ws", "sse", "http"]
    assert all(float(row["median_ms"]) > 0 for row in table)

    with page.expect_download() as samples_download:
        page.click("#compare-csv-samples")
    samples = _read_csv(samples_download.value.path())
    assert len(samples) == 60


def test_compare_run_paces_itself_under_the_default_room_rate_limit(
    lab_on_default_server: LabPage,
) -> None:
    """With the server's own room_rate/room_burst, the SSE POSTs never get a 429 (which the
    browser would log as an error): the page keeps to the limit with a margin."""
    page = lab_on_default_server.open("#compare")
    page.fill("#compare-n", "100")
    page.fill("#compare-size", "16")
    page.click("#compare-run")
    expect(page.locator("#compare-status")).to_contain_text("Done", timeout=60_000)
    expect(page.locator("#compare-body tr").nth(1)).to_contain_text("waited")


def test_cancel_stops_the_run_and_opens_nothing_more(lab: LabPage) -> None:
    page = lab.open("#compare")
    page.fill("#compare-n", "2000")
    page.fill("#compare-size", "16")
    page.click("#compare-run")
    page.wait_for_function("document.querySelector('#progress-ws').value >= 20")
    page.click("#compare-cancel")

    expect(page.locator("#compare-status")).to_contain_text("Cancelled after")
    rows = page.locator("#compare-body tr")
    expect(rows.nth(0).locator(".error-note")).to_contain_text("stopped after")
    for index in (1, 2):
        expect(rows.nth(index).locator(".error-note")).to_have_text("not run: cancelled")
        expect(rows.nth(index).locator("td").last).to_have_text("none")


# A contender whose first connection breaks after 10 messages; the "server" is back after 1 s.
RUN_THROUGH_AN_OUTAGE = """async () => {
  const { runOne } = await import("/static/js/compare.js");
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const cost = { payload: 16, parts: [] };
  let opened = 0;
  const contender = {
    protocol: "ws", label: "fake", path: "/fake",
    open(onStatus) {
      opened += 1;
      const breaksAfter = opened === 1 ? 11 : Infinity; // the warm-up + 10 messages
      let sent = 0;
      setTimeout(() => onStatus({ state: "open", detail: "open" }), 0);
      return {
        async send() {
          sent += 1;
          await sleep(5);
          if (sent > breaksAfter) throw new Error("connection closed");
          return { rttMs: 5, out: cost, in: cost, waitedMs: 0 };
        },
        close() {},
      };
    },
  };
  const result = await runOne(contender, {
    n: 20, payload: "x".repeat(16), signal: new AbortController().signal, onProgress() {},
    waitForServer: async () => { await sleep(1000); return true; },
  });
  return { throughput: result.throughput, interruptions: result.interruptions.length };
}"""


def test_throughput_leaves_out_the_wait_for_the_server(lab: LabPage) -> None:
    """20 messages of about 5 ms each: about 200 msg/s, not 20 over the 1 s outage."""
    page = lab.open()
    result = page.evaluate(RUN_THROUGH_AN_OUTAGE)
    assert result["interruptions"] == 1
    assert result["throughput"] > 100, result


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as file:
        return list(csv.DictReader(file))
