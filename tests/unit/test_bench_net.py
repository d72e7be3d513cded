"""bench.net's reading of the console: snapshots, hypercall arrays, ratios, plot."""

from __future__ import annotations

import json
from pathlib import Path

from sgkit.lab.bench import DRIVERS, TESTS, analyse, bench_conf, plot, summarize

UDP = (Path(__file__).parent / "fixtures" / "iperf3" / "udp.json").read_text().strip()
TCP = (Path(__file__).parent / "fixtures" / "iperf3" / "tcp.json").read_text().strip()


def _hc(drv: str, test: str, when: str, sg_op: int, evtchn: int) -> str:
    values = [0] * 64
    values[29] = 1000 if when == "after" else 0  # sched_op: not an I/O hypercall
    values[47] = sg_op
    values[32] = evtchn
    head = f"SGKIT-BENCH-HC drv={drv} test={test} when={when}"
    return f"{head} hypercalls   T={sum(values):10d} " + " ".join(f"{v:10d}" for v in values)


def _console() -> str:
    lines = ["SGKIT-BENCH-IF sgnet=sgnet0 netfront=vif1.0"]
    for drv, dom0_if, domu_if in (("sgnet", "sgnet0", "sgnet0"), ("netfront", "vif1.0", "eth0")):
        for test in TESTS:
            for when, base in (("before", 0), ("after", 100)):
                snap = f"SGKIT-BENCH-SNAP drv={drv} test={test} when={when}"
                irq = base // 10
                own = f" tx_hypercalls={base} rx_hypercalls={base}" if drv == "sgnet" else ""
                lines.append(
                    f"{snap} side=dom0 if={dom0_if} tx_packets={base} rx_packets={base}"
                    f" irq={irq}{own}"
                )
                lines.append(f"{snap} side=domU if={domu_if} tx_packets=1 rx_packets=1 irq={irq}")
                lines.append(f"{snap} side=domU if=other0 tx_packets=9 rx_packets=9 irq=999")
                sg = 200 if drv == "sgnet" and when == "after" else 0
                ev = 400 if drv == "netfront" and when == "after" else 0
                lines.append(_hc(drv, test, when, sg, ev))
            if test == "ping":
                lines.append(f"SGKIT-BENCH-PING drv={drv} rc=0 rtt=1.0/2.0/3.0/0.5")
            else:
                data = UDP if test.startswith("udp") else TCP
                lines.append(f"SGKIT-BENCH-RUN drv={drv} test={test} rc=0 json={data}")
    lines.append("SGKIT-BENCH-END")
    return "\n".join(lines) + "\n"


def test_analyse_computes_costs_and_ratios(tmp_path) -> None:
    analysis = analyse(_console())
    assert analysis["complete"]
    costs = analysis["tests"]["sgnet"]["tcp"]["costs"]
    assert costs["packets"] == 200
    assert costs["interrupts_dom0"] == costs["interrupts_domU"] == 10
    assert costs["hypercalls_io"] == 200  # sg_op only; sched_op is left out
    assert costs["hypercalls_xen"] == 1200
    assert costs["hypercalls_driver"] == 200
    assert costs["hypercalls_per_packet_io"] == 1.0
    assert analysis["tests"]["netfront"]["udp64"]["costs"]["hypercalls_io"] == 400
    heads = analysis["headline"]
    assert heads["sgnet"]["hypercalls_per_packet"] == 1.0
    assert heads["netfront"]["hypercalls_per_packet"] == 2.0
    assert heads["sgnet"]["interrupts_per_packet"] == 0.1
    assert heads["sgnet"]["ping_rtt_ms"] == 2.0
    assert heads["sgnet"]["hypercalls_per_mbyte"] == round(400 / (2 * 2234777600 / 1e6), 1)
    ratios = analysis["ratios_sgnet_over_netfront"]
    assert ratios["hypercalls_per_packet"] == 0.5
    assert ratios["tcp_mbps"] == 1.0
    json.dumps(analysis)  # serialisable
    png = plot(analysis, tmp_path / "bench.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = summarize(analysis)
    assert "hypercalls_per_packet" in text and "0.5" in text


def test_missing_lines_give_none_not_errors() -> None:
    analysis = analyse("SGKIT-BENCH-IF sgnet=sgnet0 netfront=vif1.0\n")
    assert not analysis["complete"]
    for drv in DRIVERS:
        assert analysis["tests"][drv]["tcp"]["error"] == "no result line"
        assert analysis["headline"][drv]["hypercalls_per_packet"] is None
    assert set(analysis["ratios_sgnet_over_netfront"].values()) == {None}
    assert "n/a" in summarize(analysis)


def test_bench_conf_names_both_links() -> None:
    conf = bench_conf(3)
    assert "BENCH_SGNET_DOMU=10.77.1.2" in conf and "BENCH_VIF_DOMU=10.78.1.2" in conf
    assert "BENCH_SECONDS=3" in conf
