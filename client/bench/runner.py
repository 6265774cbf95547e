"""`bench SCENARIO`: check the server, run the scenario, report the results."""

from __future__ import annotations

import argparse
import importlib
import resource
import sys

import aiohttp

from client import report
from client.bench.context import BenchContext
from client.bench.meta import collect_meta
from client.bench.results import BenchResult
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
    with BenchProgress(enabled=sys.stderr.isatty()) as progress:
        ctx = BenchContext(session=session, base=args.url, args=args, progress=progress)
        results: list[BenchResult] = await scenario.run(ctx)
    meta["warnings"] = ctx.warnings
    _report(args, out, results, meta)
    for warning in ctx.warnings:
        out.warn(warning)
    if not results:
        raise ClientError(f"bench {args.scenario}: no protocol could be measured")
    return 0


def _report(
    args: argparse.Namespace, out: Output, results: list[BenchResult], meta: dict[str, object]
) -> None:
    title = f"bench {args.scenario}: " + _describe(args)
    if out.json_mode:
        report.print_json(results, meta)
    elif results:
        report.print_table(results, title)
    if args.csv is not None:
        report.write_csv(args.csv, results, meta)
        sys.stderr.write(f"wrote {args.csv}\n")
    if args.plot is not None and results:
        machine = meta["machine"]
        assert isinstance(machine, dict)
        subtitle = (
            f"{machine.get('platform')}, {machine.get('cpus')} CPUs, "
            f"server {args.url}, {meta['started']}"
        )
        report.write_plot(args.plot, results, title, subtitle)
        sys.stderr.write(f"wrote {args.plot}\n")


def _describe(args: argparse.Namespace) -> str:
    parts = [f"n={args.count}", f"size={args.size} B"]
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
