"""`netem`: a shaping proxy in front of the server, so loopback behaves like a real network.

    python -m client netem --listen 127.0.0.1:8081 --to http://127.0.0.1:8080 --delay 50ms

Prints one banner line (where, to where, the conditions), then one line of counters per
connection as it ends, until Ctrl-C. `GET /_netem` on the proxy shows the conditions as
JSON; `POST /_netem` with ``{"preset": "mobile"}`` or ``{"spec": "delay=50ms"}`` changes them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import ipaddress
import signal
from collections.abc import Callable
from typing import Any

import aiohttp

from client.errors import ClientError
from client.netem.conditions import (
    PRESETS,
    Conditions,
    ConditionsError,
    parse_duration,
    parse_rate,
    parse_size,
    parse_spec,
)
from client.netem.proxy import LinkReport, NetemProxy
from client.output import Output

__all__ = ["add_parser", "conditions_from_args", "run"]

_HELP = (
    """\
A TCP proxy that shapes what it carries, in user space (no `tc netem` needed):
  --delay 50ms        one-way delay each direction (--delay-up / --delay-down to differ);
                      --jitter 10ms adds a random 0..10 ms per chunk, never reordering bytes
  --rate 1mbit        token-bucket rate per direction: a big message holds up small ones
  --idle-timeout 60s  cut a connection quiet in both directions that long (load balancers)
  --buffer 16KiB      hold server->client bytes until that many gathered or a response ends;
  --buffer-until-close  ... until each response ends (compressing / inspecting proxies)
  --strip-upgrade     remove Upgrade / Connection: upgrade from requests (old proxies)
  --preset NAME       start from a preset: """
    + ", ".join(f"{name} ({label})" for name, (_, label) in PRESETS.items())
    + """

Open the page through it (http://127.0.0.1:8081/) and everything the page does meets the
conditions. GET /_netem shows them; POST /_netem {"preset": "mobile"} switches them.
Exit status: 0 after Ctrl-C, 1 if it cannot listen, 2 bad options.
"""
)


def _checked(parse: Callable[[str], Any], name: str) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ConditionsError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = name
    return convert


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(
            f"expected HOST:PORT such as 127.0.0.1:8081, got {text!r}"
        )
    return host.strip("[]") or "127.0.0.1", int(port)


def add_conditions(parser: argparse.ArgumentParser) -> None:
    """The condition options, shared by `netem` and `doctor --netem`-style commands."""
    group = parser.add_argument_group("conditions (combine freely)")
    ms, s = (
        _checked(lambda t: parse_duration(t, "ms"), "duration"),
        _checked(lambda t: parse_duration(t, "s"), "duration"),
    )
    group.add_argument("--preset", choices=tuple(PRESETS), help="start from a preset")
    group.add_argument("--delay", type=ms, metavar="T", help="one-way delay each way, e.g. 50ms")
    group.add_argument("--delay-up", type=ms, metavar="T", help="delay client -> server")
    group.add_argument("--delay-down", type=ms, metavar="T", help="delay server -> client")
    group.add_argument("--jitter", type=ms, metavar="T", help="add a random 0..T to each delay")
    group.add_argument(
        "--rate", type=_checked(parse_rate, "rate"), metavar="R", help="per direction, e.g. 1mbit"
    )
    group.add_argument(
        "--idle-timeout", type=s, metavar="T", help="cut connections quiet this long, e.g. 60s"
    )
    buffering = group.add_mutually_exclusive_group()
    buffering.add_argument(
        "--buffer",
        type=_checked(parse_size, "size"),
        metavar="SIZE",
        help="hold server->client bytes until SIZE gathered or the response ends, e.g. 16KiB",
    )
    buffering.add_argument(
        "--buffer-until-close",
        action="store_true",
        help="hold server->client bytes until each response ends",
    )
    group.add_argument("--strip-upgrade", action="store_true", help="remove Upgrade from requests")


def conditions_from_args(args: argparse.Namespace) -> Conditions:
    """The preset (if any) with the options given on top of it."""
    changes: dict[str, Any] = {}
    if args.delay is not None:
        changes["delay_up_s"] = changes["delay_down_s"] = args.delay
    for name in ("delay_up", "delay_down", "jitter", "idle_timeout"):
        if getattr(args, name) is not None:
            changes[f"{name}_s"] = getattr(args, name)
    if args.rate is not None:
        changes["rate_bps"] = args.rate
    if args.buffer is not None:
        changes["buffer_bytes"] = args.buffer
    if args.buffer_until_close:
        changes["buffer_until_close"] = True
    if args.strip_upgrade:
        changes["strip_upgrade"] = True
    base = parse_spec(args.preset) if args.preset else Conditions()
    try:
        return dataclasses.replace(base, **changes)
    except ConditionsError as exc:
        raise ClientError(f"netem: {exc}") from None


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    """Register `netem` on the client's subcommands."""
    parser = commands.add_parser(
        "netem",
        parents=[common],
        help="a shaping proxy: delay, rate, idle timeout, buffering, stripped Upgrade",
        description=_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--listen",
        type=_address,
        default=("127.0.0.1", 8081),
        metavar="HOST:PORT",
        help="where to listen (default: 127.0.0.1:8081, loopback only; port 0: any free)",
    )
    parser.add_argument(
        "--to",
        type=parser_url,
        default=None,
        metavar="URL",
        help="the server to relay to (default: --url, i.e. http://127.0.0.1:8080)",
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=256,
        metavar="N",
        help="connections relayed at once; more get 503 (default: 256)",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed the jitter, to repeat a run")
    parser.add_argument(
        "--quiet", action="store_true", help="no line per connection, only the banner"
    )
    add_conditions(parser)


def parser_url(text: str) -> Any:
    """`--to`: the same rules as `--url`."""
    from client.urls import parse_base_url

    return parse_base_url(text)


async def run(args: argparse.Namespace, session: aiohttp.ClientSession, out: Output) -> int:
    """Relay until Ctrl-C; print the banner, then counters per connection."""
    conditions = conditions_from_args(args)
    target = args.to if args.to is not None else args.url
    host, port = args.listen
    if target.scheme != "http":
        raise ClientError(f"netem relays plain http:// servers (TLS ends at the server): {target}")
    totals = {"connections": 0, "up": 0, "down": 0}

    def closed(report: LinkReport) -> None:
        totals["connections"] += 1
        totals["up"] += report.up
        totals["down"] += report.down
        if not args.quiet:
            out.record("connection", report.line(), **report.to_json())

    proxy = NetemProxy(
        target,
        conditions,
        host=host,
        port=port,
        max_connections=max(1, args.max_connections),
        on_close=closed,
        seed=args.seed,
    )
    try:
        await proxy.start()
    except OSError as exc:
        raise ClientError(
            f"netem: cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from None
    if not _is_loopback(host):
        out.warn(f"netem listens on {host}, reachable from other machines")
    out.record("banner", proxy.banner(), url=str(proxy.url), conditions=conditions.to_json())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError):  # `kill` (SIGTERM) ends it like Ctrl-C
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await stop.wait()  # until SIGTERM, or Ctrl-C cancels us
    finally:
        with contextlib.suppress(NotImplementedError):
            loop.remove_signal_handler(signal.SIGTERM)
        await proxy.close()
        out.summary(
            [
                f"netem: {totals['connections']} connection(s), up {totals['up']:,} B, "
                f"down {totals['down']:,} B, refused {proxy.refused}"
            ],
            **totals,
            refused=proxy.refused,
        )
    return 0


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
