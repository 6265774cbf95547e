"""Which server process this is, for `/api/stats` and the page (`--workers N`)."""

import os
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """Worker `index` (1-based) of `count` processes sharing the port; `pid` of this one."""

    index: int = 1
    count: int = 1
    pid: int = field(default_factory=os.getpid)

    def to_json(self) -> dict[str, object]:
        """The `process` line of `/api/stats`."""
        return {"pid": self.pid, "worker": self.index, "workers": self.count}
