"""The client is an independent program: it speaks the wire contract and never imports the
server (shared/STYLE.md, "The client is an independent program")."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

CLIENT = Path(__file__).resolve().parents[2] / "client"
SOURCES = sorted(CLIENT.rglob("*.py"))


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(CLIENT.parent)))
def test_client_module_does_not_import_the_server(path: Path) -> None:
    assert "server" not in imported_packages(path)


def test_matplotlib_is_imported_only_when_plotting() -> None:
    importers = [p for p in SOURCES if "matplotlib" in imported_packages(p)]
    assert [p.name for p in importers] == ["report.py"]
    module = ast.parse(importers[0].read_text(encoding="utf-8"))
    top_level = {
        alias.name.split(".")[0]
        for node in module.body
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (
            node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")]
        )
    }
    assert "matplotlib" not in top_level  # inside write_plot only: the extra stays optional


# The pure modules: statistics, parsing and backoff need nothing beyond the standard library,
# so they can be read, tested and reused without aiohttp.
PURE_MODULES = ["sse_parser.py", "stats.py", "backoff.py"]


@pytest.mark.parametrize("name", PURE_MODULES)
def test_pure_module_imports_only_the_standard_library(name: str) -> None:
    imported = imported_packages(CLIENT / name)
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported
