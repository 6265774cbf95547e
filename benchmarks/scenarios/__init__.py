"""The scenarios `make bench` runs, in order. A scenario is a module with `TITLE` and
`run(ctx: Context) -> Section` (see benchmarks/harness.py); add one by listing it here."""

from types import ModuleType

from benchmarks.scenarios import fanout, hold, idle_memory, throughput

SCENARIOS: dict[str, ModuleType] = {
    "throughput": throughput,
    "idle_memory": idle_memory,
    "fanout": fanout,
    "hold": hold,
}
