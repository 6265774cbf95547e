"""Publish many room messages quickly, to see what a slow reader does to a server.

    python docs/labs/tools/flood.py ROOM [--url URL] [--count N] [--size CHARS]

Sends `--count` messages of `--size` characters with `POST /http/room/ROOM`, one after the
other on one kept-alive connection, and prints how many the server took and how long it took.
The server's rate limit stops a flood after `--room-burst` messages (429): start the server
with `--room-rate 0` for this tool, and with `--max-text` at least `--size`. Used by lab 05.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence

import aiohttp


async def flood(url: str, room: str, count: int, size: int) -> int:
    """POST `count` messages of `size` characters; 0 if all were accepted, 1 otherwise."""
    target = f"{url.rstrip('/')}/http/room/{room}"
    text = "x" * size
    started = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        for number in range(1, count + 1):
            async with session.post(target, json={"user": "flood", "text": text}) as response:
                if response.status != 201:
                    body = await response.text()
                    print(f"message {number}: {response.status} {body}", flush=True)
                    return 1
    elapsed = time.perf_counter() - started
    megabytes = count * size / 1e6
    print(f"published {count} messages of {size} characters ({megabytes:.1f} MB) to '{room}'")
    print(f"in {elapsed:.2f} s: {count / elapsed:.0f} messages/s")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options and run; 1 with a one-line message when the server cannot be reached."""
    parser = argparse.ArgumentParser(
        prog="python docs/labs/tools/flood.py",
        description="Publish many room messages as fast as the server takes them.",
    )
    parser.add_argument("room")
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="the server")
    parser.add_argument("--count", type=int, default=100, help="messages to publish")
    parser.add_argument("--size", type=int, default=1000, help="characters per message")
    args = parser.parse_args(argv)
    try:
        return asyncio.run(flood(args.url, args.room, args.count, args.size))
    except aiohttp.ClientError as exc:
        print(f"flood.py: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
