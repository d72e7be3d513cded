"""The pipeline packages depend on each other in one direction only.

build <- images <- lab -> report <- deploy (deploy may also use build and
images); errors, paths, procs and progress are shared by all.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "tools" / "sgkit"
SHARED = {"errors", "paths", "procs", "progress"}
MAY_USE = {
    "build": set(),
    "images": {"build"},
    "report": set(),
    "lab": {"build", "images", "report"},
    "deploy": {"build", "images", "report"},
}


def _imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "sgkit" and len(parts) > 1:
                found.add(parts[1])
    return found


def _modules() -> list[Path]:
    return sorted(PACKAGE.glob("*/*.py"))


def test_every_module_lives_in_a_pipeline_package_or_is_shared():
    top = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    assert top == SHARED
    assert {p.parent.name for p in _modules()} == set(MAY_USE)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_imports_follow_the_pipeline_arrows(path):
    own = path.parent.name
    used = _imported_packages(path) - SHARED - {own}
    assert used <= MAY_USE[own], f"{own}/{path.name} uses {sorted(used - MAY_USE[own])}"
