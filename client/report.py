"""Bench results out: a table on the terminal, JSON lines, CSV, and a PNG plot.

matplotlib is optional (the `plot` extra) and imported only when `--plot` is given, with
the Agg backend, so the client runs on machines without it or without a display.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import math
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from client.bench.results import KEYS, BenchResult
from client.errors import ClientError
from client.stats import cdf_points

__all__ = [
    "caption_of",
    "plot_problem",
    "print_json",
    "print_table",
    "write_csv",
    "write_plot",
]

_HEADERS = {
    "scenario": "scenario",
    "conditions": "conditions",
    "protocol": "protocol",
    "clients": "clients",
    "n": "n",
    "size": "size B",
    "min_ms": "min ms",
    "p50_ms": "p50 ms",
    "p90_ms": "p90 ms",
    "p99_ms": "p99 ms",
    "max_ms": "max ms",
    "mean_ms": "mean ms",
    "msgs_per_s": "msg/s",
    "p50_vs_ws": "p50 ÷ ws",
    "predicted_ms": "predicted ms",
    "excess_ms": "p50 - pred. ms",
    "up_bytes_per_msg": "up B/msg",
    "down_bytes_per_msg": "down B/msg",
    "handshake_bytes": "handshake B",
    "payload_bytes": "payload B",
    "lost": "lost",
    "duplicated": "dup",
    "reconnect_ms": "reconnect ms",
    "cuts": "cuts",
    "throttled": "throttled",
    "survived": "survived",
    "lived_s": "lived s",
    "errors": "errors",
    "client_cpu_pct": "client CPU %",
}
_NOT_IN_TABLE = {"scenario", "conditions", "mean_ms"}  # conditions: in the title
_INSTALL_PLOT = "pip install 'protocol-lab[plot]' (or: pip install matplotlib)"


def _columns(rows: Sequence[dict[str, object]]) -> list[str]:
    # Scenario and conditions go in the title, unless they differ from row to row (sweep).
    varying = {key for key in ("scenario", "conditions") if len({r.get(key) for r in rows}) > 1}
    shown = [key for key in KEYS if key not in _NOT_IN_TABLE or key in varying]
    return [key for key in shown if any(key in r for r in rows)]


def _cell(value: object) -> str:
    """A table cell: integers in full, other numbers to three significant digits (the JSON
    and CSV keep every digit), so that a row fits an 80-column terminal."""
    if value is None:
        return ""
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


# Left out, in this order, when a table is wider than the terminal (every column stays in
# --json and --csv): the tail between median and p99, the best case, then the CPU figure.
_DROPPED_WHEN_NARROW = ("p90_ms", "min_ms", "client_cpu_pct", "max_ms")


def print_table(
    results: Sequence[BenchResult],
    title: str,
    caption: str = "",
    stream: TextIO | None = None,
    width: int | None = None,
) -> None:
    """The rows as a table: rich if installed, plain aligned text otherwise.

    The table fits `width` columns (the terminal's width, or $COLUMNS, or 80 into a pipe):
    columns whose single value the title already gives are left out, headers wrap, numbers
    never do; if it is still too wide, the columns of `_DROPPED_WHEN_NARROW` go, and a note
    says which. `caption` (under the table) records where the numbers come from: machine,
    versions, server.
    """
    stream = stream if stream is not None else sys.stdout
    rows = [result.row() for result in results]
    columns = [key for key in _columns(rows) if not _said_in_title(key, rows, title)]
    try:
        from rich.console import Console
    except ImportError:
        cells = [[_cell(row.get(key)) for key in columns] for row in rows]
        _plain_table(title, [_HEADERS[key] for key in columns], cells, stream)
        stream.write(caption + "\n" if caption else "")
        return
    console = Console(file=stream, width=width)
    dropped: list[str] = []
    # Roomy first, then one space between columns, then headers on two lines ("client" over
    # "CPU %"), then fewer columns.
    for padding, stacked in ((1, False), (0, False), (0, True)):
        table = _rich_table(columns, rows, padding=padding, stacked=stacked)
        if _fits(table, console.width, header_lines=2 if stacked else 1):
            break
    for key in _DROPPED_WHEN_NARROW:
        if _fits(table, console.width, header_lines=2) or key not in columns:
            continue
        columns = [column for column in columns if column != key]
        dropped.append(_HEADERS[key])
        table = _rich_table(columns, rows, padding=0, stacked=True)
    # Title and caption as lines of their own: under a narrow table rich would wrap them to
    # its width, and scripts grep the title.
    console.print(title, style="italic", highlight=False)
    console.print(table)
    if caption:
        console.print(caption, style="dim", highlight=False)
    if dropped:
        left_out = ", ".join(dropped)
        console.print(f"({left_out} left out to fit {console.width} columns; --json has all)")


def _said_in_title(key: str, rows: Sequence[dict[str, object]], title: str) -> bool:
    """Whether every row has the same `key`, and the title already states it (n=6)."""
    values = {row.get(key) for row in rows}
    if len(values) != 1 or key not in ("n", "size"):
        return False
    value = values.pop()
    return (f"n={value}" if key == "n" else f"size={value} B") in title


def _rich_table(
    columns: list[str],
    rows: Sequence[dict[str, object]],
    *,
    padding: int,
    stacked: bool,
) -> Any:
    from rich import box
    from rich.table import Table

    table = Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, padding),
    )
    cells = [[_cell(row.get(key)) for key in columns] for row in rows]
    for index, key in enumerate(columns):
        header = _stack(_HEADERS[key]) if stacked else _HEADERS[key]
        longest_word = max(len(word) for word in header.split())
        table.add_column(
            header,
            justify="left" if key == "protocol" else "right",
            # Values are never cut (`0.…` says nothing); only headers wrap, between words.
            min_width=max(longest_word, *(len(row[index]) for row in cells)),
        )
    for row_cells in cells:
        table.add_row(*row_cells)
    return table


def _stack(header: str) -> str:
    """`client CPU %` -> `client` over `CPU %`: the words before the last two, then them."""
    words = header.split()
    if len(words) < 2:
        return header
    split = max(1, len(words) - 2) if words[-1] in ("%", "ms", "B", "ws") else 1
    return " ".join(words[:split]) + "\n" + " ".join(words[split:])


def _fits(table: Any, width: int, header_lines: int) -> bool:
    """Whether rich draws the table in `width` columns without cutting a value or a header
    word short (it would show `0.…`), with headers on at most `header_lines` lines."""
    from rich.console import Console

    drawn = io.StringIO()
    Console(file=drawn, width=width, color_system=None).print(table, crop=False)
    lines = drawn.getvalue().splitlines()
    rule = next((i for i, line in enumerate(lines) if line.lstrip().startswith("─")), 0)
    return (
        rule <= header_lines
        and not any("…" in line for line in lines)
        and all(len(line) <= width for line in lines)
    )


def caption_of(meta: dict[str, Any]) -> str:
    """``Linux-..., 2 CPUs (load 0.52), Python 3.11.7, aiohttp 3.14.5; server http://...``."""
    machine, versions, server = meta["machine"], meta["versions"], meta["server"]
    load = machine.get("loadavg")
    load_text = f" (load {load[0]:g})" if load else ""
    return (
        f"{machine.get('platform')}, {machine.get('cpus')} CPUs{load_text}, "
        f"Python {versions.get('python')}, aiohttp {versions.get('aiohttp')}; "
        f"server {server.get('url')}, {meta.get('started')}"
    )


def _plain_table(title: str, headers: list[str], cells: list[list[str]], stream: TextIO) -> None:
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)]
    stream.write(title + "\n")
    for line in [headers, *cells]:
        stream.write(
            "  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True))
        )
        stream.write("\n")


def print_json(
    results: Sequence[BenchResult], meta: dict[str, Any], stream: TextIO | None = None
) -> None:
    """`{"meta": ...}` on the first line, then one row object per line."""
    stream = stream if stream is not None else sys.stdout
    stream.write(json.dumps({"meta": meta}) + "\n")
    for result in results:
        stream.write(json.dumps(result.row()) + "\n")
    stream.flush()


def write_csv(path: Path, results: Sequence[BenchResult], meta: dict[str, Any]) -> None:
    """All `KEYS` as columns (empty where a metric does not apply); a ``# meta:`` first line.

    Read it with ``pandas.read_csv(path, comment="#")``.
    """
    try:
        with path.open("w", newline="", encoding="utf-8") as stream:
            stream.write(f"# meta: {json.dumps(meta)}\n")
            writer = csv.DictWriter(stream, fieldnames=list(KEYS))
            writer.writeheader()
            for result in results:
                writer.writerow(result.row())
    except OSError as exc:
        raise ClientError(f"cannot write {path}: {exc}") from None


def plot_problem(path: Path) -> str | None:
    """Why `--plot path` cannot work (matplotlib missing, not a .png), or None."""
    if path.suffix.lower() != ".png":
        return f"--plot writes PNG files; give a name ending in .png, not {path.name!r}"
    if importlib.util.find_spec("matplotlib") is None:
        return f"--plot needs matplotlib, which is not installed: {_INSTALL_PLOT}"
    return None


def pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend (no display needed), for every plot the client
    draws; `ClientError` saying how to install it when it is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ClientError(f"plotting needs matplotlib: {_INSTALL_PLOT}") from None
    return plt


def write_plot(path: Path, results: Sequence[BenchResult], title: str, subtitle: str) -> None:
    """Latency CDFs per protocol, and bars for throughput, bytes and reconnect times."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        raise ClientError(f"--plot needs matplotlib: {_INSTALL_PLOT}") from None
    panels = [draw for draw, wanted in _PANELS if any(wanted(r) for r in results)]
    if _several_client_counts(results):
        panels.insert(1, _scaling)
    if not panels:
        raise ClientError("nothing to plot: no row has latencies, throughput or bytes")
    width = max(9.0, 6.2 * len(panels))  # one panel still leaves room for the titles
    figure, axes = plt.subplots(1, len(panels), figsize=(width, 4.8), squeeze=False)
    for draw, axis in zip(panels, axes[0], strict=True):
        draw(axis, results)
    # About 14 characters of 10-point text per inch: wrap the caption to the figure's width.
    caption = textwrap.fill(subtitle, width=int(width * 14))
    figure.suptitle(f"{title}\n{caption}", fontsize=10)
    figure.tight_layout()
    try:
        figure.savefig(path, dpi=110)
    except OSError as exc:
        raise ClientError(f"cannot write {path}: {exc}") from None
    finally:
        plt.close(figure)


_LINE_STYLES = ("-", "--", ":", "-.")


# The page's colours (static/css/main.css: --ws, --sse, --http, --long), so that a protocol
# looks the same in every plot and on the page; polling is plain HTTP there too.
PROTOCOL_COLORS = {
    "ws": "#1a56c8",
    "sse": "#0a7347",
    "http": "#b03f0d",
    "poll": "#b03f0d",
    "longpoll": "#7338b0",
}
_OTHER_COLORS = ("#4f5b69", "#a0522d", "#008b8b", "#9b870c")  # baselines and anything new


def protocol_color(protocol: str, others: Sequence[str] = ()) -> str:
    """The colour of `protocol` in every plot: the page's, or a fixed one for the rest."""
    if protocol in PROTOCOL_COLORS:
        return PROTOCOL_COLORS[protocol]
    index = list(others).index(protocol) if protocol in others else 0
    return _OTHER_COLORS[index % len(_OTHER_COLORS)]


def _styles(results: Sequence[BenchResult]) -> dict[str, dict[str, Any]]:
    """One colour per protocol, one line style per client count: readable with many rows."""
    others = sorted({r.protocol for r in results} - PROTOCOL_COLORS.keys())
    client_counts = list(dict.fromkeys(r.clients for r in results))
    return {
        r.label: {
            "color": protocol_color(r.protocol, others),
            "linestyle": _LINE_STYLES[client_counts.index(r.clients) % len(_LINE_STYLES)],
        }
        for r in results
    }


def _cdf(axis: Any, results: Sequence[BenchResult]) -> None:
    styles = _styles(results)
    for result in results:
        if result.samples_ms:
            points = cdf_points(result.samples_ms)
            xs = [max(x, 1e-3) for x, _ in points]
            axis.step(
                xs,
                [y for _, y in points],
                where="post",
                label=result.label,
                **styles[result.label],
            )
    axis.set_xscale("log")
    _plain_numbers(axis.xaxis)
    axis.set_xlabel("latency (ms, log scale)")
    axis.set_ylabel("fraction of messages")
    axis.set_title("latency CDF (further left is better)")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=8)


_HATCHES = ("", "///", "...", "xx")


def _bars(
    axis: Any,
    chosen: Sequence[BenchResult],
    series: dict[str, list[float]],
    unit: str,
    labels: list[str] | None = None,
) -> None:
    """Grouped bars, one group per row: each bar in its protocol's colour, the series told
    apart by hatching (so colour always means protocol, as on the page)."""
    from matplotlib.patches import Patch

    labels = labels if labels is not None else [r.label for r in chosen]
    others = sorted({r.protocol for r in chosen} - PROTOCOL_COLORS.keys())
    colors = [protocol_color(r.protocol, others) for r in chosen]
    count = len(series)
    width = 0.8 / max(count, 1)
    for index, values in enumerate(series.values()):
        positions = [i + (index - (count - 1) / 2) * width for i in range(len(labels))]
        hatch = _HATCHES[index % len(_HATCHES)]
        bars = axis.bar(positions, values, width, color=colors, hatch=hatch, edgecolor="white")
        axis.bar_label(bars, fmt="%.0f", fontsize=7)
    axis.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
    axis.set_ylabel(unit)
    if count > 1:
        handles = [
            Patch(facecolor="#4f5b69", edgecolor="white", hatch=_HATCHES[i % len(_HATCHES)])
            for i in range(count)
        ]
        axis.legend(handles, list(series), fontsize=8)


def _plain_numbers(axis: Any) -> None:
    """Tick labels of a log axis as plain numbers (0.2, 1, 50), not powers of ten.

    Minor ticks (2, 3 ... 9 times a power of ten) are labelled only where there is room:
    all of them within half a decade, 2, 3 and 5 within two, none beyond.
    """
    from matplotlib.ticker import FuncFormatter

    def major(value: float, position: int | None = None) -> str:
        return f"{value:g}"

    def minor(value: float, position: int | None = None) -> str:
        low, high = sorted(axis.get_view_interval())
        if low <= 0 or value <= 0:
            return ""
        decades = math.log10(high / low)
        digit = round(value / 10 ** math.floor(math.log10(value) + 1e-9))
        wanted = range(2, 10) if decades <= 0.6 else (2, 3, 5) if decades <= 2.2 else ()
        return f"{value:g}" if digit in wanted else ""

    axis.set_major_formatter(FuncFormatter(major))
    axis.set_minor_formatter(FuncFormatter(minor))


def _throughput(axis: Any, results: Sequence[BenchResult]) -> None:
    chosen = [r for r in results if r.metrics.get("msgs_per_s") is not None]
    _bars(
        axis,
        chosen,
        {"msgs/s": [float(r.metrics["msgs_per_s"] or 0) for r in chosen]},
        "messages per second",
    )
    if all(r.scenario == "rtt" for r in chosen):
        axis.set_title("throughput (higher is better)")
    else:
        # Pushed ticks come at the server's --rate: the bars show who kept up, not who is faster.
        axis.set_title("messages delivered per second (the tick rate x clients)")


def _overhead(axis: Any, results: Sequence[BenchResult]) -> None:
    chosen = [r for r in results if r.metrics.get("down_bytes_per_msg") is not None]
    names = {
        "up_bytes_per_msg": "up (client to server)",
        "down_bytes_per_msg": "down (server to client)",
        "payload_bytes": "payload",
    }
    series = {
        name: [float(r.metrics.get(key) or 0) for r in chosen] for key, name in names.items()
    }
    _bars(axis, chosen, series, "bytes per message")
    axis.set_title("bytes on the wire per message (lower is better)")


def _handshake(axis: Any, results: Sequence[BenchResult]) -> None:
    chosen = [r for r in results if r.metrics.get("handshake_bytes") is not None]
    _bars(
        axis,
        chosen,
        {"handshake": [float(r.metrics["handshake_bytes"] or 0) for r in chosen]},
        "bytes",
    )
    axis.set_title("connection set-up and tear-down bytes")


def _reconnect(axis: Any, results: Sequence[BenchResult]) -> None:
    chosen = [r for r in results if r.metrics.get("reconnect_ms") is not None]
    _bars(
        axis,
        chosen,
        {"reconnect": [float(r.metrics["reconnect_ms"] or 0) for r in chosen]},
        "milliseconds",
        labels=[
            f"{r.label}\nlost {r.metrics.get('lost', 0)} dup {r.metrics.get('duplicated', 0)}"
            for r in chosen
        ],
    )
    axis.set_title("time until messages flow again (lower is better)")


def _scaling(axis: Any, results: Sequence[BenchResult]) -> None:
    styles = _styles(results)
    for protocol in dict.fromkeys(r.protocol for r in results):
        rows = sorted(
            (r for r in results if r.protocol == protocol and r.samples_ms and r.clients),
            key=lambda r: r.clients or 0,
        )
        if not rows:
            continue
        color = styles[rows[0].label]["color"]
        clients = [r.clients for r in rows]
        summaries = [r.row() for r in rows]
        axis.plot(
            clients, [s["p50_ms"] for s in summaries], "o-", color=color, label=f"{protocol} p50"
        )
        axis.plot(
            clients, [s["p99_ms"] for s in summaries], "s--", color=color, label=f"{protocol} p99"
        )
    axis.set_xscale("log")
    axis.set_yscale("log")
    _plain_numbers(axis.xaxis)
    _plain_numbers(axis.yaxis)
    axis.set_xlabel("concurrent clients (log scale)")
    axis.set_ylabel("delay (ms, log scale)")
    axis.set_title("delay as clients grow (flatter is better)")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=7, ncol=2)


def _several_client_counts(results: Sequence[BenchResult]) -> bool:
    return len({r.clients for r in results if r.clients}) > 1


Panel = Callable[[Any, Sequence[BenchResult]], None]
_PANELS: list[tuple[Panel, Callable[[BenchResult], bool]]] = [
    (_cdf, lambda r: bool(r.samples_ms)),
    (_throughput, lambda r: r.metrics.get("msgs_per_s") is not None),
    (_overhead, lambda r: r.metrics.get("down_bytes_per_msg") is not None),
    (_handshake, lambda r: r.metrics.get("handshake_bytes") is not None),
    (_reconnect, lambda r: r.metrics.get("reconnect_ms") is not None),
]
