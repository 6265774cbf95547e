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


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as file:
        return list(csv.DictReader(file))
