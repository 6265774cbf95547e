"""`python -m benchmarks` (what `make bench` runs): every scenario, then the report.

python -m benchmarks                       full run, writes docs/performance.md
python -m benchmarks --smoke --out DIR     seconds: the same pipeline, tiny
python -m benchmarks --only throughput     some scenarios only
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import procfs, report
from benchmarks.harness import FULL, SMOKE, Context, Section, machine, scratch_dir
from benchmarks.scenarios import SCENARIOS
from benchmarks.servers import ALL, ROOT


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--smoke", action="store_true", help="tiny run: checks the pipeline")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "docs", help="folder for performance.md (docs/)"
    )
    parser.add_argument(
        "--only", nargs="+", choices=sorted(SCENARIOS), help="run these scenarios only"
    )
    parser.add_argument("--rounds", type=int, help="override the profile's rounds")
    parser.add_argument(
        "--paired-rounds",
        type=int,
        help="rounds of the project and bare aiohttp alone (the CPU targets' spread)",
    )
    parser.add_argument(
        "--paced",
        action="store_true",
        help="drive every server at a fixed offered load first (the pair flat out after)",
    )
    parser.add_argument(
        "--together",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="measure the project and bare aiohttp at the same time, not in turn",
    )
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="servers on one CPU, load generators on the others (default: when there are two)",
    )
    parser.add_argument(
        "--memory-rounds", type=int, help="fresh processes per server for idle memory"
    )
    parser.add_argument(
        "--servers",
        nargs="+",
        choices=[spec.key for spec in ALL],
        help="override the profile's servers (the project and bare aiohttp are the targets')",
    )
    return parser


def commit() -> str:
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()
    return "unknown"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Stopped from outside: unwind like Ctrl-C, so that every server started is stopped.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    profile = SMOKE if args.smoke else FULL
    if args.rounds:
        profile = dataclasses.replace(profile, rounds=args.rounds)
    if args.paired_rounds:
        profile = dataclasses.replace(profile, paired_rounds=args.paired_rounds)
    if args.together is not None:
        profile = dataclasses.replace(profile, together=args.together)
    if args.paced:
        profile = dataclasses.replace(profile, paced=True)
    if args.memory_rounds:
        profile = dataclasses.replace(profile, memory_rounds=args.memory_rounds)
    if args.servers:
        profile = dataclasses.replace(profile, servers=tuple(args.servers))
    if shutil.which("wrk") is None:
        print("wrk is not installed: run `make system-deps` (Debian package wrk)", file=sys.stderr)
        return 2
    procfs.raise_open_file_limit(profile.hold + 2 * profile.idle + 1024)
    pinning = procfs.split_cpus() if args.pin else None
    if pinning is not None:
        os.sched_setaffinity(0, pinning.load)  # load generators and wrk inherit this
    ctx = Context(profile, scratch_dir(), pinning)
    ctx.servers = [s for s in ALL if s.key in profile.servers and s.available()]
    missing = [s.label for s in ALL if s.key in profile.servers and not s.available()]
    if missing:
        ctx.progress(f"not installed, left out: {', '.join(missing)} (pip install -e '.[bench]')")
    ctx.progress(f"profile {profile.name}; scratch and server logs in {ctx.scratch}")
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    sections: list[Section] = []
    highest_load = load_before
    try:
        for name, scenario in SCENARIOS.items():
            if args.only and name not in args.only:
                continue
            ctx.progress(f"== {scenario.TITLE}")
            sections.append(scenario.run(ctx))
            highest_load = max(highest_load, os.getloadavg()[0])
    finally:
        ctx.close()
    meta = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit(),
        "profile": profile.name,
        "elapsed_s": time.monotonic() - started,
        "machine": machine(),
        "load_average": {
            "before": load_before,
            "after": os.getloadavg()[0],
            "highest": highest_load,  # sampled after each scenario
        },
        "servers": [s.label for s in ctx.servers],
        "pinning": pinning.describe() if pinning else None,
        "paced": profile.paced,
    }
    path = report.write(args.out, sections, meta)
    ctx.progress(f"wrote {path}")
    shutil.rmtree(ctx.scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
