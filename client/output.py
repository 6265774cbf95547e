"""What a command prints: human lines by default, one JSON object per line with `--json`.

Human mode keeps stdout for the data (echoes, events, responses) so it can be piped, and
sends connection states, warnings and the closing summary to stderr. JSON mode writes every
record to stdout as `{"type": ..., ...}`; only warnings go to stderr.
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

__all__ = ["Output"]


class Output:
    """Writes records for one command run; every line is flushed at once."""

    def __init__(
        self, *, json_mode: bool, stdout: TextIO | None = None, stderr: TextIO | None = None
    ) -> None:
        self.json_mode = json_mode
        self._out = stdout if stdout is not None else sys.stdout
        self._err = stderr if stderr is not None else sys.stderr

    def record(self, kind: str, text: str, /, **fields: Any) -> None:
        """A piece of data: `text` for people, `{"type": kind, **fields}` for scripts."""
        if self.json_mode:
            self._json(kind, fields)
        else:
            self._line(self._out, text)

    def state(self, state: str, text: str, /, **fields: Any) -> None:
        """A connection state change, e.g. ``state("reconnecting", "retrying in 1.2 s")``."""
        if self.json_mode:
            self._json("state", {"state": state, **fields})
        else:
            self._line(self._err, f"* {text}")

    def summary(self, lines: list[str], **fields: Any) -> None:
        """The closing summary of a run (also printed after Ctrl-C)."""
        if self.json_mode:
            self._json("summary", fields)
        else:
            for line in lines:
                self._line(self._err, line)

    def warn(self, text: str) -> None:
        """Something the user should know; never mixed into JSON output."""
        self._line(self._err, f"warning: {text}")

    def _json(self, kind: str, fields: dict[str, Any]) -> None:
        self._line(self._out, json.dumps({"type": kind, **fields}, ensure_ascii=False))

    @staticmethod
    def _line(stream: TextIO, text: str) -> None:
        stream.write(text + "\n")
        stream.flush()
