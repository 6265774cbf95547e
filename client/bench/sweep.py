"""`bench sweep`: the comparison over a grid of network conditions, drawn in one PNG.

For each one-way delay (and rate) of the grid, the shaping proxy is started in process and
`rtt` and `push` run through it with a few messages each; `overhead` runs once per message
size (bytes on the wire do not depend on the delay). The PNG has two panels:

* median latency per protocol against the round-trip time 2d, with the predictions drawn
  dotted and 100 ms marked: where polling stops feeling instant;
* bytes per message beyond the payload against message size: WebSocket's 2-14 byte frame
  headers against HTTP's few hundred bytes of headers per request.

Beside it: PREFIX.csv and PREFIX.json with every row. Time is bounded: a few messages per
point, tick spacing above the round trip (so long-polling keeps up), and a small grid.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from client.bench import overhead, push, rtt
from client.bench.context import BenchContext
from client.bench.netem import annotate_row, through_netem
from client.bench.results import BenchResult
from client.errors import ClientError
from client.netem.conditions import Conditions, format_rate, parse_rate, parse_spec
from client.report import protocol_color
from client.stats import summarize

__all__ = ["add_parser", "run"]

_RTT = ("ws", "http", "sse")
_PUSH = ("ws", "sse", "longpoll", "poll")
_OVERHEAD = ("ws", "http", "sse", "longpoll")
INTERACTIVE_MS = 100  # roughly where a reply stops feeling instant


def _list(convert: Any, what: str) -> Any:
    def parse(text: str) -> list[Any]:
        try:
            values = [convert(part.strip()) for part in text.split(",") if part.strip()]
        except (ValueError, ArithmeticError) as exc:
            raise argparse.ArgumentTypeError(f"bad {what} list {text!r}: {exc}") from None
        if not values or len(values) > 8:
            raise argparse.ArgumentTypeError(f"give 1 to 8 {what}s, comma-separated")
        return values

    parse.__name__ = f"{what} list"
    return parse


def _delay_ms(text: str) -> float:
    value = float(text.removesuffix("ms"))
    if not 0 <= value <= 1000:
        raise ValueError("delays are 0 to 1000 ms")
    return value


def _rate(text: str) -> float | None:
    return None if text in ("none", "0", "unlimited") else parse_rate(text)


def _size(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 1024 * 1024:
        raise ValueError("sizes are 1 B to 1 MiB")
    return value


def add_parser(scenarios: Any, common: argparse.ArgumentParser) -> None:
    """Register `bench sweep`."""
    parser = scenarios.add_parser(
        "sweep",
        parents=[common],
        help="rtt and push over a grid of delays and rates, overhead over sizes: one PNG",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--delays",
        type=_list(_delay_ms, "delay"),
        default=[0.0, 10.0, 50.0, 150.0],
        metavar="MS,...",
        help="one-way delays in ms (default: 0,10,50,150; 300 is a satellite)",
    )
    parser.add_argument(
        "--rates",
        type=_list(_rate, "rate"),
        default=[None],
        metavar="R,...",
        help="rates per direction, e.g. none,1mbit (default: none)",
    )
    parser.add_argument(
        "--sizes",
        type=_list(_size, "size"),
        default=[16, 256, 4096, 65536],
        metavar="B,...",
        help="message sizes for the bytes panel (default: 16,256,4096,65536)",
    )
    parser.add_argument(
        "-n", "--count", type=int, default=5, metavar="N", help="messages per point (default: 5)"
    )
    parser.add_argument(
        "--poll-interval",
        type=int,
        default=100,
        metavar="MS",
        help="how often the polling client asks (default: 100)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=Path("sweep"),
        metavar="PREFIX",
        help="writes PREFIX.png, PREFIX.csv and PREFIX.json (default: sweep)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="longest wait for any one message (default: 10)",
    )
    parser.set_defaults(size=32, csv=None, plot=None, netem=None, clients=[1], room=None)


async def run(ctx: BenchContext) -> list[BenchResult]:
    """Every point of the grid, then the overhead per size; writes the PNG, CSV and JSON."""
    args = ctx.args
    if args.count < 1 or args.count > 100:
        raise ClientError("sweep: -n must be 1 to 100 (each point runs every protocol)")
    for rate in args.rates:
        for delay_ms in args.delays:
            conditions = Conditions(
                delay_up_s=delay_ms / 1000, delay_down_s=delay_ms / 1000, rate_bps=rate
            )
            await _point(ctx, conditions)
    for size in args.sizes:
        sub = _context(ctx, count=args.count, size=size, protocols=list(_OVERHEAD))
        for row in await overhead.run(sub):
            row.conditions = "loopback"
            ctx.results.append(row)
    _write(args.output, ctx.results, args)
    return ctx.results


async def _point(ctx: BenchContext, conditions: Conditions) -> None:
    """rtt and push through the proxy under `conditions`; rows go to `ctx.results`."""
    args = ctx.args
    d_ms = conditions.delay_s * 1000
    # Ticks further apart than a round trip, so a long-poll is back in time for the next,
    # and than the polling interval, so polling shows its P/2 wait rather than losses.
    # Not a multiple of the polling interval either: the polls' phase then drifts from tick
    # to tick instead of giving every tick the same wait.
    tick_ms = max(2 * args.poll_interval, 4 * d_ms, 100.0) * 1.13
    async with through_netem(ctx.base, conditions) as base:
        jobs = [
            (rtt, {"protocols": list(_RTT), "size": 32}),
            (push, {"protocols": list(_PUSH), "size": 32, "rate": 1000 / tick_ms}),
        ]
        for module, options in jobs:
            sub = _context(ctx, count=args.count, base=base, **options)
            for row in await module.run(sub):
                if (warning := annotate_row(row, conditions, sub.args)) is not None:
                    ctx.warn(warning)
                ctx.results.append(row)
            ctx.warnings.extend(w for w in sub.warnings if w not in ctx.warnings)


def _context(ctx: BenchContext, **options: Any) -> BenchContext:
    base = options.pop("base", ctx.base)
    args = argparse.Namespace(**{**vars(ctx.args), "clients": [1], "room": None, **options})
    return BenchContext(session=ctx.session, base=base, args=args, progress=ctx.progress)


def _write(prefix: Path, results: list[BenchResult], args: argparse.Namespace) -> None:
    rows = [result.row() for result in results]
    try:
        prefix.with_suffix(".json").write_text(
            "\n".join(json.dumps(row) for row in rows) + "\n", encoding="utf-8"
        )
        from client import report

        report.write_csv(prefix.with_suffix(".csv"), results, {"sweep": vars_json(args)})
    except OSError as exc:
        raise ClientError(f"cannot write {prefix}.*: {exc}") from None
    _plot(prefix.with_suffix(".png"), results, args)


def vars_json(args: argparse.Namespace) -> dict[str, Any]:
    """The sweep's grid, for the CSV's meta line."""
    return {
        "delays_ms": args.delays,
        "rates_bps": args.rates,
        "sizes": args.sizes,
        "count": args.count,
        "poll_interval_ms": args.poll_interval,
    }


def _plot(path: Path, results: list[BenchResult], args: argparse.Namespace) -> None:
    from client.report import pyplot

    plt = pyplot()
    figure, (latency, wire) = plt.subplots(1, 2, figsize=(13, 5.2))
    _latency_panel(latency, results, args)
    _bytes_panel(wire, results)
    figure.suptitle(
        f"bench sweep: {args.count} messages per point, polling every {args.poll_interval} ms; "
        "through the netem proxy on this machine",
        fontsize=10,
    )
    figure.tight_layout()
    try:
        figure.savefig(path, dpi=110)
    except OSError as exc:
        raise ClientError(f"cannot write {path}: {exc}") from None
    finally:
        plt.close(figure)


def _latency_panel(axis: Any, results: list[BenchResult], args: argparse.Namespace) -> None:
    rates = list(dict.fromkeys(args.rates))
    styles = ["-", "--", ":", "-."]
    for scenario, marker in (("rtt", "o"), ("push", "s")):
        protocols = _RTT if scenario == "rtt" else _PUSH
        for protocol in protocols:
            for index, rate in enumerate(rates):
                points = sorted(
                    (2 * _delay_of(row) * 1000, summarize(row.samples_ms).p50_ms)
                    for row in results
                    if row.scenario == scenario
                    and row.protocol == protocol
                    and row.samples_ms
                    and _rate_of(row) == rate
                )
                if not points:
                    continue
                rate_text = f", {format_rate(rate)}" if rate else ""
                axis.plot(
                    *zip(*points, strict=True),
                    marker=marker,
                    linestyle=styles[index % len(styles)],
                    color=protocol_color(protocol),
                    label=f"{scenario} {protocol}{rate_text}",
                )
    top = 2 * max(args.delays)
    axis.plot([0, top], [0, top], ":", color="grey", label="prediction 2d (round trip)")
    axis.plot([0, top], [0, top / 2], ":", color="silver", label="prediction d (push)")
    axis.axhline(INTERACTIVE_MS, color="black", linewidth=0.6)
    axis.text(
        0, INTERACTIVE_MS, f" {INTERACTIVE_MS} ms: no longer instant", va="bottom", fontsize=8
    )
    axis.set_xlabel("round-trip time 2d through the proxy (ms)")
    axis.set_ylabel("median latency (ms): rtt = round trip, push = delivery delay")
    axis.set_title("latency against round-trip time")
    axis.legend(fontsize=7, ncol=2)
    axis.grid(alpha=0.3)


def _bytes_panel(axis: Any, results: list[BenchResult]) -> None:
    for protocol in _OVERHEAD:
        points = sorted(
            (row.size, overhead)
            for row in results
            if row.scenario == "overhead"
            and row.protocol == protocol
            and (overhead := _overhead_bytes(row)) is not None
        )
        if points:
            axis.plot(
                *zip(*points, strict=True), "o-", color=protocol_color(protocol), label=protocol
            )
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("message size (bytes of payload)")
    axis.set_ylabel("bytes per message beyond the payload, both directions")
    axis.set_title("protocol overhead against message size (counting relay)")
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3, which="both")


def _overhead_bytes(row: BenchResult) -> float | None:
    """Wire bytes per message minus the payload each time it crossed (echoes cross twice)."""
    up, down = row.metrics.get("up_bytes_per_msg"), row.metrics.get("down_bytes_per_msg")
    payload = row.metrics.get("payload_bytes")
    if up is None or down is None or payload is None:
        return None
    crossings = 2 if row.protocol in ("ws", "http") else 1
    return max(1.0, float(up) + float(down) - crossings * float(payload))


def _delay_of(row: BenchResult) -> float:
    return _conditions_of(row).delay_s


def _rate_of(row: BenchResult) -> float | None:
    return _conditions_of(row).rate_bps


def _conditions_of(row: BenchResult) -> Conditions:
    return parse_spec(row.conditions or "none")
