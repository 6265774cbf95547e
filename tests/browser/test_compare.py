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
    status = page.locator("#compare-status")
    expect(status).to_contain_text("Done", timeout=60_000)
    # The wait is said apart, labelled, in the SSE row and in the run's total.
    rows = page.locator("#compare-body tr")
    expect(rows.nth(1).locator(".rate-limit-wait")).to_have_text(
        re.compile(r"^waited for the room rate limit: \d+\.\d s \(in no figure\)$")
    )
    for index in (0, 2):  # WebSocket and HTTP are not rate limited
        expect(rows.nth(index).locator(".rate-limit-wait")).to_have_count(0)
    expect(status).to_contain_text(re.compile(r"Waited for the room rate limit: \d+\.\d s more"))
    with page.expect_download() as json_download:
        page.click("#compare-json")
    results = json.loads(Path(json_download.value.path()).read_text())["results"]
    waited = {result["protocol"]: result["waitedMs"] for result in results}
    assert waited["sse"] > 0
    assert waited["ws"] == waited["http"] == 0
    for result in results:  # messages / timed time, the waits left out of the denominator
        assert result["throughput"] == pytest.approx(100 / result["timedMs"] * 1000)
    with page.expect_download() as csv_download:
        page.click("#compare-csv")
    table = {row["protocol"]: row for row in _read_csv(Path(csv_download.value.path()))}
    assert float(table["sse"]["rate_limit_wait_s"]) == pytest.approx(
        waited["sse"] / 1000, abs=1e-3
    )


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


# runOne on a fake contender and a fake clock: performance.now() moves only when the fake
# transport says time passes, so the figures are exact on a loaded machine and a test can pin
# their definitions. Every message waits `limiterWaitMs` for the rate limiter (as a paced room
# POST does), then takes 5 ms; with `outageMs`, the first connection breaks after 10 messages
# and the server is back `outageMs` later.
RUN_ON_A_FAKE_CLOCK = """async ({ limiterWaitMs, outageMs }) => {
  const { runOne } = await import("/static/js/compare.js");
  let clock = 0;
  const realNow = performance.now;
  performance.now = () => clock;
  const cost = { payload: 16, parts: [] };
  let opened = 0;
  const contender = {
    protocol: "sse", label: "fake", path: "/fake",
    open(onStatus) {
      opened += 1;
      const breaksAfter = outageMs && opened === 1 ? 11 : Infinity; // the warm-up + 10
      let sent = 0;
      setTimeout(() => onStatus({ state: "open", detail: "open" }), 0);
      return {
        async send() {
          sent += 1;
          await Promise.resolve();
          if (sent > breaksAfter) throw new Error("connection closed");
          clock += limiterWaitMs + 5;
          return { rttMs: 5, out: cost, in: cost, waitedMs: limiterWaitMs };
        },
        close() {},
      };
    },
  };
  try {
    const result = await runOne(contender, {
      n: 20, payload: "x".repeat(16), signal: new AbortController().signal, onProgress() {},
      waitForServer: async () => { clock += outageMs; return true; },
    });
    const { throughput, timedMs, waitedMs, interruptions } = result;
    return { throughput, timedMs, waitedMs, interruptions: interruptions.length };
  } finally {
    performance.now = realNow;
  }
}"""


def test_throughput_leaves_out_the_wait_for_the_server(lab: LabPage) -> None:
    """20 messages of 5 ms around a 1 s outage: 100 ms timed, 200 msg/s (not 20 / 1.1 s)."""
    page = lab.open()
    result = page.evaluate(RUN_ON_A_FAKE_CLOCK, {"limiterWaitMs": 0, "outageMs": 1000})
    assert result == {"throughput": 200, "timedMs": 100, "waitedMs": 0, "interruptions": 1}


def test_the_rate_limit_wait_is_reported_and_in_no_timed_figure(lab: LabPage) -> None:
    """20 messages of 5 ms, each after 100 ms of pacing under the room rate limit (the warm-up
    too): the wait is reported whole (21 x 100 ms) and the throughput divides by 100 ms, not
    by 2.1 s."""
    page = lab.open()
    result = page.evaluate(RUN_ON_A_FAKE_CLOCK, {"limiterWaitMs": 100, "outageMs": 0})
    assert result == {"throughput": 200, "timedMs": 100, "waitedMs": 2100, "interruptions": 0}


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as file:
        return list(csv.DictReader(file))
