"""bench.net: sgnet against Xen's netfront/netback, same pair of domains, one boot.

The sgnet lab (``sgkit.lab.net.boot_net_lab``) with one domU, sg-a, that
has both an sgnet link to dom0 and a vif (netfront in sg-a, netback in
dom0; xl creates it with a no-op hotplug script and dom0 configures it).
``tools/sgkit/images/guest/bench-net.sh`` runs, for each driver: iperf3 TCP each way,
UDP without a rate limit with 64- and 1500-byte IP packets, and ping;
around each run it records both ends' packet and interrupt counters and
Xen's per-number hypercall counters (``xenperf -f``; the hypervisor is built
with CONFIG_PERF_COUNTERS).

This is a benchmark: nothing here asserts a number.  Under TCG the absolute
numbers are slow; the ratios sgnet / netfront are the result.  Output:
``results/bench-net-<stamp>/bench.json``, ``bench.png`` and the console.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sgkit.errors import KitError
from sgkit.images.guest_binaries import ethtool_files, iperf3_files
from sgkit.images.initramfs import guest_script
from sgkit.lab.net import (
    Link,
    NetPlan,
    boot_net_lab,
    iperf_summary,
    netfront_module,
    parse_stats,
)
from sgkit.lab.spec import LabSpec, prepare
from sgkit.report import protocol

DRIVERS = ("sgnet", "netfront")
# sgnet's module parameters, as the driver sets them by default.
SGNET_DEFAULTS = {
    "rx_return": 32,
    "rx_return_inband": 1,
    "tx_batch": 16,
    "tx_pack": 16,
    "tx_delay_us": 200,
    "tx_coalesce_us": 2000,
    "fused_trigger": 1,
    "rx_recheck": 1,
    "rx_counters": 1,
    "rx_lend": 0,
    "irq_lateeoi": 1,
}
# The kernel's NAPI deferral (napi_defer_hard_irqs, gro_flush_timeout in ns) of sgnet's
# interfaces, as the kernel sets it by default: bench-net.sh and bench-set.sh write these to
# /sys/class/net/IF/ of sgnet's interfaces in both domains, not to the module.
NETDEV_DEFAULTS = {"napi_defer_hard_irqs": 0, "gro_flush_timeout": 0}
# Interrupt mitigation (docs/bench.md, "Interrupt mitigation, measured"): the receiver stays
# in timer-driven polls across transfer batches (NAPI deferral: the port stays masked while
# the deferred polls find work), at a setting that spans TCG's gap between batches and at one
# for real hardware; and larger batches: the sender's coalescing window at 4 ms (2 ms default).
MITIGATION = {
    "sgnet-defer": {"napi_defer_hard_irqs": 2, "gro_flush_timeout": 2_000_000},
    "sgnet-defer-200us": {"napi_defer_hard_irqs": 4, "gro_flush_timeout": 200_000},
    "sgnet-coalesce-4ms": {"tx_coalesce_us": 4000},
}
# "Before": the driver as it was before bulk return, late EOI, delayed
# transmit batching and stream coalescing (a rearm per buffer, an upcall per event, a transfer as
# soon as the stack has nothing more).
BEFORE = {
    "sgnet-before": {
        "rx_return": 1,
        "rx_return_inband": 0,
        "tx_delay_us": 0,
        "tx_coalesce_us": 0,
        "tx_pack": 1,
        "irq_lateeoi": 0,
    }
}
# The ablation: one mechanism off at a time (rx_counters and irq_lateeoi
# last: they are taken at set-up, so changing one reconnects the link).
ABLATION = {
    "sgnet-rearm-each": {"rx_return": 1, "rx_return_inband": 0},
    "sgnet-return-oob": {"rx_return_inband": 0},
    "sgnet-transfer-each": {"tx_batch": 1, "tx_delay_us": 0, "tx_coalesce_us": 0},
    "sgnet-no-coalesce": {"tx_coalesce_us": 0},
    "sgnet-no-pack": {"tx_pack": 1},
    "sgnet-trigger-apart": {"fused_trigger": 0},
    "sgnet-no-recheck": {"rx_recheck": 0},
    # The other way round: one copy (rx_lend), off by default, switched on.
    "sgnet-one-copy": {"rx_lend": 32},
    "sgnet-plain-event": {"rx_counters": 0},
    "sgnet-upcall-each": {"irq_lateeoi": 0},
}
TESTS = ("tcp", "tcp-reverse", "udp64", "udp1500", "ping")
# How a round runs (bench-net.sh), as bench.json records it.
ORDER = "each test over every variant back to back; variants in order, reversed in even rounds"
DOMU = "sg-a"
DOM0_NAME = "Domain-0"  # in xl list
LINK = Link("0", DOMU, 0, "10.77.1")
VIF_SUBNET = "10.78.1"
# Hypercalls that move or signal data (the rest is mostly timers and scheduling):
# 13 multicall, 20 grant_table_op, 32 event_channel_op, 47 sg_op.
IO_HYPERCALLS = {13: "multicall", 20: "grant_table_op", 32: "event_channel_op", 47: "sg_op"}


def bench_conf(seconds: int, port: int = 5300, repeat: int = 1, pin: bool = False) -> str:
    return (
        f"BENCH_DOMU={DOMU}\n"
        f"BENCH_SGNET_DOMU={LINK.subnet}.2\n"
        f"BENCH_VIF_DOM0={VIF_SUBNET}.1\n"
        f"BENCH_VIF_DOMU={VIF_SUBNET}.2\n"
        f"BENCH_SECONDS={seconds}\n"
        f"BENCH_PORT={port}\n"
        f"BENCH_REPEAT={repeat}\n"
        f"BENCH_PIN={int(pin)}\n"
    )


def variants(
    before: bool = False, ablation: bool = False, only: Sequence[str] = ()
) -> dict[str, dict[str, int] | None]:
    """What runs in each round, in order: sgnet variants with all their module parameters,
    then netfront (None).  ``only``: these variants of the ablation or "before" as well."""
    known = {**ABLATION, **BEFORE, **MITIGATION}
    unknown = [name for name in only if name not in known]
    if unknown:
        raise KitError(
            f"--variant {','.join(unknown)}: no such sgnet variant; choose from {', '.join(known)}"
        )
    chosen = {name: known[name] for name in only}
    out: dict[str, dict[str, int] | None] = {"sgnet": {**SGNET_DEFAULTS, **NETDEV_DEFAULTS}}
    for name, changes in {
        **(ABLATION if ablation else {}),
        **(BEFORE if before else {}),
        **chosen,
    }.items():
        out[name] = {**SGNET_DEFAULTS, **NETDEV_DEFAULTS, **changes}
    out["netfront"] = None
    return out


def variants_file(runs: Mapping[str, Mapping[str, int] | None]) -> str:
    """/etc/sgkit/bench-variants: one line per variant, "NAME k=v ..." (netfront: its name)."""
    lines = []
    for name, params in runs.items():
        words = [name] + [f"{k}={v}" for k, v in (params or {}).items()]
        lines.append(" ".join(words))
    return "\n".join(lines) + "\n"


def _round(m: re.Match[str]) -> int:
    return int(m["round"] or 1)


def _cpu_seconds(rest: str) -> dict[str, float]:
    """``NAME=SECONDS ...`` of an SGKIT-BENCH-CPU line (xl list's Time(s))."""
    out = {}
    for word in rest.split():
        name, _, value = word.partition("=")
        try:
            out[name] = float(value)
        except ValueError:
            continue
    return out


def parse_console(text: str) -> dict[str, Any]:
    """The raw readings of every round: snapshots, hypercall arrays, CPU times, iperf3 runs,
    pings; keyed by round first."""
    snaps: dict[tuple[int, str, str, str, str], dict[str, dict[str, int]]] = {}
    for m in protocol.BENCH_SNAP.iter(text):
        key = (_round(m), m["drv"], m["test"], m["when"], m["side"])
        snaps.setdefault(key, {})[m["ifc"]] = parse_stats(m["rest"])
    calls: dict[tuple[int, str, str, str], list[int]] = {}
    for m in protocol.BENCH_HC.iter(text):
        values = [int(v) for v in m["values"].split()]
        calls[(_round(m), m["drv"], m["test"], m["when"])] = values or [int(m["total"])]
    cpu: dict[tuple[int, str, str, str], dict[str, float]] = {}
    for m in protocol.BENCH_CPU.iter(text):
        cpu[(_round(m), m["drv"], m["test"], m["when"])] = _cpu_seconds(m["rest"])
    runs: dict[tuple[int, str, str], dict[str, Any]] = {}
    for m in protocol.BENCH_RUN.iter(text):
        entry: dict[str, Any] = {"rc": int(m["rc"])}
        try:
            entry.update(iperf_summary(json.loads(m["json"])))
        except (ValueError, TypeError, AttributeError) as e:
            entry["error"] = f"unreadable iperf3 JSON: {e}"
        runs[(_round(m), m["drv"], m["test"])] = entry
    for m in protocol.BENCH_PING.iter(text):
        parts = m["rtt"].split("/")
        entry = {"rc": int(m["rc"])}
        if len(parts) >= 3:
            entry.update(rtt_min_ms=float(parts[0]), rtt_avg_ms=float(parts[1]))
            entry["rtt_max_ms"] = float(parts[2])
        runs[(_round(m), m["drv"], "ping")] = entry
    ifs = protocol.BENCH_IF.first(text)
    names = {"sgnet": ifs["sgnet"], "netfront": ifs["netfront"]} if ifs else {}
    rounds = sorted({key[0] for key in runs} | {key[0] for key in snaps}) or [1]
    drivers = list(DRIVERS)
    for key in list(runs) + list(snaps):
        if key[1] not in drivers:
            drivers.insert(len(drivers) - 1, key[1])  # variants before netfront
    return {
        "snaps": snaps,
        "calls": calls,
        "cpu": cpu,
        "runs": runs,
        "dom0_if": names,
        "rounds": rounds,
        "drivers": drivers,
    }


def _domu_if(driver: str, ifs: Mapping[str, dict[str, int]]) -> str | None:
    prefix = "sgnet" if driver.startswith("sgnet") else "eth"
    return next((name for name in sorted(ifs) if name.startswith(prefix)), None)


def _delta(before: Mapping[str, int], after: Mapping[str, int], key: str) -> int:
    return after.get(key, 0) - before.get(key, 0)


def measure(raw: dict[str, Any], driver: str, test: str, rnd: int = 1) -> dict[str, Any]:
    """One test over one driver in round ``rnd``: its rates, and its costs per packet."""
    out: dict[str, Any] = dict(raw["runs"].get((rnd, driver, test), {"error": "no result line"}))
    snaps, calls = raw["snaps"], raw["calls"]
    # dom0 reads the one interface measured; an sgnet variant's may be new
    dom0_if = raw["dom0_if"].get("sgnet" if driver.startswith("sgnet") else driver)
    dom0 = []
    for w in ("before", "after"):
        side = snaps.get((rnd, driver, test, w, "dom0"), {})
        only = next(iter(side.values())) if len(side) == 1 else {}
        dom0.append(side.get(dom0_if or "", only))
    domu_sides = [snaps.get((rnd, driver, test, w, "domU"), {}) for w in ("before", "after")]
    domu_if = _domu_if(driver, domu_sides[0])
    domu = [side.get(domu_if or "", {}) for side in domu_sides]
    if not (dom0[0] and dom0[1]):
        out["costs"] = None
        return out
    packets = _delta(*dom0, "tx_packets") + _delta(*dom0, "rx_packets")
    irq_dom0 = _delta(*dom0, "irq")
    irq_domu = _delta(*domu, "irq") if domu[0] and domu[1] else None
    costs: dict[str, Any] = {
        "packets": packets,
        "interrupts_dom0": irq_dom0,
        "interrupts_domU": irq_domu,
    }
    # every interrupt of each domain (timers too), where bench-snap.sh read it
    for key, side in (("interrupts_all_dom0", dom0), ("interrupts_all_domU", domu)):
        if all("irq_all" in reading for reading in side):
            costs[key] = _delta(*side, "irq_all")
    hc_before = calls.get((rnd, driver, test, "before"))
    hc_after = calls.get((rnd, driver, test, "after"))
    if hc_before and hc_after and len(hc_before) == len(hc_after):
        diff = [a - b for a, b in zip(hc_after, hc_before, strict=True)]
        costs["hypercalls_xen"] = sum(diff)
        costs["hypercalls_io"] = sum(diff[n] for n in IO_HYPERCALLS if n < len(diff))
        costs["hypercalls_by_number"] = {str(n): v for n, v in enumerate(diff) if v}
    cpu_before = raw["cpu"].get((rnd, driver, test, "before"))
    cpu_after = raw["cpu"].get((rnd, driver, test, "after"))
    if cpu_before and cpu_after:
        for name, key in ((DOM0_NAME, "cpu_s_dom0"), (DOMU, "cpu_s_domU")):
            if name in cpu_before and name in cpu_after:
                costs[key] = round(cpu_after[name] - cpu_before[name], 1)
    if driver == "sgnet":
        own = sum(
            _delta(*side, k) for side in (dom0, domu) for k in ("tx_hypercalls", "rx_hypercalls")
        )
        costs["hypercalls_driver"] = own
    if driver.startswith("sgnet"):
        costs["driver_counts"] = driver_counts(dom0, domu)
    if packets:
        interrupts = irq_dom0 + (irq_domu or 0)
        costs["interrupts_per_packet"] = round(interrupts / packets, 3)
        for key in ("cpu_s_dom0", "cpu_s_domU"):
            if key in costs:
                per = key.replace("cpu_s_", "cpu_us_per_packet_")
                costs[per] = round(costs[key] * 1e6 / packets, 1)
        for key in ("hypercalls_io", "hypercalls_xen", "hypercalls_driver"):
            if key in costs:
                costs[key.replace("hypercalls_", "hypercalls_per_packet_")] = round(
                    costs[key] / packets, 3
                )
    out["costs"] = costs
    return out


# sgnet's own counters (ethtool -S, bench-snap.sh) that say where its costs go.
DRIVER_COUNTS = (
    "tx_packets",
    "tx_hypercalls",
    "tx_coalesced",
    "tx_frames_packed",
    "tx_busy",
    "tx_stalls",
    "credit_requests",
    "rx_packets",
    "rx_hypercalls",
    "rx_return_calls",
    "rx_returned",
    "rx_returned_inband",
    "credit_grants",
    "rx_polls",
    "rx_polls_deferred",
    "rx_rechecks",
    "rx_frames_lent",
    "rx_frames_copied",
    "rx_buffers",
    "rx_frames_packed",
    "rx_held",
    "rx_grants_held",
    "interrupts",
    "rx_spurious",
)


def driver_counts(
    dom0: list[dict[str, int]], domu: list[dict[str, int]]
) -> dict[str, dict[str, int]]:
    """What sgnet's counters moved by on each side over one run (only those read)."""
    out: dict[str, dict[str, int]] = {}
    for name, (before, after) in (("dom0", dom0), ("domU", domu)):
        if before and after:
            out[name] = {k: _delta(before, after, k) for k in DRIVER_COUNTS if k in after}
    return out


def cost_breakdown(analysis: Mapping[str, Any], driver: str, test: str = "udp64") -> str | None:
    """One line per side: sgnet's counters over ``test`` of the first round, per packet."""
    run = analysis["tests"].get(driver, {}).get(test, {})
    costs = run.get("costs") or {}
    counts, packets = costs.get("driver_counts"), costs.get("packets")
    if not counts or not packets:
        return None
    parts = []
    for side, values in counts.items():
        cells = " ".join(f"{k}={v / packets:.3f}" for k, v in values.items() if v)
        parts.append(f"  {side}: {cells}")
    return f"{driver} {test}, per packet ({packets} packets, round 1):\n" + "\n".join(parts)


# The figures compared (metric, unit, higher is better).  Costs per packet
# come from the UDP runs only: netfront/netback use GSO for TCP, so one of
# their "packets" there is up to 64 KiB while sgnet's is one MTU; TCP's
# cost is given per MB transferred instead.  Hypercalls are Xen's count
# (both domains); interrupts and CPU time are given per domain too.
METRICS = (
    ("tcp_mbps", "Mbit/s", True),
    ("tcp_reverse_mbps", "Mbit/s", True),
    ("udp64_pps", "packets/s", True),
    ("udp1500_pps", "packets/s", True),
    ("ping_rtt_ms", "ms", False),
    ("hypercalls_per_packet", "UDP, per packet", False),
    ("interrupts_per_packet", "UDP, per packet", False),
    ("interrupts_per_packet_dom0", "UDP, per packet", False),
    ("interrupts_per_packet_domU", "UDP, per packet", False),
    ("all_interrupts_per_packet", "UDP, per packet, timers too", False),
    ("cpu_us_per_packet_dom0", "UDP, CPU us per packet", False),
    ("cpu_us_per_packet_domU", "UDP, CPU us per packet", False),
    ("hypercalls_per_mbyte", "TCP, per MB", False),
    ("cpu_ms_per_mbyte", "TCP, CPU ms per MB", False),
)
# The per-packet costs drawn as grouped bars.
COSTS = (
    "hypercalls_per_packet",
    "interrupts_per_packet_dom0",
    "interrupts_per_packet_domU",
    "cpu_us_per_packet_dom0",
    "cpu_us_per_packet_domU",
)


def _costs_over(tests: Mapping[str, dict[str, Any]], names: tuple[str, ...]) -> dict[str, float]:
    """Sums over the runs ``names`` that have costs: packets, bytes received, I/O hypercalls,
    interrupts and CPU seconds of each domain (``cpu_*`` only if every run has them), and
    every interrupt of both domains (``irq_all``, only if every run has it)."""
    out: dict[str, float] = dict.fromkeys(
        ("packets", "bytes", "calls", "irq_dom0", "irq_domU", "irq_all", "cpu_dom0", "cpu_domU"),
        0,
    )
    cpu = every_irq = True
    for test in names:
        run = tests.get(test, {})
        costs = run.get("costs") or {}
        if costs.get("packets") and "hypercalls_io" in costs:
            out["packets"] += costs["packets"]
            out["bytes"] += run.get("received_bytes", 0)
            out["calls"] += costs["hypercalls_io"]
            out["irq_dom0"] += costs["interrupts_dom0"]
            out["irq_domU"] += costs["interrupts_domU"] or 0
            every_irq = every_irq and "interrupts_all_dom0" in costs
            every_irq = every_irq and "interrupts_all_domU" in costs
            out["irq_all"] += costs.get("interrupts_all_dom0", 0)
            out["irq_all"] += costs.get("interrupts_all_domU", 0)
            cpu = cpu and "cpu_s_dom0" in costs and "cpu_s_domU" in costs
            out["cpu_dom0"] += costs.get("cpu_s_dom0", 0.0)
            out["cpu_domU"] += costs.get("cpu_s_domU", 0.0)
    if not cpu or not out["packets"]:
        del out["cpu_dom0"], out["cpu_domU"]
    if not every_irq or not out["packets"]:
        del out["irq_all"]
    return out


def headline(tests: Mapping[str, dict[str, Any]]) -> dict[str, float | None]:
    """The compared figures of one driver in one round."""

    def get(test: str, key: str) -> float | None:
        value = tests.get(test, {}).get(key)
        return float(value) if isinstance(value, int | float) else None

    def per(value: float | None, count: float, scale: float = 1.0, digits: int = 3):
        return round(value * scale / count, digits) if count and value is not None else None

    udp = _costs_over(tests, ("udp64", "udp1500"))
    tcp = _costs_over(tests, ("tcp", "tcp-reverse"))
    packets, mbytes = udp["packets"], tcp["bytes"] / 1e6
    tcp_cpu = tcp["cpu_dom0"] + tcp["cpu_domU"] if "cpu_dom0" in tcp else None
    return {
        "tcp_mbps": get("tcp", "received_mbps"),
        "tcp_reverse_mbps": get("tcp-reverse", "received_mbps"),
        "udp64_pps": get("udp64", "received_pps"),
        "udp1500_pps": get("udp1500", "received_pps"),
        "ping_rtt_ms": get("ping", "rtt_avg_ms"),
        "hypercalls_per_packet": per(udp["calls"], packets),
        "interrupts_per_packet": per(udp["irq_dom0"] + udp["irq_domU"], packets),
        "interrupts_per_packet_dom0": per(udp["irq_dom0"], packets),
        "interrupts_per_packet_domU": per(udp["irq_domU"], packets),
        "all_interrupts_per_packet": per(udp.get("irq_all"), packets),
        "cpu_us_per_packet_dom0": per(udp.get("cpu_dom0"), packets, 1e6, 1),
        "cpu_us_per_packet_domU": per(udp.get("cpu_domU"), packets, 1e6, 1),
        "hypercalls_per_mbyte": per(tcp["calls"], mbytes, digits=1),
        "cpu_ms_per_mbyte": per(tcp_cpu, mbytes, 1e3, 2),
    }


def spread(values: list[float | None]) -> dict[str, Any]:
    """Median, min, max and the values themselves (None where a round has none)."""
    have = sorted(v for v in values if v is not None)
    if not have:
        return {"median": None, "min": None, "max": None, "n": 0, "values": values}
    mid = len(have) // 2
    median = have[mid] if len(have) % 2 else (have[mid - 1] + have[mid]) / 2
    return {
        "median": round(median, 3),
        "min": have[0],
        "max": have[-1],
        "n": len(have),
        "values": values,
    }


def ratios(
    heads: Mapping[str, Mapping[str, float | None]], driver: str = "sgnet"
) -> dict[str, float | None]:
    """``driver`` / netfront for every figure (of one round)."""
    out: dict[str, float | None] = {}
    for metric, _, _ in METRICS:
        a, b = heads[driver].get(metric), heads["netfront"].get(metric)
        out[metric] = round(a / b, 3) if a is not None and b else None
    return out


def analyse(text: str) -> dict[str, Any]:
    """Every round's figures, then for each figure and ratio the median over the rounds with
    its spread.  A ratio is taken within a round (sgnet and netfront back to back) before the
    median is: the host's speed changes between rounds, less within one."""
    raw = parse_console(text)
    drivers = raw["drivers"]
    others = [d for d in drivers if d not in DRIVERS]
    rounds = []
    for rnd in raw["rounds"]:
        tests = {d: {t: measure(raw, d, t, rnd) for t in TESTS} for d in drivers}
        heads = {d: headline(tests[d]) for d in drivers}
        per = {d: ratios(heads, d) for d in ["sgnet", *others]}
        rounds.append({"round": rnd, "tests": tests, "headline": heads, "ratios": per})
    metrics = [m for m, _, _ in METRICS]
    spreads = {
        d: {m: spread([r["headline"][d][m] for r in rounds]) for m in metrics} for d in drivers
    }
    ratio_spread = {
        d: {m: spread([r["ratios"][d][m] for r in rounds]) for m in metrics}
        for d in ["sgnet", *others]
    }
    return {
        "rounds_run": len(rounds),
        "drivers": drivers,
        # medians over the rounds; the first round's raw measurements
        "tests": rounds[0]["tests"],
        "headline": {d: {m: spreads[d][m]["median"] for m in metrics} for d in drivers},
        "ratios_sgnet_over_netfront": {m: ratio_spread["sgnet"][m]["median"] for m in metrics},
        "spread": spreads,
        "ratio_spread": ratio_spread["sgnet"],
        "variant_ratio_spread": {d: ratio_spread[d] for d in others},
        "rounds": rounds,
        "interfaces_dom0": raw["dom0_if"],
        "complete": protocol.BENCH_END.seen(text),
    }


def plot(analysis: Mapping[str, Any], out: Path) -> Path:
    """Left: sgnet/netfront for every figure, median with min-max error bars (log scale;
    right of 1 is sgnet's larger value).  Right: per-packet costs, grouped bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 6.5))
    names, med, lo, hi = [], [], [], []
    for metric, _, higher in METRICS:
        r = analysis["ratio_spread"][metric]
        if r["median"] is None or r["median"] <= 0:
            continue
        names.append(f"{metric} ({'higher' if higher else 'lower'} is better)")
        med.append(r["median"])
        lo.append(r["median"] - r["min"])
        hi.append(r["max"] - r["median"])
    y = list(range(len(names)))
    left.errorbar(med, y, xerr=[lo, hi], fmt="o", color="tab:blue", capsize=4)
    left.axvline(1.0, color="grey", linestyle="--", linewidth=1)
    left.set_xscale("log")
    left.set_yticks(y)
    left.set_yticklabels(names, fontsize=8)
    left.invert_yaxis()
    n = analysis.get("rounds_run", 1)
    left.set_title(f"sgnet / netfront, median and min-max of {n} round(s)", fontsize=10)
    drivers = analysis.get("drivers", list(DRIVERS))
    width = 0.8 / len(drivers)
    spreads = analysis["spread"]
    colors = plt.get_cmap("tab10").colors
    for i, driver in enumerate(drivers):
        color = colors[i % len(colors)] if driver != "netfront" else "tab:orange"
        if driver == "sgnet":
            color = "tab:blue"
        xs, heights, errs_lo, errs_hi = [], [], [], []
        for k, metric in enumerate(COSTS):
            s = spreads[driver][metric]
            xs.append(k + (i - (len(drivers) - 1) / 2) * width)
            heights.append(s["median"] or 0.0)
            errs_lo.append((s["median"] - s["min"]) if s["median"] is not None else 0.0)
            errs_hi.append((s["max"] - s["median"]) if s["median"] is not None else 0.0)
        right.bar(xs, heights, width, color=color, label=driver)
        right.errorbar(xs, heights, yerr=[errs_lo, errs_hi], fmt="none", ecolor="black")
    right.set_xticks(range(len(COSTS)))
    labels = [c.replace("_per_packet", "/pkt") for c in COSTS]
    right.set_xticklabels(labels, fontsize=8, rotation=20, ha="right")
    right.set_yscale("log")
    right.set_title("UDP costs per packet (median, min-max; log scale)", fontsize=10)
    right.legend(fontsize=8)
    fig.suptitle("sgnet vs netfront/netback, dom0 <-> domU, one boot, QEMU TCG", fontsize=11)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


@dataclass(frozen=True)
class BenchOutcome:
    results: Path
    analysis: dict[str, Any]
    text_summary: str


def summarize(analysis: Mapping[str, Any]) -> str:
    """Every figure: the median of the rounds [min-max], for each driver and the ratio."""
    n = analysis.get("rounds_run", 1)
    lines = [
        f"median [min-max] of {n} interleaved round(s) (each test: sgnet, netfront;"
        " netfront first in even rounds)",
        f"{'figure':44} {'sgnet':>22} {'netfront':>22} {'sgnet/netfront':>22}",
    ]
    for metric, unit, _ in METRICS:
        cells = [analysis["spread"][d][metric] for d in DRIVERS]
        cells.append(analysis["ratio_spread"][metric])
        text = " ".join(f"{_cell(c):>22}" for c in cells)
        lines.append(f"{metric + ' (' + unit + ')':44.44} {text}")
    drivers = analysis.get("drivers", list(DRIVERS))
    if len(drivers) > len(DRIVERS):
        lines.append("")
        lines.append("sgnet variants (module parameters in bench.json), medians:")
        lines.append(f"{'figure':44} " + " ".join(f"{d[:20]:>20}" for d in drivers))
        for metric, unit, _ in METRICS:
            cells = " ".join(
                f"{_fmt(analysis['spread'][d][metric]['median']):>20}" for d in drivers
            )
            lines.append(f"{metric + ' (' + unit + ')':44.44} {cells}")
    for driver in drivers:
        if driver.startswith("sgnet"):
            text = cost_breakdown(analysis, driver)
            if text:
                lines.append(text)
    if not analysis["complete"]:
        lines.append(
            f"warning: the bench did not reach {protocol.BENCH_END.name} (see console.log)"
        )
    return "\n".join(lines)


def _cell(s: Mapping[str, Any]) -> str:
    if s["median"] is None:
        return "n/a"
    if s["n"] == 1:
        return _fmt(s["median"])
    return f"{_fmt(s['median'])} [{_fmt(s['min'])}-{_fmt(s['max'])}]"


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def run_bench_net(
    spec: LabSpec | None = None,
    seconds: int = 4,
    repeat: int = 1,
    before: bool = False,
    ablation: bool = False,
    pin: bool = False,
    only: Sequence[str] = (),
) -> BenchOutcome:
    """One lab boot, both drivers over dom0 <-> sg-a, ``repeat`` interleaved rounds (with
    ``before``, sgnet also as it was before bulk return, late EOI and delayed batching; with
    ``ablation``, sgnet with one mechanism off at a time); write bench.json and bench.png.
    With ``pin``, Xen runs dom0's vCPUs on CPU 0 and sg-a's on CPU 1.  Without a timeout in
    ``spec``, it grows with the rounds and variants."""
    spec = LabSpec.resolve(spec)
    if repeat < 1:
        raise KitError(f"--repeat {repeat}: need at least one round")
    runs = variants(before, ablation, only)
    if spec.timeout_s is None:
        timeout_s = 900.0 + repeat * len(runs) * (150.0 + 30.0 * seconds)
        spec = dataclasses.replace(spec, timeout_s=timeout_s)
    parts = prepare(spec)
    release = parts.release
    conf = bench_conf(seconds, repeat=repeat, pin=pin).encode()
    conf_file = _tmp_file(conf)
    plan = NetPlan(
        links=(LINK,),
        reload=(),
        iperf=(),
        domu_files={
            "lib/sgkit/xen-netfront.ko": netfront_module(release),
            "lib/sgkit/bench-net.sh": guest_script("bench-net.sh"),
            "lib/sgkit/bench-snap.sh": guest_script("bench-snap.sh"),
            "lib/sgkit/bench-set.sh": guest_script("bench-set.sh"),
            "etc/sgkit/bench.conf": conf_file,
            **iperf3_files(),
            **ethtool_files(),
        },
        dom0_files={
            "lab/bench-net.sh": guest_script("bench-net.sh"),
            "lab/bench-snap.sh": guest_script("bench-snap.sh"),
            "etc/sgkit/bench.conf": conf,
            "etc/sgkit/bench-variants": variants_file(runs).encode(),
        },
        settings={"DOMU_CFG_EXTRA": 'vif = [ "script=/bin/true" ]'},
    )
    started = time.time()
    try:
        lab = boot_net_lab("bench-net", spec, plan, parts)
    finally:
        conf_file.unlink(missing_ok=True)
    analysis = analyse(lab.console.dom0)
    bench = {
        "started": lab.started,
        "duration_s": round(time.time() - started, 1),
        "verdict": lab.result.verdict.kind if lab.result.verdict else None,
        "seconds_per_run": seconds,
        "repeat": repeat,
        "pinned": pin,
        "order": ORDER,
        "variants": runs,
        "io_hypercalls": IO_HYPERCALLS,
        "meta": lab.meta,
        **analysis,
    }
    (lab.out / "bench.json").write_text(json.dumps(bench, indent=2, default=str) + "\n")
    plot(analysis, lab.out / "bench.png")
    text = summarize(analysis)
    if spec.icount:
        text = f"QEMU -icount {spec.icount}: virtual time (docs/lab.md)\n{text}"
    (lab.out / "summary.txt").write_text(text + "\n")
    return BenchOutcome(lab.out, bench, text)


def _tmp_file(data: bytes) -> Path:
    import tempfile

    fd, name = tempfile.mkstemp(prefix="sgkit-bench-", suffix=".conf")
    with open(fd, "wb") as fh:
        fh.write(data)
    return Path(name)
