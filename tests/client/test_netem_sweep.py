"""`bench sweep`: a tiny grid through the shaping proxy writes the PNG, CSV and JSON, and
the delayed points are never faster than their round trips allow."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.client.conftest import CliRunner


@pytest.mark.slow
async def test_tiny_sweep_writes_png_csv_json(cli: CliRunner, url: str, tmp_path: Path) -> None:
    prefix = tmp_path / "grid"
    run = await cli(
        "bench", "sweep", "--delays", "0,20", "-n", "2", "--sizes", "16,1024",
        "--output", str(prefix), "--json", "--url", url,
    )  # fmt: skip
    assert run.code == 0, run.err
    assert prefix.with_suffix(".png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert prefix.with_suffix(".csv").read_text().startswith("# meta:")
    rows = [json.loads(line) for line in prefix.with_suffix(".json").read_text().splitlines()]
    conditions = {(row["scenario"], row["conditions"]) for row in rows}
    assert {("rtt", "none"), ("rtt", "delay=20ms"), ("push", "delay=20ms")} <= conditions
    assert {row["size"] for row in rows if row["scenario"] == "overhead"} == {16, 1024}
    for row in rows:
        if row["conditions"] == "delay=20ms":
            floor = 40 if row["scenario"] == "rtt" else 20
            assert row["min_ms"] >= floor, row
            assert "predicted_ms" in row
