"""Regenerate docs/img/page.png: the comparison page after a compare run, at 1280x800.

    .venv/bin/python scripts/screenshot.py            # docs/img/page.png
    .venv/bin/python scripts/screenshot.py --narrow   # also docs/img/page-narrow.png (390x844)

Starts `python -m server --port 0` in a subprocess, opens the page in headless Debian
Chromium (Playwright, `--chromium` to use another binary), runs a compare run and saves the
viewport. The server gets a larger room burst so the SSE leg of the run is not paced by the
room rate limit, which would only make the run slower, not the picture different.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SERVER_ARGS = ["--room-burst", "1000", "--log-level", "warning"]


@contextmanager
def running_server() -> Iterator[str]:
    """`python -m server --port 0` for the duration of the block; yields its base URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "server", "--port", "0", *SERVER_ARGS],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"serving on (http://\S+)", line)
        if not match:
            raise RuntimeError(f"the server did not start: {line!r}")
        yield match.group(1)
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def take(url: str, out: Path, narrow: Path | None, messages: int, chromium: str) -> None:
    """Open the page, run a comparison and save the screenshot(s)."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"{url}/#compare")
        page.wait_for_selector("html[data-ready='true']", state="attached")
        page.fill("#compare-n", str(messages))
        page.fill("#compare-size", "64")
        page.click("#compare-run")
        expect(page.locator("#compare-status")).to_contain_text("Done", timeout=120_000)
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=out)
        print(f"wrote {_shown(out)} ({out.stat().st_size // 1024} KiB)")

        if narrow is not None:
            # The side-by-side panels after one message each, on a phone-sized screen.
            phone = browser.new_page(viewport={"width": 390, "height": 844})
            phone.goto(url)
            phone.wait_for_selector("html[data-ready='true']", state="attached")
            expect(phone.locator("#ws-state")).to_have_text("open")
            phone.press("#ws-input", "Enter")
            expect(phone.locator("#ws-log li.dir-in")).to_have_count(1)
            phone.screenshot(path=narrow)
            print(f"wrote {_shown(narrow)} ({narrow.stat().st_size // 1024} KiB)")
        browser.close()


def _shown(path: Path) -> str:
    """The path relative to the repository when it is inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options, take the screenshot(s); returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs/img/page.png")
    parser.add_argument("--narrow", action="store_true", help="also docs/img/page-narrow.png")
    parser.add_argument("--messages", type=int, default=200, help="N of the compare run")
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="Chromium binary")
    args = parser.parse_args(argv)
    narrow = args.out.with_name(f"{args.out.stem}-narrow.png") if args.narrow else None
    with running_server() as url:
        take(url, args.out.resolve(), narrow and narrow.resolve(), args.messages, args.chromium)
    return 0


if __name__ == "__main__":
    sys.exit(main())
