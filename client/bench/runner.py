"""`bench SCENARIO`: check the server, run the scenario, report the results."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import resource
import sys

import aiohttp

from client import report
from client.bench.context import BenchContext
from client.bench.meta import collect_meta
from client.bench.netem import annotate, through_netem
from client.bench.results import BenchResult, add_baseline_ratios
from client.errors import ClientError
from client.output import Output
from client.progress import BenchProgress

__all__ = ["run"]


async def run(args: argparse.Namespace, session: aiohttp.ClientSession, out: Output) -> int:
    """Run one scenario and print/write its results; 1 if no protocol produced a row."""
    _raise_open_file_limit()
    meta = await collect_meta(session, args.url, args)
    scenario = importlib.import_module(f"client.bench.{args.scenario}")
    # A progress bar only for a person watching; rich would print a blank line to a pipe.
    progress = BenchProgress(enabled=sys.stderr.isatty())
    conditions = getattr(args, "netem", None)
    if conditions is not None:
        meta["netem"] = conditions.to_json()
    ctx = BenchContext(session=session, base=args.url, args=args, progress=progress)
    try:
        async with through_netem(args.url, conditions) as ctx.base:
            with progress:
                results: list[BenchResult] = await scenario.run(ctx)
    except asyncio.CancelledError:  # Ctrl-C: show what was measured, then stop
        ctx.warn(f"interrupted: {len(ctx.results)} row(s) were measured before Ctrl-C")
        _finish(args, out, ctx.results, meta, ctx.warnings, files=False)
        raise
    _finish(args, out, results, meta, ctx.warnings, files=True)
    if not results:
        raise ClientError(f"bench {args.scenario}: no protocol could be measured")
    return 0


def _finish(
    args: argparse.Namespace,
    out: Output,
    results: list[BenchResult],
    meta: dict[str, object],
    warnings: list[str],
    *,
    files: bool,
) -> None:
    if args.scenario != "sweep":  # a sweep's rows ran under different conditions
        add_baseline_ratios(results)
    warnings.extend(annotate(results, args))
    meta["warnings"] = warnings
    _report(args, out, results, meta, files=files)
    for warning in warnings:
        out.warn(warning)


def _report(
    args: argparse.Namespace,
    out: Output,
    results: list[BenchResult],
    meta: dict[str, object],
    *,
    files: bool,
) -> None:
    title = f"bench {args.scenario}: " + _describe(args)
    if out.json_mode:
        report.print_json(results, meta)
    elif results:
        report.print_table(results, title, report.caption_of(meta))
    if not files:  # an interrupted run prints what it has but writes no partial files
        return
    if args.csv is not None:
        report.write_csv(args.csv, results, meta)
        sys.stderr.write(f"wrote {args.csv}\n")
    if args.plot is not None and results:
        report.write_plot(args.plot, results, title, report.caption_of(meta))
        sys.stderr.write(f"wrote {args.plot}\n")


def _describe(args: argparse.Namespace) -> str:
    parts = [f"n={args.count}", f"size={args.size} B"]
    if getattr(args, "netem", None) is not None:
        parts.insert(0, f"through netem {args.netem.spec()}")
    if getattr(args, "rate", None):
        parts.append(f"rate={args.rate:g}/s")
    if args.scenario in ("push", "fanout"):
        parts.append(f"poll every {args.poll_interval} ms")
    if args.scenario == "reconnect":
        parts.append(f"{args.cuts} cut(s), outage {args.outage} ms")
    return ", ".join(parts)


def _raise_open_file_limit() -> None:
    # `fanout` opens a socket per client; the soft limit (often 1024) is raised to the hard
    # limit so --clients 1000 fails for a better reason than "too many open files".
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        pass
