"""`bench ... --netem SPEC`: run a scenario through the shaping proxy, started in process,
and set each row's conditions, prediction and excess over the prediction."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator

from yarl import URL

from client.bench.results import BenchResult
from client.errors import ClientError
from client.netem.conditions import Conditions, ConditionsError, parse_spec
from client.netem.predict import predict
from client.netem.proxy import NetemProxy
from client.stats import summarize

__all__ = ["add_netem_option", "annotate", "annotate_row", "through_netem"]


def _spec(text: str) -> Conditions:
    try:
        return parse_spec(text)
    except ConditionsError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


_spec.__name__ = "conditions"


def add_netem_option(parser: argparse.ArgumentParser) -> None:
    """`--netem "delay=50ms,rate=1mbit"` on a bench scenario."""
    parser.add_argument(
        "--netem",
        type=_spec,
        default=None,
        metavar="SPEC",
        help="run through the shaping proxy with these conditions, e.g. "
        '"delay=50ms,rate=1mbit" or a preset (lan, broadband, mobile, satellite); '
        "rows then show the median the protocol's round trips predict",
    )


@contextlib.asynccontextmanager
async def through_netem(base: URL, conditions: Conditions | None) -> AsyncIterator[URL]:
    """The URL to measure: `base` itself, or a proxy in front of it under `conditions`."""
    if conditions is None:
        yield base
        return
    if base.scheme != "http":
        raise ClientError("--netem shapes plain http:// servers (it cannot see into TLS)")
    async with NetemProxy(base.with_path("/"), conditions) as proxy:
        yield proxy.url.with_path(base.path)


def annotate(results: list[BenchResult], args: argparse.Namespace) -> list[str]:
    """Under --netem, give each row its conditions, the predicted median and the excess of
    the measured one; returns warnings for medians that disagree with the physics."""
    conditions: Conditions | None = getattr(args, "netem", None)
    if conditions is None:
        return []  # the network is whatever lies between client and server
    found = (annotate_row(row, conditions, args) for row in results)
    return [warning for warning in found if warning is not None]


def annotate_row(row: BenchResult, conditions: Conditions, args: argparse.Namespace) -> str | None:
    """Set the row's conditions, prediction and excess; a warning if physics disagrees.

    `args` gives the polling interval (--poll-interval) and the tick spacing (--rate)."""
    row.conditions = conditions.spec()
    if not row.samples_ms:
        return None
    rate = getattr(args, "rate", None)
    prediction = predict(
        row.scenario,
        row.protocol,
        conditions,
        size=row.size,
        poll_interval_ms=getattr(args, "poll_interval", 0),
        tick_interval_ms=1000 / rate if rate else float("inf"),
    )
    if prediction is None:
        return None
    p50 = summarize(row.samples_ms).p50_ms
    row.metrics["predicted_ms"] = prediction.ms
    row.metrics["excess_ms"] = p50 - prediction.ms
    where = f"{row.label} ({row.conditions})"
    if p50 < 0.95 * prediction.floor_ms - 1:
        return (
            f"{where}: median {p50:.1f} ms is below the {prediction.floor_ms:.1f} ms that "
            "the delay allows: is the proxy in the path?"
        )
    # Polling waits a uniform share of the interval: a few samples scatter widely.
    tolerance = prediction.ms if row.protocol == "poll" else max(20.0, 0.5 * prediction.ms)
    if p50 - prediction.ms > tolerance:
        return (
            f"{where}: median {p50:.1f} ms is {p50 - prediction.ms:.0f} ms above "
            f"{prediction.formula} = {prediction.ms:.1f} ms: "
            + (
                "the buffering proxy held the stream"
                if conditions.buffering and row.protocol == "sse"
                else "extra round trips, queueing behind the rate, or a loaded machine"
            )
        )
    return None
