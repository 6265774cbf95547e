"""Measure a server's pulse: send a WebSocket ping every interval and print when the pong comes.

    python docs/labs/tools/pulse.py [--url URL] [--every S] [--count N] [--timeout S]

A pong is answered by the server's event loop, so its delay shows how quickly that loop
serves *anyone*: a few tenths of a millisecond when it is idle, seconds when something blocks
it. A pong later than --timeout is reported as a missed heartbeat: a client that used pings to
check on the server would give up at that moment. Lab 06 uses it to watch a blocked event
loop; lab 04 freezes it with `kill -STOP` to watch the server's own heartbeat give up on it.
Exits 0 after --count pings (0 = until Ctrl-C), 1 if the connection is lost.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence

import aiohttp


async def pulse(url: str, every: float, count: int, missed_after: float) -> int:
    """Ping `count` times (0 = forever), `every` seconds apart, printing each pong delay."""
    target = url.rstrip("/").replace("http", "ws", 1) + "/ws/echo"
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(target, autoping=False) as ws,
    ):
        print(f"connected to {target}", flush=True)
        sent = 0
        while count == 0 or sent < count:
            sent += 1
            started = time.perf_counter()
            await ws.ping(str(sent).encode())
            missed = False
            while True:
                try:
                    msg = await ws.receive(timeout=None if missed else missed_after)
                except TimeoutError:
                    # Go on waiting: how late the pong finally is, is the measurement.
                    missed = True
                    print(
                        f"ping {sent}: no pong after {missed_after:.1f} s: heartbeat missed",
                        flush=True,
                    )
                    continue
                if msg.type is aiohttp.WSMsgType.PONG:
                    break
                if not await answered(ws, msg):
                    return lost(ws)
            delay_ms = (time.perf_counter() - started) * 1000
            print(f"ping {sent}: pong after {delay_ms:.1f} ms", flush=True)
            if not await idle(ws, every - delay_ms / 1000):
                return lost(ws)
    return 0


async def answered(ws: aiohttp.ClientWebSocketResponse, msg: aiohttp.WSMessage) -> bool:
    """Answer the server's heartbeat ping; False if `msg` says the connection is gone."""
    if msg.type is aiohttp.WSMsgType.PING:
        await ws.pong(msg.data)
        return True
    return msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY)


async def idle(ws: aiohttp.ClientWebSocketResponse, seconds: float) -> bool:
    """Wait `seconds` while still reading, so a closed connection is noticed at once."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (remaining := deadline - loop.time()) > 0:
        try:
            msg = await ws.receive(timeout=remaining)
        except TimeoutError:
            return True
        if msg.type is not aiohttp.WSMsgType.PONG and not await answered(ws, msg):
            return False
    return True


def lost(ws: aiohttp.ClientWebSocketResponse) -> int:
    """Report the lost connection; 1 is the exit status."""
    code = ws.close_code if ws.close_code is not None else 1006
    print(f"connection lost (close code {code})", flush=True)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options and run; 1 with a one-line message when the server cannot be reached."""
    parser = argparse.ArgumentParser(
        prog="python docs/labs/tools/pulse.py",
        description="Ping the server over a WebSocket and print each pong's delay.",
    )
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="the server")
    parser.add_argument("--every", type=float, default=0.5, help="seconds between pings")
    parser.add_argument("--count", type=int, default=0, help="pings to send; 0 = forever")
    parser.add_argument(
        "--timeout", type=float, default=2.0, help="seconds after which a pong counts as missed"
    )
    args = parser.parse_args(argv)
    try:
        return asyncio.run(pulse(args.url, args.every, args.count, args.timeout))
    except aiohttp.ClientError as exc:
        print(f"pulse.py: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
