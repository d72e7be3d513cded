"""Whole bench.net runs side by side: does the benchmark repeat?

Each bench.net run reports every sgnet/netfront ratio as the median over its
rounds.  Whether the benchmark can tell which driver is faster is a question
about *runs*: do separate runs (separate boots) give the same medians?  This
module reads the ``bench.json`` of several runs and reports, for every ratio,
each run's median, the median of those medians, each run's deviation from it
and the largest over the smallest (``max_over_min``).  A ratio *repeats*
when every run lies within ``tolerance`` (default 15%) of the median of the
runs.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sgkit.errors import KitError

TOLERANCE = 0.15
# The ratios the benchmark is judged by: throughput both ways and for both
# packet sizes, and the counted costs.  The rest are reported too.
HEADLINE = (
    "tcp_mbps",
    "tcp_reverse_mbps",
    "udp64_pps",
    "udp1500_pps",
    "hypercalls_per_packet",
    "interrupts_per_packet",
    "hypercalls_per_mbyte",
    "cpu_ms_per_mbyte",
)


def load_run(path: Path) -> dict[str, Any]:
    """A run's bench.json, from its results directory or the file itself."""
    file = path / "bench.json" if path.is_dir() else path
    if not file.is_file():
        raise KitError(
            f"{path}: no bench.json there; pass a results/bench-net-* directory "
            "that `invoke bench.net` wrote"
        )
    try:
        bench = json.loads(file.read_text())
    except json.JSONDecodeError as e:
        raise KitError(f"{file}: not valid JSON ({e}); was the run cut short?") from e
    if not isinstance(bench, dict) or "ratios_sgnet_over_netfront" not in bench:
        raise KitError(f"{file}: not a bench.net result (no ratios_sgnet_over_netfront)")
    return bench


def compare(runs: Mapping[str, Mapping[str, Any]], tolerance: float = TOLERANCE) -> dict[str, Any]:
    """Every ratio across ``runs`` (name -> bench.json): values, median, deviations."""
    if len(runs) < 2:
        raise KitError(f"comparing {len(runs)} run(s): need at least two bench.net results")
    if not 0 < tolerance < 1:
        raise KitError(f"tolerance {tolerance}: give a fraction between 0 and 1, e.g. 0.15")
    metrics: list[str] = []
    for bench in runs.values():
        metrics += [m for m in bench["ratios_sgnet_over_netfront"] if m not in metrics]
    ratios: dict[str, Any] = {}
    for metric in metrics:
        values = {name: b["ratios_sgnet_over_netfront"].get(metric) for name, b in runs.items()}
        have = [v for v in values.values() if v is not None and v > 0]
        if len(have) < 2:
            ratios[metric] = {"values": values, "median": None, "repeats": None}
            continue
        mid = statistics.median(have)
        dev = {n: (round(v / mid - 1, 3) if v else None) for n, v in values.items()}
        ratios[metric] = {
            "values": values,
            "median": round(mid, 3),
            "deviation": dev,
            "max_over_min": round(max(have) / min(have), 3),
            "repeats": len(have) == len(values)
            and all(abs(d) <= tolerance for d in dev.values() if d is not None),
        }
    judged = [m for m in HEADLINE if ratios.get(m, {}).get("repeats") is not None]
    return {
        "tolerance": tolerance,
        "runs": {
            name: {
                "started": b.get("started"),
                "repeat": b.get("repeat"),
                "rounds_run": b.get("rounds_run"),
                "seconds_per_run": b.get("seconds_per_run"),
                "pinned": b.get("pinned"),
                "xen_build_id": (b.get("meta") or {}).get("xen_build_id"),
                "complete": b.get("complete"),
            }
            for name, b in runs.items()
        },
        "ratios": ratios,
        "headline": list(HEADLINE),
        "headline_repeats": bool(judged) and all(ratios[m]["repeats"] for m in judged),
        "not_repeating": [m for m in judged if not ratios[m]["repeats"]],
    }


def summarize(result: Mapping[str, Any]) -> str:
    """One line per ratio: each run's median and its deviation from the runs' median."""
    names = list(result["runs"])
    tol = result["tolerance"]
    lines = [
        f"{len(names)} bench.net runs, sgnet/netfront ratios (each run's median over its rounds);"
        f" repeats = every run within ±{tol:.0%} of the runs' median",
    ]
    for i, name in enumerate(names, 1):
        r = result["runs"][name]
        lines.append(
            f"  run {i}: {name} (started {r['started']}, {r['rounds_run']} rounds of "
            f"{r['seconds_per_run']} s, complete={r['complete']})"
        )
    for metric, r in result["ratios"].items():
        mark = "*" if metric in result["headline"] else " "
        if r["median"] is None:
            lines.append(f" {mark}{metric:28} too few runs with a value")
            continue
        cells = "  ".join(
            f"{r['values'][n]:.3f} ({r['deviation'][n]:+.0%})"
            if r["values"][n] is not None
            else "-"
            for n in names
        )
        verdict = "repeats" if r["repeats"] else "DOES NOT REPEAT"
        lines.append(
            f" {mark}{metric:28} {cells}  median {r['median']:.3f}, "
            f"max/min {r['max_over_min']:.2f}: {verdict}"
        )
    if result["headline_repeats"]:
        lines.append(f"headline ratios (*): all repeat within ±{tol:.0%}")
    else:
        lines.append(
            f"headline ratios (*): {', '.join(result['not_repeating'])} not within ±{tol:.0%}"
        )
    return "\n".join(lines)


def compare_runs(
    paths: Sequence[Path], out_root: Path, tolerance: float = TOLERANCE
) -> tuple[Path, dict[str, Any], str]:
    """Read the runs, compare them, write compare.json and summary.txt in a new directory."""
    runs: dict[str, Mapping[str, Any]] = {}
    for path in paths:
        name = (path if path.is_dir() else path.parent).name
        if name in runs:
            name = str(path)
        runs[name] = load_run(path)
    result = compare(runs, tolerance)
    text = summarize(result)
    out = out_root / time.strftime("bench-compare-%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "summary.txt").write_text(text + "\n")
    return out, result, text
