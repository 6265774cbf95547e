"""Follow one room over WebSocket, SSE and HTTP long-polling, spread over several servers.

    python docs/labs/tools/rooms_across.py [--url URL ...] [--room NAME] [--rate R] [--seconds S]

The WebSocket follower connects to the first --url, SSE to the second, long-polling to the
third (round the list again when there are fewer). Meanwhile a publisher POSTs --rate
messages per second for --seconds, message i to URL number i (round the list). Each follower
resumes from its cursor when its connection fails, on the next URL, as a real client would;
every notice it is given (broker, reset, gap) is printed when it comes.

At the end, one line per protocol: messages the publisher had acknowledged (201), how many of
them this follower received, lost (acknowledged, never received) and duplicated, and the
notices. Lab 10 runs it against two servers with rooms in memory (split brain), then with
Redis, then while restarting Redis or a server. Exits 0 when every follower received every
acknowledged message exactly once, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp

RETRY_S = 0.2  # a follower's pause before it reconnects (a client's back-off, not a sync)
SETTLE_S = 5.0  # how long followers may take to catch up after the last publish


@dataclass
class Follower:
    """What one protocol's client saw."""

    protocol: str
    received: list[str] = field(default_factory=list)
    notices: Counter[str] = field(default_factory=Counter)

    def notice(self, kind: str, detail: str) -> None:
        self.notices[kind] += 1
        print(f"  {self.protocol:>4} was told: {kind} {detail}", flush=True)


async def follow_ws(
    session: aiohttp.ClientSession, urls: list[str], room: str, me: Follower
) -> None:
    cursor = None
    for url in itertools.cycle(urls):
        query = f"?after={cursor}" if cursor else ""
        try:
            async with session.ws_connect(f"{url}/ws/room/{room}{query}") as ws:
                async for frame in ws:
                    item = json.loads(frame.data)
                    if "id" in item:
                        me.received.append(item["text"])
                        cursor = f"{item['epoch']}-{item['id']}"
                    else:
                        kind = next(iter(item))
                        me.notice(kind, json.dumps(item[kind]))
        except (aiohttp.ClientError, OSError, ValueError):
            pass
        await asyncio.sleep(RETRY_S)


async def follow_sse(
    session: aiohttp.ClientSession, urls: list[str], room: str, me: Follower
) -> None:
    last_id = ""
    for url in itertools.cycle(urls):
        headers = {"Last-Event-ID": last_id} if last_id else {}
        try:
            async with session.get(f"{url}/sse/room/{room}", headers=headers) as response:
                event, data = "message", ""
                async for raw in response.content:  # one line at a time
                    line = raw.decode().rstrip("\r\n")
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data = line[5:].strip()
                    elif line.startswith("id:"):
                        last_id = line[3:].strip()
                    elif not line and data:
                        if event == "message":
                            me.received.append(json.loads(data)["text"])
                        else:
                            me.notice(event, data)
                        event, data = "message", ""
        except (aiohttp.ClientError, OSError, ValueError):
            pass
        await asyncio.sleep(RETRY_S)


async def follow_http(
    session: aiohttp.ClientSession, urls: list[str], room: str, me: Follower
) -> None:
    cursor = None
    for url in itertools.cycle(urls):  # every poll to the next server: no sticky session
        # The first poll asks at once where the room is now; the next ones wait for news.
        query = f"since={cursor}&wait=2" if cursor else "since=0"
        try:
            async with session.get(f"{url}/http/room/{room}?{query}") as response:
                if response.status != 200:
                    me.notice(f"HTTP {response.status}", (await response.text())[:80])
                    await asyncio.sleep(RETRY_S)
                    continue
                if cursor is None:  # the first poll only finds where the room is now
                    cursor = response.headers["X-Room-Cursor"]
                    continue
                if response.headers.get("X-Room-Reset"):
                    me.notice(
                        "reset", f"X-Room-Reset (new cursor {response.headers['X-Room-Cursor']})"
                    )
                if lost := response.headers.get("X-Lost-Messages"):
                    me.notice("gap", f"X-Lost-Messages: {lost}")
                me.received += [message["text"] for message in await response.json()]
                cursor = response.headers["X-Room-Cursor"]
        except (aiohttp.ClientError, OSError, ValueError):
            await asyncio.sleep(RETRY_S)


async def publish(
    session: aiohttp.ClientSession, urls: list[str], room: str, rate: float, seconds: float
) -> list[str]:
    acknowledged = []
    loop = asyncio.get_running_loop()
    start = loop.time()
    for index in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, start + index / rate - loop.time()))  # the publishing pace
        url, text = urls[index % len(urls)], f"m{index}"
        try:
            async with session.post(
                f"{url}/http/room/{room}", json={"user": "lab", "text": text}
            ) as response:
                if response.status == 201:
                    acknowledged.append(text)
                elif index % int(rate) == 0:  # one line a second is enough to see it
                    print(
                        f"  POST {url}: {response.status} {(await response.text())[:90]}",
                        flush=True,
                    )
        except (aiohttp.ClientError, OSError) as exc:
            if index % int(rate) == 0:
                print(f"  POST {url}: {type(exc).__name__}", flush=True)
    return acknowledged


async def run(urls: list[str], room: str, rate: float, seconds: float) -> int:
    followers = [Follower("ws"), Follower("sse"), Follower("http")]
    async with aiohttp.ClientSession() as session:
        tasks = [
            asyncio.create_task(
                follow(session, urls[index % len(urls) :] + urls[: index % len(urls)], room, me)
            )
            for index, (follow, me) in enumerate(
                zip((follow_ws, follow_sse, follow_http), followers, strict=True)
            )
        ]
        await asyncio.sleep(1.0)  # let the followers connect before the first publish
        print(f"publishing {rate:g}/s for {seconds:g} s to {', '.join(urls)}", flush=True)
        acknowledged = await publish(session, urls, room, rate, seconds)
        wanted = set(acknowledged)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SETTLE_S
        # The followers offer no event to wait on; the deadline bounds the wait.
        while loop.time() < deadline and not all(wanted <= set(f.received) for f in followers):  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    ok = True
    row = "{:<8} {:>12} {:>8} {:>5} {:>10}  {}"
    print(row.format("protocol", "acknowledged", "received", "lost", "duplicated", "notices"))
    for me in followers:
        seen = Counter(me.received)
        lost = len(wanted - set(seen))
        duplicated = sum(count - 1 for count in seen.values() if count > 1)
        notices = ", ".join(f"{kind} {n}" for kind, n in sorted(me.notices.items())) or "none"
        got = len(wanted & set(seen))
        print(row.format(me.protocol, len(wanted), got, lost, duplicated, notices))
        ok = ok and lost == 0 and duplicated == 0
    return 0 if ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", action="append", help="a server (repeat it: one per process)")
    parser.add_argument("--room", default="lab10")
    parser.add_argument("--rate", type=float, default=10.0, help="messages published per second")
    parser.add_argument("--seconds", type=float, default=3.0, help="how long to publish")
    args = parser.parse_args(argv)
    urls = [url.rstrip("/") for url in args.url or ["http://127.0.0.1:8080"]]
    return asyncio.run(run(urls, args.room, args.rate, args.seconds))


if __name__ == "__main__":
    sys.exit(main())
