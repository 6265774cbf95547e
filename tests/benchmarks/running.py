"""Running a benchmark script as a user does: a process of its own, from the repository root."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_script(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """`python ARGS` from the repository root; the test fails with its output if it fails."""
    done = subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    return done
