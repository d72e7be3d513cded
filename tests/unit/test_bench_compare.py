"""bench.compare: whole bench.net runs side by side (pure logic over bench.json)."""

from __future__ import annotations

import json

import pytest

from sgkit.errors import KitError
from sgkit.report.bench_compare import HEADLINE, compare, compare_runs, summarize


def _bench(**ratios: float | None) -> dict:
    base = {m: 1.0 for m in HEADLINE}
    base.update(ratios)
    return {
        "started": "2026-12-03T18:00:00Z",
        "repeat": 10,
        "rounds_run": 10,
        "seconds_per_run": 3,
        "complete": True,
        "ratios_sgnet_over_netfront": base,
    }


def test_each_run_is_measured_against_the_median_of_the_runs():
    result = compare(
        {"a": _bench(tcp_mbps=1.0), "b": _bench(tcp_mbps=1.2), "c": _bench(tcp_mbps=1.1)}
    )
    tcp = result["ratios"]["tcp_mbps"]
    assert tcp["median"] == 1.1
    assert tcp["deviation"] == {"a": -0.091, "b": 0.091, "c": 0.0}
    assert tcp["max_over_min"] == 1.2
    assert tcp["repeats"] is True
    assert result["headline_repeats"] is True
    assert result["not_repeating"] == []


def test_one_run_outside_the_tolerance_fails_that_ratio_and_the_headline():
    result = compare(
        {"a": _bench(udp64_pps=1.0), "b": _bench(udp64_pps=1.0), "c": _bench(udp64_pps=1.2)}
    )
    assert result["ratios"]["udp64_pps"]["repeats"] is False
    assert result["ratios"]["tcp_mbps"]["repeats"] is True
    assert result["headline_repeats"] is False
    assert result["not_repeating"] == ["udp64_pps"]
    assert "udp64_pps not within ±15%" in summarize(result)
    # a looser tolerance lets it through
    assert compare({"a": _bench(udp64_pps=1.0), "c": _bench(udp64_pps=1.2)}, 0.25)[
        "headline_repeats"
    ]


def test_a_run_without_a_value_cannot_count_as_repeating():
    result = compare({"a": _bench(ping_rtt_ms=0.5, tcp_mbps=None), "b": _bench(ping_rtt_ms=0.5)})
    assert result["ratios"]["tcp_mbps"] == {
        "values": {"a": None, "b": 1.0},
        "median": None,
        "repeats": None,
    }
    result = compare({"a": _bench(), "b": _bench(), "c": _bench(tcp_mbps=None)})
    assert result["ratios"]["tcp_mbps"]["repeats"] is False
    assert "tcp_mbps" in result["not_repeating"]


def test_bad_input_names_the_problem(tmp_path):
    with pytest.raises(KitError, match="need at least two"):
        compare({"a": _bench()})
    with pytest.raises(KitError, match="between 0 and 1"):
        compare({"a": _bench(), "b": _bench()}, 15)
    with pytest.raises(KitError, match=r"no bench\.json there"):
        compare_runs([tmp_path / "missing", tmp_path], tmp_path)
    (tmp_path / "cut").mkdir()
    (tmp_path / "cut" / "bench.json").write_text('{"started": ')
    with pytest.raises(KitError, match="not valid JSON"):
        compare_runs([tmp_path / "cut", tmp_path / "cut"], tmp_path)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "bench.json").write_text("{}")
    with pytest.raises(KitError, match=r"not a bench\.net result"):
        compare_runs([tmp_path / "other", tmp_path / "other"], tmp_path)


def test_compare_runs_writes_json_and_summary(tmp_path):
    for name, tcp in (("bench-net-1", 1.0), ("bench-net-2", 1.4)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "bench.json").write_text(json.dumps(_bench(tcp_mbps=tcp)))
    out, result, text = compare_runs(
        [tmp_path / "bench-net-1", tmp_path / "bench-net-2"], tmp_path / "res"
    )
    assert json.loads((out / "compare.json").read_text()) == result
    assert (out / "summary.txt").read_text() == text + "\n"
    assert list(result["runs"]) == ["bench-net-1", "bench-net-2"]
    assert result["ratios"]["tcp_mbps"]["repeats"] is False  # 1.0 and 1.4 around 1.2: ±16.7%
