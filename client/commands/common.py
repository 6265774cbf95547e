"""Pieces every command shares: the reconnector from the options, the stdin hint, summaries."""

from __future__ import annotations

import argparse
import sys

from client.backoff import Backoff
from client.output import Output
from client.reconnect import Reconnector
from client.stats import summarize

__all__ = ["latency_fields", "latency_text", "make_reconnector", "stdin_hint"]


def make_reconnector(args: argparse.Namespace, out: Output) -> Reconnector:
    """Backoff from `--backoff-base`, `--backoff-cap` and `--max-retries`, reporting to `out`."""
    backoff = Backoff(base_s=args.backoff_base, cap_s=args.backoff_cap)
    return Reconnector(backoff, out.state, max_attempts=args.max_retries)


def stdin_hint(out: Output, text: str) -> None:
    """Tell a person at a terminal what to type; silent when stdin is a pipe or a file."""
    if sys.stdin is not None and sys.stdin.isatty() and not out.json_mode:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()


def latency_fields(samples_ms: list[float]) -> dict[str, float]:
    """min/p50/p90/p99/max of `samples_ms` for JSON summaries (empty when no samples)."""
    if not samples_ms:
        return {}
    summary = summarize(samples_ms)
    return {
        "min_ms": round(summary.min_ms, 3),
        "p50_ms": round(summary.p50_ms, 3),
        "p90_ms": round(summary.p90_ms, 3),
        "p99_ms": round(summary.p99_ms, 3),
        "max_ms": round(summary.max_ms, 3),
    }


def latency_text(samples_ms: list[float], label: str = "round trip") -> str:
    """``round trip min 0.31 / p50 0.45 / max 2.10 ms`` (or "" when there are no samples)."""
    if not samples_ms:
        return ""
    summary = summarize(samples_ms)
    return (
        f"{label} min {summary.min_ms:.2f} / p50 {summary.p50_ms:.2f} / "
        f"max {summary.max_ms:.2f} ms"
    )
