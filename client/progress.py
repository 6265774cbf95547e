"""A progress display on stderr while `bench` runs (rich), or nothing if rich is missing.

stderr keeps stdout clean for the table or `--json`; rich shows nothing when stderr is not
a terminal.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import TracebackType
from typing import Any

__all__ = ["BenchProgress"]


class BenchProgress:
    """``with BenchProgress() as progress: advance = progress.task("ws", 100); advance()``."""

    def __init__(self, *, enabled: bool = True) -> None:
        self._progress: Any = None
        if enabled:
            try:
                from rich.console import Console
                from rich.progress import (
                    BarColumn,
                    MofNCompleteColumn,
                    Progress,
                    TextColumn,
                    TimeElapsedColumn,
                )
            except ImportError:  # the `client` extra is not installed: no progress bar
                return
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(file=sys.stderr),
                transient=True,
            )

    def __enter__(self) -> BenchProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def task(self, description: str, total: int) -> Callable[[int], None]:
        """Add a bar; returns ``advance(steps)``."""
        if self._progress is None:
            return _ignore
        task_id = self._progress.add_task(description, total=total)

        def advance(steps: int = 1) -> None:
            self._progress.advance(task_id, steps)

        return advance


def _ignore(steps: int = 1) -> None:
    """Progress when there is no display."""
