"""bench.net's reading of the console: snapshots, hypercall arrays, ratios, plot."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
from pathlib import Path

import pytest

from sgkit.errors import KitError
from sgkit.images.initramfs import guest_script
from sgkit.lab.bench import (
    DRIVERS,
    METRICS,
    NETDEV_DEFAULTS,
    SGNET_DEFAULTS,
    TESTS,
    analyse,
    bench_conf,
    plot,
    spread,
    summarize,
    variants,
    variants_file,
)

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
                every = f" irq_all={3 * irq}"  # the whole domain: timers too
                own = f" tx_hypercalls={base} rx_hypercalls={base}" if drv == "sgnet" else ""
                lines.append(
                    f"{snap} side=dom0 if={dom0_if} tx_packets={base} rx_packets={base}"
                    f" irq={irq}{every}{own}"
                )
                lines.append(
                    f"{snap} side=domU if={domu_if} tx_packets=1 rx_packets=1 irq={irq}{every}"
                )
                lines.append(f"{snap} side=domU if=other0 tx_packets=9 rx_packets=9 irq=999{every}")
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
    assert costs["interrupts_all_dom0"] == costs["interrupts_all_domU"] == 30
    assert costs["hypercalls_io"] == 200  # sg_op only; sched_op is left out
    assert costs["hypercalls_xen"] == 1200
    assert costs["hypercalls_driver"] == 200
    # sgnet's own counters, per side, as they moved over the run
    assert costs["driver_counts"]["dom0"]["tx_hypercalls"] == 100
    assert costs["driver_counts"]["domU"] == {"tx_packets": 0, "rx_packets": 0}
    assert "netfront" not in [
        d
        for d in analysis["drivers"]
        if "driver_counts" in (analysis["tests"][d]["tcp"]["costs"] or {})
    ]
    assert "tx_hypercalls=0.500" in summarize(analysis)
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


def _round_console(rounds: int) -> str:
    """Rounds 1..N of the console above, tagged round=R; sgnet's TCP rate doubles each round
    (the JSON's rate is scaled), and CPU times (xl list) around each run."""
    out = ["SGKIT-BENCH-IF sgnet=sgnet0 netfront=vif1.0"]
    tcp = json.loads(TCP)
    for rnd in range(1, rounds + 1):
        for line in _console().splitlines()[1:-1]:
            drv = line.split("drv=")[1].split()[0]
            line = line.replace(f"drv={drv} ", f"drv={drv} round={rnd} ", 1)
            if drv == "sgnet" and "test=tcp rc=" in line:
                data = json.loads(line.split("json=", 1)[1])
                for key in ("sum_sent", "sum_received"):
                    data["end"][key]["bits_per_second"] = tcp["end"][key][
                        "bits_per_second"
                    ] * 2 ** (rnd - 1)
                line = line.split("json=")[0] + "json=" + json.dumps(data)
            out.append(line)
            if line.startswith("SGKIT-BENCH-HC"):
                tag = line.split(" hypercalls")[0].replace("SGKIT-BENCH-HC", "SGKIT-BENCH-CPU")
                seconds = 2.0 if "when=after" in line else 0.0
                out.append(f"{tag} Domain-0={10 + seconds} sg-a={5 + seconds / 2}")
    out.append("SGKIT-BENCH-END")
    return "\n".join(out) + "\n"


def test_rounds_give_medians_spreads_and_per_round_ratios(tmp_path) -> None:
    analysis = analyse(_round_console(3))
    assert analysis["rounds_run"] == 3 and analysis["complete"]
    tcp = analysis["spread"]["sgnet"]["tcp_mbps"]
    first = tcp["values"][0]
    assert tcp["values"] == [first, 2 * first, 4 * first]
    assert (tcp["median"], tcp["min"], tcp["max"]) == (round(2 * first, 3), first, 4 * first)
    assert analysis["headline"]["sgnet"]["tcp_mbps"] == tcp["median"]
    ratio = analysis["ratio_spread"]["tcp_mbps"]
    assert ratio["values"] == [1.0, 2.0, 4.0] and ratio["median"] == 2.0
    assert analysis["ratios_sgnet_over_netfront"]["tcp_mbps"] == 2.0
    # CPU: 2 s of dom0 and 1 s of sg-a per run; UDP: 2 runs of 200 packets
    heads = analysis["headline"]["sgnet"]
    assert heads["cpu_us_per_packet_dom0"] == 2 * 2.0 * 1e6 / 400
    assert heads["cpu_us_per_packet_domU"] == 2 * 1.0 * 1e6 / 400
    assert heads["interrupts_per_packet_dom0"] == heads["interrupts_per_packet_domU"] == 0.05
    assert heads["all_interrupts_per_packet"] == 2 * 0.15
    assert heads["cpu_ms_per_mbyte"] == round(2 * 3.0 * 1e3 / (2 * 2234777600 / 1e6), 2)
    for metric, _, _ in METRICS:
        assert analysis["ratio_spread"][metric]["n"] == 3, metric
    json.dumps(analysis)
    text = summarize(analysis)
    assert "median [min-max] of 3 interleaved round(s)" in text
    assert f"{2.0:.3g} [{1.0:.3g}-{4.0:.3g}]" in text
    png = plot(analysis, tmp_path / "bench.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_spread_of_even_counts_and_missing_rounds() -> None:
    assert spread([4.0, None, 1.0, 2.0, 3.0])["median"] == 2.5
    assert spread([None, None]) == {
        "median": None,
        "min": None,
        "max": None,
        "n": 0,
        "values": [None, None],
    }


def test_bench_conf_sets_the_rounds() -> None:
    assert "BENCH_REPEAT=1" in bench_conf(3)
    assert "BENCH_REPEAT=5" in bench_conf(3, repeat=5)
    assert "BENCH_PIN=0" in bench_conf(3)
    assert "BENCH_PIN=1" in bench_conf(3, pin=True)


def test_variants_run_in_order_with_all_their_parameters() -> None:
    runs = variants(before=True, ablation=True)
    names = list(runs)
    assert names[0] == "sgnet" and names[-1] == "netfront" and runs["netfront"] is None
    assert names.index("sgnet-upcall-each") > names.index("sgnet-trigger-apart")
    # the two taken at set-up (each change reconnects) come last, next to each other
    assert names.index("sgnet-upcall-each") == names.index("sgnet-plain-event") + 1
    assert runs["sgnet-before"] == {
        "rx_return": 1,
        "rx_return_inband": 0,
        "tx_batch": 16,
        "tx_pack": 1,
        "tx_delay_us": 0,
        "tx_coalesce_us": 0,
        "fused_trigger": 1,
        "rx_recheck": 1,
        "rx_counters": 1,
        "rx_lend": 0,
        "irq_lateeoi": 0,
        "napi_defer_hard_irqs": 0,
        "gro_flush_timeout": 0,
    }
    assert runs["sgnet-no-coalesce"]["tx_coalesce_us"] == 0
    assert runs["sgnet-no-pack"] == {**runs["sgnet"], "tx_pack": 1}
    assert runs["sgnet-no-recheck"]["rx_recheck"] == 0
    assert runs["sgnet-one-copy"]["rx_lend"] == 32
    assert runs["sgnet-plain-event"] == {**runs["sgnet"], "rx_counters": 0}
    assert runs["sgnet-upcall-each"]["rx_counters"] == 1
    assert runs["sgnet-return-oob"]["rx_return_inband"] == 0
    assert runs["sgnet-rearm-each"] == {**runs["sgnet"], "rx_return": 1, "rx_return_inband": 0}
    assert list(variants()) == ["sgnet", "netfront"]
    lines = variants_file(runs).splitlines()
    assert (
        lines[0] == "sgnet rx_return=32 rx_return_inband=1 tx_batch=16 tx_pack=16 tx_delay_us=200"
        " tx_coalesce_us=2000"
        " fused_trigger=1 rx_recheck=1 rx_counters=1 rx_lend=0 irq_lateeoi=1"
        " napi_defer_hard_irqs=0 gro_flush_timeout=0"
    )
    assert lines[-1] == "netfront"


def test_mitigation_variants_set_the_interfaces_napi_deferral() -> None:
    runs = variants(only=["sgnet-defer", "sgnet-coalesce-4ms"])
    assert list(runs) == ["sgnet", "sgnet-defer", "sgnet-coalesce-4ms", "netfront"]
    assert runs["sgnet-defer"] == {
        **runs["sgnet"],
        "napi_defer_hard_irqs": 2,
        "gro_flush_timeout": 2_000_000,
    }
    # every other variant puts the kernel's default back (variants run back to back)
    assert runs["sgnet-coalesce-4ms"] == {**runs["sgnet"], "tx_coalesce_us": 4000}
    assert runs["sgnet"]["napi_defer_hard_irqs"] == runs["sgnet"]["gro_flush_timeout"] == 0


def test_a_variant_is_measured_and_compared_with_netfront() -> None:
    text = _round_console(2)
    extra = [
        line.replace("drv=sgnet ", "drv=sgnet-before ").replace("if=sgnet0", "if=sgnet1")
        for line in text.splitlines()
        if "drv=sgnet " in line
    ]
    analysis = analyse(text + "\n".join(extra) + "\n")
    assert analysis["drivers"] == ["sgnet", "sgnet-before", "netfront"]
    before = analysis["spread"]["sgnet-before"]
    assert before["hypercalls_per_packet"]["median"] == 1.0  # dom0's only interface: sgnet1
    assert analysis["variant_ratio_spread"]["sgnet-before"]["hypercalls_per_packet"]["n"] == 2
    assert "sgnet variants" in summarize(analysis)


def test_chosen_variants_run_alone_and_unknown_ones_are_named() -> None:
    runs = variants(only=["sgnet-one-copy"])
    assert list(runs) == ["sgnet", "sgnet-one-copy", "netfront"]
    assert runs["sgnet-one-copy"] == {**SGNET_DEFAULTS, **NETDEV_DEFAULTS, "rx_lend": 32}
    with pytest.raises(KitError, match=r"sgnet-nope.*sgnet-one-copy"):
        variants(only=["sgnet-nope"])


def _bench_rounds(tmp_path: Path, stubs: str) -> list[str]:
    """Run bench-net.sh's bench_rounds over ``tmp_path/variants`` with ``stubs`` (shell
    defining bench_test, bench_variant and the settings) in place of the real runs."""
    script = f". {guest_script('bench-net.sh')}\n{stubs}bench_rounds {tmp_path / 'variants'}\n"
    return subprocess.run(
        ["sh", "-c", script],
        env={"PATH": os.environ["PATH"], "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()


def test_rounds_pair_each_test_and_reverse_the_order_in_even_rounds(tmp_path: Path) -> None:
    """bench-net.sh's bench_rounds, run by sh with the test and the set-up replaced by echoes."""
    runs = variants(ablation=True)
    (tmp_path / "variants").write_text("# a comment\n" + variants_file(runs))
    out = _bench_rounds(
        tmp_path,
        'bench_test() { echo "test $round $2 $1 $3"; }\n'
        'bench_variant() { echo "set $1 $2"; sgif=if-$1; }\n'
        "vif=vif1.0 BENCH_REPEAT=2\n",
    )
    names = list(runs)
    tests = [line.split() for line in out if line.startswith("test ")]
    assert len(tests) == 2 * len(TESTS) * len(names)
    for rnd, order in ((1, names), (2, names[::-1])):
        for k, test in enumerate(TESTS):
            start = ((rnd - 1) * len(TESTS) + k) * len(names)
            block = tests[start : start + len(names)]
            assert [(int(r), t) for _, r, t, _, _ in block] == [(rnd, test)] * len(names)
            assert [d for _, _, _, d, _ in block] == order
            # an sgnet variant runs over its own interface, netfront over the vif
            assert all(i == ("vif1.0" if d == "netfront" else f"if-{d}") for *_, d, i in block)
    sets = [line.split(" ", 2)[1:] for line in out if line.startswith("set ")]
    # each sgnet variant set up with all its parameters, and only when it changes
    assert sets[0] == ["sgnet", variants_file({"sgnet": runs["sgnet"]}).split(" ", 1)[1].strip()]
    # (round 2 begins with netfront, then the variant round 1 ended with: no set-up)
    assert len(sets) == 2 * len(TESTS) * (len(names) - 1) - 1
    assert all(a[0] != b[0] for a, b in itertools.pairwise(sets))


def test_the_two_drivers_alone_are_set_up_once(tmp_path: Path) -> None:
    (tmp_path / "variants").write_text(variants_file(variants()))
    out = _bench_rounds(
        tmp_path,
        'bench_test() { echo "test $round $2 $1"; }\n'
        'bench_variant() { echo "set $1"; }\n'
        "BENCH_REPEAT=3\n",
    )
    assert out.count("set sgnet") == 1
    assert [line.split()[3] for line in out if line.startswith("test 2 tcp ")] == [
        "netfront",
        "sgnet",
    ]
    assert len([line for line in out if line.startswith("test ")]) == 3 * len(TESTS) * 2
