"""bench.net for real: one boot, sgnet and netfront/netback; valid JSON and PNG (no timings)."""

from __future__ import annotations

import json

import pytest

from sgkit.lab.bench import DRIVERS, METRICS, TESTS, run_bench_net
from sgkit.lab.spec import LabSpec
from tests.integration.conftest import invoke


@pytest.mark.integration
def test_bench_net_writes_json_and_png_for_both_drivers(tmp_path):
    outcome = run_bench_net(LabSpec(out_root=tmp_path), seconds=2)
    bench = json.loads((outcome.results / "bench.json").read_text())
    assert bench["complete"], outcome.text_summary
    for driver in DRIVERS:
        for test in TESTS:
            run = bench["tests"][driver][test]
            assert run.get("rc") == 0 and "error" not in run, (driver, test, run)
            assert run["costs"] and run["costs"]["packets"] > 0, (driver, test, run)
        for metric, _, _ in METRICS:
            assert bench["headline"][driver][metric] is not None, (driver, metric)
    assert set(bench["ratios_sgnet_over_netfront"]) == {m for m, _, _ in METRICS}
    png = (outcome.results / "bench.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"

    # bench.compare reads the real run's bench.json through the task a user runs;
    # a run set against itself repeats exactly, every ratio.
    proc = invoke(
        "bench.compare",
        f"--run={outcome.results},{outcome.results / 'bench.json'}",
        env={"SGKIT_RESULTS_DIR": str(tmp_path / "compare")},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (out,) = (tmp_path / "compare").glob("bench-compare-*")
    compared = json.loads((out / "compare.json").read_text())
    assert compared["headline_repeats"] is True, proc.stdout
    for metric, _, _ in METRICS:
        ratio = compared["ratios"][metric]
        if bench["ratios_sgnet_over_netfront"][metric] is not None:  # netfront's may be 0
            assert ratio["repeats"] and ratio["max_over_min"] == 1.0, (metric, ratio)
