"""Open many idle connections at once and measure what they cost the server in memory.

    python docs/labs/tools/hold.py ws|sse [--url URL] [--clients N] [--hold S] [--pid PID]

Opens `--clients` WebSockets to /ws/echo, or event streams to /sse/stream, keeps them open
for `--hold` seconds and closes them. It reads the server's resident memory (RSS) from /proc
before and while they are open and prints the cost per connection. The server's process is
found by the port it listens on (Linux only), or given with `--pid`. Used by lab 06. Loopback
only: every connection is a socket on both ends.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

TCP_LISTEN = "0A"  # the state column of /proc/net/tcp for a listening socket


def rss_kib(pid: int) -> int:
    """Resident memory of process `pid` in KiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def listening_pid(port: int) -> int | None:
    """The process that listens on TCP `port` on this machine, if /proc can tell."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == TCP_LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{fields[9]}]")
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            if any(str(fd.readlink()) in inodes for fd in fd_dir.iterdir()):
                return int(fd_dir.parent.name)
        except OSError:  # a process that ended, or one we may not inspect
            continue
    return None


class Refused(Exception):
    """The server turned the connection away (a limit); the message says how."""


async def open_one(session: aiohttp.ClientSession, protocol: str, base: str) -> object:
    """One open connection: a WebSocket, or an SSE response whose first line has arrived.

    Raises `Refused` when the server says no: SSE gets an HTTP error status; a WebSocket is
    upgraded and then closed at once (1013), so it is given a moment to say so.
    """
    if protocol == "ws":
        ws = await session.ws_connect(base.replace("http", "ws", 1) + "/ws/echo")
        try:
            await ws.receive(timeout=0.5)
        except TimeoutError:
            return ws  # nothing to say: admitted
        raise Refused(f"closed with {ws.close_code}")
    response = await session.get(base + "/sse/stream?interval=60000")
    if response.status != 200:
        body = await response.text()
        raise Refused(f"{response.status} {body}")
    await response.content.readline()  # the retry: line: the stream is open
    return response


async def hold(protocol: str, base: str, clients: int, pid: int | None, seconds: float) -> int:
    """Open `clients` connections, report memory, hold them, close them.

    Returns 0 when every connection was either opened or refused by the server, 1 if some
    failed otherwise (the server is not running, the client ran out of file descriptors).
    """
    before = rss_kib(pid) if pid else None
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        opened = await asyncio.gather(
            *(open_one(session, protocol, base) for _ in range(clients)), return_exceptions=True
        )
        refused = [item for item in opened if isinstance(item, Refused)]
        failed = [item for item in opened if isinstance(item, BaseException)]
        admitted = clients - len(failed)
        print(f"{protocol}: {admitted} of {clients} connections open", flush=True)
        if refused:
            print(f"refused by the server: {len(refused)} ({refused[0]})", flush=True)
        if len(failed) > len(refused):
            other = next(item for item in failed if not isinstance(item, Refused))
            print(f"failed: {len(failed) - len(refused)} ({other!r})", flush=True)
        if pid and before is not None:
            await asyncio.sleep(0.5)  # let the server settle its buffers
            during = rss_kib(pid)
            per = (during - before) / max(1, admitted)
            print(f"server memory: {before} KiB before, {during} KiB with them open")
            print(f"about {per:.1f} KiB per {protocol} connection")
        await asyncio.sleep(seconds)
        for item in opened:
            if isinstance(item, aiohttp.ClientWebSocketResponse):
                await item.close()
            elif isinstance(item, aiohttp.ClientResponse):
                item.close()
    return 1 if len(failed) > len(refused) else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options and run."""
    parser = argparse.ArgumentParser(
        prog="python docs/labs/tools/hold.py",
        description="Hold many idle connections open and measure their memory on the server.",
    )
    parser.add_argument("protocol", choices=["ws", "sse"])
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="the server")
    parser.add_argument("--clients", type=int, default=100, help="connections to open")
    parser.add_argument("--pid", type=int, help="the server's process id (default: found)")
    parser.add_argument("--hold", type=float, default=1.0, help="seconds to keep them open")
    args = parser.parse_args(argv)
    pid = args.pid or listening_pid(urlsplit(args.url).port or 80)
    if pid is None:
        print("hold.py: cannot find the server's process; memory is not measured")
    return asyncio.run(hold(args.protocol, args.url.rstrip("/"), args.clients, pid, args.hold))


if __name__ == "__main__":
    sys.exit(main())
