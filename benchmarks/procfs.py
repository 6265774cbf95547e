"""What the kernel says about a process (CPU time, resident memory, the open-file limit), and
which CPUs it may run on.

Two independent CPU figures are read on purpose. `/proc/PID/task/*/schedstat` gives the
nanoseconds every thread spent on a CPU (the figure the report uses: fine-grained, summed
over threads, so a server's helper threads count too); `/proc/PID/stat` gives utime + stime
in clock ticks. The report states how well the two agree.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
from dataclasses import dataclass
from pathlib import Path

_VMRSS = re.compile(r"^VmRSS:\s+(\d+) kB", re.MULTILINE)


def cpu_ns(pid: int) -> int:
    """Nanoseconds `pid` has run on a CPU, summed over its live threads (schedstat)."""
    return _schedstat_ns(pid, 0)


def run_wait_ns(pid: int) -> int:
    """Nanoseconds `pid`'s threads were runnable but waiting for a CPU (schedstat): time a
    process lost to others, which its CPU time does not show."""
    return _schedstat_ns(pid, 1)


def _schedstat_ns(pid: int, field: int) -> int:
    """Field `field` of /proc/PID/task/*/schedstat, summed over `pid`'s live threads."""
    total = 0
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            total += int(stat.read_text().split()[field])
        except (OSError, IndexError, ValueError):  # a thread that ended while we read
            continue
    return total


def stat_cpu_s(pid: int) -> float:
    """User + system seconds of `pid` from /proc/PID/stat (clock-tick resolution)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    """Resident set size of `pid` in KiB (VmRSS)."""
    match = _VMRSS.search(Path(f"/proc/{pid}/status").read_text())
    return int(match.group(1)) if match else 0


def raise_open_file_limit(needed: int) -> int:
    """Raise this process's soft RLIMIT_NOFILE to at least `needed` (up to the hard limit);
    child processes inherit it. Returns the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@dataclass(frozen=True, slots=True)
class Pinning:
    """Which CPUs the servers run on and which the load generators (this process) run on.

    Servers compared side by side then share one core and whatever else runs on it, so a
    burst of other work falls on both alike, and no server competes with its own load
    generator: measured on the shared two-core machine, the project ÷ bare aiohttp ratio
    moved about half as much from round to round as with the scheduler placing them."""

    server: frozenset[int]
    load: frozenset[int]

    def describe(self) -> str:
        return f"servers on CPU {_cpus(self.server)}, load generators on CPU {_cpus(self.load)}"


def _cpus(cpus: frozenset[int]) -> str:
    return ",".join(str(cpu) for cpu in sorted(cpus))


def split_cpus() -> Pinning | None:
    """Servers on the first usable CPU, everything else on the rest (None on one CPU)."""
    usable = sorted(os.sched_getaffinity(0))
    if len(usable) < 2:
        return None
    return Pinning(frozenset(usable[:1]), frozenset(usable[1:]))


def pin(pid: int, cpus: frozenset[int]) -> None:
    """Move every thread of `pid` onto `cpus`; threads it starts later inherit the mask."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError, ValueError):  # a thread that just ended
            os.sched_setaffinity(int(task.name), cpus)
