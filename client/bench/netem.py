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

__all__ = ["add_netem_option", "annotate", "through_netem"]


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
    """Give each row its conditions (and, under --netem, the predicted median and the
    excess of the measured one); returns warnings for medians that disagree with physics."""
    conditions: Conditions | None = getattr(args, "netem", None)
    warnings: list[str] = []
    if conditions is None:
        return warnings  # the network is whatever lies between client and server
    for row in results:
        row.conditions = conditions.spec()
        if not row.samples_ms:
            continue
        prediction = predict(
            row.scenario,
            row.protocol,
            conditions,
            size=row.size,
            poll_interval_ms=getattr(args, "poll_interval", 0),
        )
        if prediction is None:
            continue
        p50 = summarize(row.samples_ms).p50_ms
        row.metrics["predicted_ms"] = prediction.ms
        row.metrics["excess_ms"] = p50 - prediction.ms
        if p50 < 0.95 * prediction.ms - 1:
            warnings.append(
                f"{row.label}: median {p50:.1f} ms is below the {prediction.formula} = "
                f"{prediction.ms:.1f} ms the round trips allow: is the proxy in the path?"
            )
        elif p50 - prediction.ms > max(20.0, 0.5 * prediction.ms):
            warnings.append(
                f"{row.label}: median {p50:.1f} ms is {p50 - prediction.ms:.0f} ms above "
                f"{prediction.formula} = {prediction.ms:.1f} ms: extra round trips, queueing "
                "behind the rate, or a loaded machine"
            )
    return warnings
