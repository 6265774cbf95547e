"""The documented screenshot command (docs/page.md) works and writes a small PNG."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser.conftest import CHROMIUM, ROOT

pytestmark = pytest.mark.browser

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.mark.usefixtures("browser")  # skips (or fails on CI) without Chromium
def test_screenshot_command_writes_a_png(tmp_path: Path) -> None:
    out = tmp_path / "page.png"
    command = [sys.executable, "scripts/screenshot.py", "--out", str(out), "--messages", "30"]
    done = subprocess.run(
        [*command, "--chromium", CHROMIUM], cwd=ROOT, capture_output=True, text=True, timeout=90
    )
    assert done.returncode == 0, done.stderr
    assert out.read_bytes().startswith(PNG_SIGNATURE)
    assert 10_000 < out.stat().st_size < 300_000
