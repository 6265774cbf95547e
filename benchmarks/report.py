"""Writes the run as `performance.md` (tables), `img/bench.png` (the chart) and
`performance.json` (every measurement) into the output folder (docs/ by default)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.harness import TIMES, ChartPanel, Section, Table, Target

CHART = Path("img") / "bench.png"
KEPT = Path(__file__).with_name("load_run.md")  # the load.py run, kept as written

HEADER = """\
# Performance: the project against bare aiohttp and its peers

`make bench` (about 7 minutes, loopback only) starts the project as `make run` does
(`python -m server`, default settings, only the connection limits raised) and, in the same
run, minimal reference servers with the same endpoints (`benchmarks/reference/`: bare
aiohttp, aiohttp + uvloop, starlette + uvicorn + sse-starlette, the websockets library),
and the project once more with `--loop asyncio` for a same-loop comparison. It
drives them with the same load round after round: the project and bare aiohttp (the pair the
CPU targets compare) side by side, at the same time, on the same CPU, each with its own load
generator on the other CPU, so that whatever else the machine does falls on both alike; then,
in the same way, the project and aiohttp + uvloop (the uvloop target's nearest peer); the
other servers in turn. `wrk`
drives HTTP and a raw-socket load generator in its own process (`benchmarks/loadgen.py`)
WebSocket and SSE, flat out (each server as fast as it goes), then the project and bare
aiohttp once more at a fixed offered rate: a 1.05 CPU-ratio target is met only when met at
both loads.
Every figure is a median over the rounds and every comparison a ratio of medians; the
spread of the same ratio round by round decides whether a target can be called at all
(section "Server CPU per operation").

<!-- not-runnable: takes about 7 minutes and 10,000 sockets; rewrites this file -->
```sh
make bench
```

The same pipeline, tiny (the test `tests/benchmarks/test_bench.py` runs it and checks the
report's shape; its numbers mean nothing):

<!-- not-runnable: the test suite runs it (tests/benchmarks/test_bench.py) -->
```sh
.venv/bin/python -m benchmarks --smoke --out /tmp/bench-smoke
```

One scenario, some servers, more rounds: the options (each scenario is one module in
`benchmarks/scenarios/`; list a new one in its `__init__.py`):

<!-- runnable -->
```sh
python -m benchmarks --help
```
<!-- expect: --servers -->

What a change costs, measured before it is committed: `benchmarks/compare.py` starts the
project from two checkouts, for instance main in a `git worktree` and the working tree, and
measures them the way the pair above is measured (side by side, pinned, flat out, 6 rounds,
new processes each round: about two minutes), then prints after ÷ before round by round with
its middle half. A checkout compared with a copy of itself came out at a ratio of 1.00, the
middle half of HTTP (the noisiest row) 0.997 to 1.029, on the machines this report comes from.

<!-- not-runnable: needs a second checkout (git worktree add ../main main) -->
```sh
.venv/bin/python -m benchmarks.compare ../main
```

<!-- runnable -->
```sh
python -m benchmarks.compare --help
```
<!-- expect: before [after] -->
"""

DEFINITIONS = """\
## What each number means

- **Server CPU per operation**: CPU time of the server process, all threads, from
  `/proc/PID/task/*/schedstat` (nanoseconds on a CPU) read at the start and the end of the
  measured window, divided by the operations the load generator completed in that window
  (WS: echoes received; SSE: events received; HTTP: wrk's requests). It depends far less
  than rates do on how busy the rest of the machine is (caches and clock speed still
  move it some), which is why the targets use it.
- **Round by round, middle half**: project ÷ bare aiohttp (or ÷ aiohttp + uvloop) computed
  in each round from the two measured together, then the interquartile range of those ratios
  over the rounds. A target is met or not met only when that range lies on one side of it.
- **ops/s**: the same operations divided by the window's wall time. On two shared cores it
  follows the machine's load more than the server.
- **CPU-bound**: the side whose process kept its core busy (at least 0.85 CPU seconds per
  second) in the window: "server" or "load generator". "neither (CPU shared)" means both
  were waiting for a CPU that other programs held: then ops/s and latency describe the
  machine, while CPU per operation is still the server's own cost.
- **RSS per idle connection**: `VmRSS` of the server (`/proc/PID/status`) once settled with
  N connections held, minus before, divided by N.
- **Fan-out delivery delay**: arrival time at a subscriber minus the publisher's send time,
  both `CLOCK_MONOTONIC` on this machine, for every subscriber of every timed message.
"""


def write(out: Path, sections: list[Section], meta: dict[str, Any]) -> Path:
    """Write the report files into `out`; returns the markdown file's path."""
    out.mkdir(parents=True, exist_ok=True)
    panels = [s.chart for s in sections if s.chart is not None]
    if panels:
        draw_chart(out / CHART, panels)
    markdown = render(sections, meta, chart=CHART if panels else None)
    (out / "performance.md").write_text(markdown)
    data = {"meta": meta, "sections": {s.key: s.data for s in sections}}
    (out / "performance.json").write_text(json.dumps(data, indent=1, default=str) + "\n")
    return out / "performance.md"


def render(sections: list[Section], meta: dict[str, Any], chart: Path | None) -> str:
    parts = [HEADER, _targets([t for s in sections for t in s.targets]), _run(meta)]
    if chart is not None:
        parts.append(f"![Server CPU per operation and memory per idle connection]({chart})\n")
    for section in sections:
        parts.append(_section(section))
    parts.append(DEFINITIONS)
    if KEPT.exists():
        parts.append(KEPT.read_text())
    return "\n".join(parts)


def _verdict(target: Target) -> str:
    if target.within_noise:
        return "**within noise**"
    return {True: "**met**", False: "**not met**", None: "not measured"}[target.met]


def _targets(targets: list[Target]) -> str:
    rows = [[t.name, t.measured, _verdict(t)] for t in targets]
    met = sum(t.met is True for t in targets)
    unresolved = sum(t.within_noise for t in targets)
    return (
        "## Targets (issue 10)\n\n"
        f"{met} of {len(targets)} targets met in this run"
        + (f", {unresolved} within this run's noise (see below)" if unresolved else "")
        + ".\n\n"
        + _table(Table(["target", "measured", "verdict"], rows))
    )


BUSY_LOAD_PER_CORE = 0.5  # above this, other programs held a core for a good part of the run


def _load_warning(meta: dict[str, Any]) -> str:
    """A warning when the machine was busy with other work while the run measured."""
    cores = meta["machine"]["cores"] or 1
    load = meta["load_average"]
    highest = max(load["before"], load["after"], load.get("highest", 0.0))
    if highest <= BUSY_LOAD_PER_CORE * cores:
        return ""
    return (
        f"\n> **Warning: the machine was busy.** The 1-minute load average reached "
        f"{highest:.1f} on {cores} cores while this run measured: other programs competed for "
        "the CPUs, which inflates every server's CPU per operation and widens the spread of "
        "the ratios. Read the verdicts with their spread, and rerun on a quiet machine to "
        "settle a target called within noise.\n"
    )


def _run(meta: dict[str, Any]) -> str:
    machine = meta["machine"]
    load = meta["load_average"]
    return (
        "## This run\n\n"
        f"- {meta['date']}, commit `{meta['commit']}`, profile `{meta['profile']}`, "
        f"{meta['elapsed_s']:.0f} s in all\n"
        f"- {machine['cpu']}, {machine['cores']} cores, Linux {machine['kernel']}; "
        f"Python {machine['python']}, aiohttp {machine['aiohttp']}\n"
        f"- load average (1 min) {load['before']:.2f} before, {load['after']:.2f} after"
        + (f", {load['highest']:.2f} at most during the run" if "highest" in load else "")
        + ": the machine is shared, which moves absolute numbers; the ratios are side by "
        "side\n"
        f"- load: {'a fixed offered rate' if meta.get('paced') else 'flat out'}; "
        f"CPUs: {meta.get('pinning') or 'not pinned (the scheduler places every process)'}\n"
        + _load_warning(meta)
    )


def _section(section: Section) -> str:
    parts = [f"## {section.title}\n"]
    if section.intro:
        parts.append(section.intro + "\n")
    for table in section.tables:
        parts.append(_table(table))
    parts.extend(f"{note}\n" for note in section.notes)
    return "\n".join(parts)


def _table(table: Table) -> str:
    lines = []
    if table.caption:
        lines += [f"*{table.caption}*", ""]
    lines.append("| " + " | ".join(table.headers) + " |")
    lines.append("|" + "|".join(_alignments(table)) + "|")
    lines += ["| " + " | ".join(row) + " |" for row in table.rows]
    return "\n".join(lines) + "\n"


def _alignments(table: Table) -> list[str]:
    """Numbers right, words left."""

    def numeric(cell: str) -> bool:
        return cell.strip("* " + TIMES).replace(",", "").replace(".", "").isdigit() or cell == "—"

    columns = range(len(table.headers))
    return [
        "---:" if table.rows and all(numeric(row[i]) for row in table.rows) else "---"
        for i in columns
    ]


def draw_chart(path: Path, panels: list[ChartPanel]) -> None:
    """One PNG, one panel of grouped bars per scenario that has a chart."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.2), squeeze=False)
    # One colour per server in every panel, even where a panel leaves one out.
    names_everywhere = list(dict.fromkeys(name for panel in panels for name in panel.series))
    palette = plt.get_cmap("tab10")
    colour = {name: palette(i % 10) for i, name in enumerate(names_everywhere)}
    for ax, panel in zip(axes[0], panels, strict=True):
        names = list(panel.series)
        width = 0.8 / max(1, len(names))
        for i, name in enumerate(names):
            values = panel.series[name]
            xs = [c + (i - (len(names) - 1) / 2) * width for c in range(len(panel.categories))]
            heights = [v if v is not None else 0.0 for v in values]
            bars = ax.bar(xs, heights, width, label=name, color=colour[name])
            for bar, value in zip(bars, values, strict=True):
                if value is not None:
                    ax.annotate(
                        f"{value:.1f}",
                        (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center",
                        va="bottom",
                        fontsize=7,
                    )
        ax.set_xticks(range(len(panel.categories)), panel.categories)
        ax.set_ylabel(panel.unit)
        ax.set_title(panel.title, fontsize=10)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
