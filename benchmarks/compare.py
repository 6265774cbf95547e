"""`python -m benchmarks.compare BEFORE [AFTER]`: what a change costs, side by side.

Starts `python -m server` from two checkouts of this repository (BEFORE, for instance a
`git worktree` of main; AFTER, by default this one), both with the settings `make bench`
gives the project, and drives them with the same load at the same time, each with its own
load generator, round after round: the servers on one CPU and the load generators on the
other when the machine has two or more, so that whatever else the machine does falls on both
alike. For each kind of work (WS echo, SSE stream, HTTP POST echo, flat out, as in `make
bench`) it prints the server CPU per operation of each, and AFTER ÷ BEFORE round by round
with its median and middle half (interquartile range). Both servers are started afresh every
round, so that what one process happens to get (memory layout, hash seeds) does not weigh on
a whole run. Comparing a checkout with a copy of itself shows how far apart two identical
servers land: on the 2-core machines this project is measured on, a ratio of 1.00 with a
middle half of 0.997 to 1.029 for HTTP, the noisiest row.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from benchmarks import procfs
from benchmarks.harness import FULL, SMOKE, TIMES, Context, fmt, median, scratch_dir
from benchmarks.scenarios.throughput import ROWS, UNITS, measure_together, paired_ratios, spread
from benchmarks.servers import PROJECT, ROOT, ServerSpec


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.compare",
        description=__doc__.split("\n\n")[0] if __doc__ else "",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("before", type=Path, help="checkout of the baseline (e.g. main)")
    parser.add_argument(
        "after", type=Path, nargs="?", default=ROOT, help="checkout of the change (this one)"
    )
    parser.add_argument("--rounds", type=int, default=6, help="rounds of every row (6)")
    parser.add_argument(
        "--only", nargs="+", choices=list(ROWS), default=list(ROWS), help="rows to measure"
    )
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), help="--loop for both servers")
    parser.add_argument("--smoke", action="store_true", help="tiny windows: checks the pipeline")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    return parser


def checkout(path: Path) -> Path:
    """`path` as an absolute checkout of this repository, or exit with a clear message."""
    path = path.resolve()
    if not (path / "server" / "__main__.py").is_file():
        sys.exit(f"{path} is not a checkout of this repository (no server/__main__.py)")
    return path


def contenders(before: Path, after: Path, loop: str | None) -> list[ServerSpec]:
    """The project as `make bench` starts it, once from each checkout."""
    args = (*PROJECT.args, "--loop", loop) if loop else PROJECT.args
    return [
        dataclasses.replace(PROJECT, key=key, label=f"{key} ({path})", args=args, root=path)
        for key, path in (("before", before), ("after", after))
    ]


def compare(ctx: Context, specs: list[ServerSpec], rows: list[str]) -> dict[str, Any]:
    """Every row, round after round, both servers at the same time (the order swapped every
    other round) and started afresh each round; per row, each one's CPU per operation and
    the per-round ratios."""
    samples: dict[str, dict[str, list[dict[str, Any]]]] = {row: {} for row in rows}
    for round_no in range(1, ctx.profile.rounds + 1):
        order = specs if round_no % 2 else specs[::-1]
        # New processes every round: two copies of one checkout, each served by one process
        # for a whole run, came out up to 4 % apart with a narrow spread.
        with ctx.afresh(order):
            for row in rows:
                for spec, result in zip(order, measure_together(ctx, row, order), strict=True):
                    result["round"] = round_no
                    samples[row].setdefault(spec.key, []).append(result)
                line = _round_line(samples[row])
                ctx.progress(f"round {round_no}/{ctx.profile.rounds} {row}: {line}")
    return {row: _summary(by_server) for row, by_server in samples.items()}


def _round_line(by_server: dict[str, list[dict[str, Any]]]) -> str:
    last = {key: results[-1]["cpu_us_per_op"] for key, results in by_server.items()}
    return ", ".join(f"{key} {fmt(value)}" for key, value in last.items())


def _summary(by_server: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    def cpu(key: str) -> list[float]:
        return [r["cpu_us_per_op"] for r in by_server.get(key, []) if r["cpu_us_per_op"]]

    ratios = paired_ratios(by_server, "after", "before")
    middle = spread(ratios)
    return {
        "before_us": median(cpu("before")),
        "after_us": median(cpu("after")),
        "ratios": [round(r, 4) for r in ratios],
        "median_ratio": median(ratios),
        "middle_half": [middle["q1"], middle["q3"]] if middle else None,
    }


def report(summary: dict[str, Any], before: Path, after: Path) -> str:
    """The comparison as a plain-text table."""
    lines = [
        f"before: {before}",
        f"after:  {after}",
        "server CPU per operation (median of the rounds); after ÷ before, round by round",
        f"{'work':<16} {'before':>10} {'after':>10} {'after÷before':>13} {'middle half':>16}",
    ]
    for row, values in summary.items():
        unit = UNITS[row]
        middle = values["middle_half"]
        half = f"{middle[0]:.3f} to {middle[1]:.3f}" if middle else "-"
        ratio = values["median_ratio"]
        lines.append(
            f"{ROWS[row]:<16} {fmt(values['before_us']):>7} µs {fmt(values['after_us']):>7} µs"
            f" {(f'{ratio:.3f}{TIMES}' if ratio else '-'):>13} {half:>16}   ({unit})"
        )
        lines.append(f"{'':<16} each round: {' / '.join(f'{r:.3f}' for r in values['ratios'])}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")
    before, after = checkout(args.before), checkout(args.after)
    if "http" in args.only and shutil.which("wrk") is None:
        print("wrk is not installed: run `make system-deps` (Debian package wrk)", file=sys.stderr)
        return 2
    profile = dataclasses.replace(SMOKE if args.smoke else FULL, rounds=args.rounds)
    pinning = procfs.split_cpus()
    if pinning is not None:
        os.sched_setaffinity(0, pinning.load)  # load generators and wrk inherit this
    ctx = Context(profile, scratch_dir(), pinning)
    ctx.progress(f"{profile.rounds} rounds; server logs in {ctx.logs}")
    try:
        summary = compare(ctx, contenders(before, after, args.loop), args.only)
    finally:
        ctx.close()
    print(report(summary, before, after))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
