"""``invoke build --matrix``: every supported Xen version built, one table of steps.

Each row is one Xen version with the source the matrix builds it from (the
context's ``[xen] matrix_source``, else its default source) and the lab's
guest kernel.  The steps run in order and stop at the first failure of a
row; the other rows still run.  The result is a version x step table for
people and ``build-matrix.json`` for machines.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sgkit import progress
from sgkit.build import driver_build, xen_build
from sgkit.build.patch_series import render_series
from sgkit.build.verify import verify
from sgkit.build.versions import default_source, known_versions, load_context
from sgkit.build.xen_sources import fetch, parse_spec
from sgkit.errors import KitError

STEPS = ("fetch", "render", "xen", "modules", "verify")


@dataclass
class Step:
    name: str
    status: str  # pass | fail | skip
    seconds: float = 0.0
    detail: str = ""


@dataclass
class Row:
    xen: str
    source: str
    steps: list[Step] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.status == "pass" for s in self.steps)


def matrix_source(xen: str) -> str:
    """What the matrix builds ``xen`` from: ``[xen] matrix_source``, else the default."""
    return str(load_context(xen).get("xen", {}).get("matrix_source") or default_source(xen))


def build_row(xen: str, source: str, kernel: str | None = None) -> Row:
    """Run the steps for one version; a failing step ends the row, later ones are skipped."""
    row = Row(xen, source)
    state: dict[str, Any] = {}
    actions: dict[str, Callable[[], str]] = {
        "fetch": lambda: fetch(parse_spec(source, xen)).xen_version,
        "render": lambda: f"{len(render_series(xen).patches)} patches",
        "xen": lambda: _remember(state, "xen", xen_build.build(xen, source)).manifest["build_id"],
        "modules": lambda: (
            _remember(state, "modules", driver_build.build(kernel, xen=xen)).headers.release
        ),
        "verify": lambda: f"{len(verify(state['xen'], state['modules']))} artifacts",
    }
    failed = False
    for name in STEPS:
        if failed:
            row.steps.append(Step(name, "skip", detail="an earlier step failed"))
            continue
        start = time.monotonic()
        try:
            with progress.step(f"matrix {xen}: {name}"):
                detail = actions[name]()
            row.steps.append(Step(name, "pass", time.monotonic() - start, detail))
        except KitError as e:
            failed = True
            row.steps.append(Step(name, "fail", time.monotonic() - start, e.problem))
    return row


def _remember(state: dict[str, Any], key: str, value: Any) -> Any:
    state[key] = value
    return value


def run_matrix(versions: Sequence[str] | None = None, kernel: str | None = None) -> list[Row]:
    return [build_row(x, matrix_source(x), kernel) for x in (versions or known_versions())]


def table(rows: Sequence[Row]) -> str:
    """The version x step table: status and seconds per cell, failures spelled out below."""
    head = ["xen", "source", *STEPS]
    cells = [head]
    for row in rows:
        cells.append(
            [row.xen, row.source]
            + [f"{s.status} {s.seconds:.0f}s" if s.status != "skip" else "skip" for s in row.steps]
        )
    widths = [max(len(r[i]) for r in cells) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    for row in rows:
        for s in row.steps:
            if s.status == "fail":
                lines.append(f"{row.xen} {s.name}: {s.detail.splitlines()[0]}")
    return "\n".join(lines)


def write_json(rows: Sequence[Row], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"rows": [asdict(r) | {"ok": r.ok} for r in rows], "steps": list(STEPS)}
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path
