"""The core is pure: importing any module of `server/core/` loads no aiohttp (and no other
I/O framework), so it can be tested, and reused, without a server."""

import subprocess
import sys
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "server" / "core"
FORBIDDEN = ("aiohttp", "aiohttp_sse", "yarl", "multidict")


@pytest.mark.parametrize(
    "module", sorted(p.stem for p in CORE.glob("*.py") if p.stem != "__init__")
)
def test_core_module_imports_no_aiohttp(module: str) -> None:
    probe = (
        "import sys, importlib\n"
        f"importlib.import_module('server.core.{module}')\n"
        f"print(sorted(m for m in {FORBIDDEN!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=CORE.parents[1],
        timeout=60,
    )
    assert result.stdout.strip() == "[]", f"server.core.{module} loads {result.stdout.strip()}"
