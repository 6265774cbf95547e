"""`BenchResult`: one row of results (one protocol, one scenario, one client count).

The row keys are a stable interface (documented in docs/client.md): scripts can rely on
them. `KEYS` fixes their order for tables and CSV.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from client.stats import summarize

__all__ = ["BASELINE", "KEYS", "LATENCY_KEYS", "BenchResult", "add_baseline_ratios"]

LATENCY_KEYS = ("min_ms", "p50_ms", "p90_ms", "p99_ms", "max_ms", "mean_ms")
# The protocol every other one is compared with, measured in the same run.
BASELINE = "ws"
KEYS = (
    "scenario",
    "conditions",
    "protocol",
    "clients",
    "n",
    "size",
    *LATENCY_KEYS,
    "p50_vs_ws",
    "predicted_ms",
    "excess_ms",
    "msgs_per_s",
    "up_bytes_per_msg",
    "down_bytes_per_msg",
    "handshake_bytes",
    "payload_bytes",
    "lost",
    "duplicated",
    "reconnect_ms",
    "cuts",
    "throttled",
    "survived",
    "lived_s",
    "errors",
    "client_cpu_pct",
)

Metric = int | float | None


@dataclass(slots=True)
class BenchResult:
    """What one protocol did in one scenario.

    `n` is the number of messages the row measured (all clients together); `samples_ms`
    are its latency samples (round trips or delivery delays) for percentiles and the CDF
    plot; `metrics` holds the other keys of `KEYS` that apply.
    """

    scenario: str
    protocol: str
    n: int
    size: int
    clients: int | None = None
    samples_ms: list[float] = field(default_factory=list)
    metrics: dict[str, Metric] = field(default_factory=dict)
    conditions: str | None = None  # the network it ran over (`bench --netem`), as a spec

    @property
    def label(self) -> str:
        """`ws`, or `ws x10` when the row is for 10 concurrent clients."""
        return self.protocol if self.clients is None else f"{self.protocol} x{self.clients}"

    def row(self) -> dict[str, object]:
        """The JSON/CSV row: the stable keys that apply, numbers rounded to 3 decimals."""
        row: dict[str, object] = {
            "scenario": self.scenario,
            "protocol": self.protocol,
            "n": self.n,
            "size": self.size,
        }
        if self.clients is not None:
            row["clients"] = self.clients
        if self.conditions is not None:
            row["conditions"] = self.conditions
        if self.samples_ms:
            summary = summarize(self.samples_ms)
            for key in LATENCY_KEYS:
                row[key] = round(getattr(summary, key), 3)
        for key, value in self.metrics.items():
            if value is not None:
                row[key] = round(value, 3) if isinstance(value, float) else value
        return {key: row[key] for key in KEYS if key in row}


def add_baseline_ratios(results: list[BenchResult]) -> None:
    """Give every row with latencies `p50_vs_ws`: its median over the median of the `ws`
    row with the same client count in the same run (1.0 for `ws` itself).

    Medians from one run on one machine share its noise; their ratio is what carries over to
    another machine, the absolute milliseconds much less.
    """
    baselines = {
        row.clients: summarize(row.samples_ms).p50_ms
        for row in results
        if row.protocol == BASELINE and row.samples_ms
    }
    for row in results:
        baseline = baselines.get(row.clients)
        if row.samples_ms and baseline:
            row.metrics["p50_vs_ws"] = summarize(row.samples_ms).p50_ms / baseline
