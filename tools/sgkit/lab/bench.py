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

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sgkit.build.kernels import kernel_modules
from sgkit.build.versions import DEFAULT_XEN
from sgkit.errors import KitError
from sgkit.images.guest_binaries import ethtool_files, iperf3_files
from sgkit.images.initramfs import guest_script
from sgkit.lab.net import LabExtras, Link, boot_net_lab, iperf_summary, parse_stats
from sgkit.report import protocol

DRIVERS = ("sgnet", "netfront")
TESTS = ("tcp", "tcp-reverse", "udp64", "udp1500", "ping")
DOMU = "sg-a"
LINK = Link("0", DOMU, 0, "10.77.1")
VIF_SUBNET = "10.78.1"
# Hypercalls that move or signal data (the rest is mostly timers and scheduling):
# 13 multicall, 20 grant_table_op, 32 event_channel_op, 47 sg_op.
IO_HYPERCALLS = {13: "multicall", 20: "grant_table_op", 32: "event_channel_op", 47: "sg_op"}


def bench_conf(seconds: int, port: int = 5300) -> str:
    return (
        f"BENCH_DOMU={DOMU}\n"
        f"BENCH_SGNET_DOMU={LINK.subnet}.2\n"
        f"BENCH_VIF_DOM0={VIF_SUBNET}.1\n"
        f"BENCH_VIF_DOMU={VIF_SUBNET}.2\n"
        f"BENCH_SECONDS={seconds}\n"
        f"BENCH_PORT={port}\n"
    )


def parse_console(text: str) -> dict[str, Any]:
    """The raw readings: snapshots, hypercall arrays, iperf3 runs, pings."""
    snaps: dict[tuple[str, str, str, str], dict[str, dict[str, int]]] = {}
    for m in protocol.BENCH_SNAP.iter(text):
        key = (m["drv"], m["test"], m["when"], m["side"])
        snaps.setdefault(key, {})[m["ifc"]] = parse_stats(m["rest"])
    calls: dict[tuple[str, str, str], list[int]] = {}
    for m in protocol.BENCH_HC.iter(text):
        values = [int(v) for v in m["values"].split()]
        calls[(m["drv"], m["test"], m["when"])] = values or [int(m["total"])]
    runs: dict[tuple[str, str], dict[str, Any]] = {}
    for m in protocol.BENCH_RUN.iter(text):
        entry: dict[str, Any] = {"rc": int(m["rc"])}
        try:
            entry.update(iperf_summary(json.loads(m["json"])))
        except (ValueError, TypeError, AttributeError) as e:
            entry["error"] = f"unreadable iperf3 JSON: {e}"
        runs[(m["drv"], m["test"])] = entry
    for m in protocol.BENCH_PING.iter(text):
        parts = m["rtt"].split("/")
        entry = {"rc": int(m["rc"])}
        if len(parts) >= 3:
            entry.update(rtt_min_ms=float(parts[0]), rtt_avg_ms=float(parts[1]))
            entry["rtt_max_ms"] = float(parts[2])
        runs[(m["drv"], "ping")] = entry
    ifs = protocol.BENCH_IF.first(text)
    names = {"sgnet": ifs["sgnet"], "netfront": ifs["netfront"]} if ifs else {}
    return {"snaps": snaps, "calls": calls, "runs": runs, "dom0_if": names}


def _domu_if(driver: str, ifs: Mapping[str, dict[str, int]]) -> str | None:
    prefix = "sgnet" if driver == "sgnet" else "eth"
    return next((name for name in sorted(ifs) if name.startswith(prefix)), None)


def _delta(before: Mapping[str, int], after: Mapping[str, int], key: str) -> int:
    return after.get(key, 0) - before.get(key, 0)


def measure(raw: dict[str, Any], driver: str, test: str) -> dict[str, Any]:
    """One test over one driver: its rates, and its costs per packet."""
    out: dict[str, Any] = dict(raw["runs"].get((driver, test), {"error": "no result line"}))
    snaps, calls = raw["snaps"], raw["calls"]
    dom0_if = raw["dom0_if"].get(driver)
    dom0 = [
        snaps.get((driver, test, w, "dom0"), {}).get(dom0_if or "", {}) for w in ("before", "after")
    ]
    domu_sides = [snaps.get((driver, test, w, "domU"), {}) for w in ("before", "after")]
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
    hc_before, hc_after = calls.get((driver, test, "before")), calls.get((driver, test, "after"))
    if hc_before and hc_after and len(hc_before) == len(hc_after):
        diff = [a - b for a, b in zip(hc_after, hc_before, strict=True)]
        costs["hypercalls_xen"] = sum(diff)
        costs["hypercalls_io"] = sum(diff[n] for n in IO_HYPERCALLS if n < len(diff))
        costs["hypercalls_by_number"] = {str(n): v for n, v in enumerate(diff) if v}
    if driver == "sgnet":
        own = sum(
            _delta(*side, k) for side in (dom0, domu) for k in ("tx_hypercalls", "rx_hypercalls")
        )
        costs["hypercalls_driver"] = own
    if packets:
        interrupts = irq_dom0 + (irq_domu or 0)
        costs["interrupts_per_packet"] = round(interrupts / packets, 3)
        for key in ("hypercalls_io", "hypercalls_xen", "hypercalls_driver"):
            if key in costs:
                costs[key.replace("hypercalls_", "hypercalls_per_packet_")] = round(
                    costs[key] / packets, 3
                )
    out["costs"] = costs
    return out


# The figures compared (metric, unit, higher is better).  Costs per packet
# come from the UDP runs only: netfront/netback use GSO for TCP, so one of
# their "packets" there is up to 64 KiB while sgnet's is one MTU; TCP's
# cost is given per MB transferred instead.
METRICS = (
    ("tcp_mbps", "Mbit/s", True),
    ("tcp_reverse_mbps", "Mbit/s", True),
    ("udp64_pps", "packets/s", True),
    ("udp1500_pps", "packets/s", True),
    ("ping_rtt_ms", "ms", False),
    ("hypercalls_per_packet", "UDP, per packet", False),
    ("interrupts_per_packet", "UDP, per packet", False),
    ("hypercalls_per_mbyte", "TCP, per MB", False),
)


def _costs_over(
    tests: Mapping[str, dict[str, Any]], names: tuple[str, ...]
) -> tuple[int, int, int, int]:
    """packets, bytes received, I/O hypercalls, interrupts (both domains) over ``names``."""
    packets = nbytes = calls = interrupts = 0
    for test in names:
        run = tests.get(test, {})
        costs = run.get("costs") or {}
        if costs.get("packets") and "hypercalls_io" in costs:
            packets += costs["packets"]
            nbytes += run.get("received_bytes", 0)
            calls += costs["hypercalls_io"]
            interrupts += costs["interrupts_dom0"] + (costs["interrupts_domU"] or 0)
    return packets, nbytes, calls, interrupts


def headline(tests: Mapping[str, dict[str, Any]]) -> dict[str, float | None]:
    """The compared figures of one driver."""

    def get(test: str, key: str) -> float | None:
        value = tests.get(test, {}).get(key)
        return float(value) if isinstance(value, int | float) else None

    packets, _, calls, interrupts = _costs_over(tests, ("udp64", "udp1500"))
    _, tcp_bytes, tcp_calls, _ = _costs_over(tests, ("tcp", "tcp-reverse"))
    return {
        "tcp_mbps": get("tcp", "received_mbps"),
        "tcp_reverse_mbps": get("tcp-reverse", "received_mbps"),
        "udp64_pps": get("udp64", "received_pps"),
        "udp1500_pps": get("udp1500", "received_pps"),
        "ping_rtt_ms": get("ping", "rtt_avg_ms"),
        "hypercalls_per_packet": round(calls / packets, 3) if packets else None,
        "interrupts_per_packet": round(interrupts / packets, 3) if packets else None,
        "hypercalls_per_mbyte": round(tcp_calls / (tcp_bytes / 1e6), 1) if tcp_bytes else None,
    }


def ratios(heads: Mapping[str, Mapping[str, float | None]]) -> dict[str, float | None]:
    """sgnet / netfront for every figure."""
    out: dict[str, float | None] = {}
    for metric, _, _ in METRICS:
        a, b = heads["sgnet"].get(metric), heads["netfront"].get(metric)
        out[metric] = round(a / b, 3) if a is not None and b else None
    return out


def analyse(text: str) -> dict[str, Any]:
    raw = parse_console(text)
    per_driver = {d: {t: measure(raw, d, t) for t in TESTS} for d in DRIVERS}
    heads = {d: headline(per_driver[d]) for d in DRIVERS}
    return {
        "tests": per_driver,
        "headline": heads,
        "ratios_sgnet_over_netfront": ratios(heads),
        "interfaces_dom0": raw["dom0_if"],
        "complete": protocol.BENCH_END.seen(text),
    }


def plot(analysis: Mapping[str, Any], out: Path) -> Path:
    """A bar chart per figure, sgnet next to netfront."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    heads = analysis["headline"]
    fig, axes = plt.subplots(2, 4, figsize=(13, 7))
    axes = axes.flatten()
    for ax, (metric, unit, higher) in zip(axes, METRICS, strict=True):
        values = [heads[d].get(metric) or 0.0 for d in DRIVERS]
        ax.bar(DRIVERS, values, color=["tab:blue", "tab:orange"])
        ax.set_title(metric.replace("_", " "), fontsize=9)
        ax.set_ylabel(
            unit + (" (higher is better)" if higher else " (lower is better)"), fontsize=8
        )
        ax.tick_params(labelsize=8)
        ratio = analysis["ratios_sgnet_over_netfront"].get(metric)
        if ratio is not None:
            ax.set_xlabel(f"sgnet/netfront = {ratio:.2f}", fontsize=8)
    fig.suptitle("sgnet vs netfront/netback, dom0 <-> domU, QEMU TCG (ratios matter)", fontsize=10)
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
    heads, ratio = analysis["headline"], analysis["ratios_sgnet_over_netfront"]
    lines = [f"{'figure':36} {'sgnet':>12} {'netfront':>12} {'sgnet/netfront':>15}"]
    for metric, unit, _ in METRICS:
        a, b, r = heads["sgnet"].get(metric), heads["netfront"].get(metric), ratio.get(metric)
        lines.append(
            f"{metric + ' (' + unit + ')':36.36} {_fmt(a):>12} {_fmt(b):>12} {_fmt(r):>15}"
        )
    if not analysis["complete"]:
        lines.append(
            f"warning: the bench did not reach {protocol.BENCH_END.name} (see console.log)"
        )
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def netfront_module(release: str) -> Path:
    found = list((kernel_modules(release) / "kernel" / "drivers" / "net").glob("xen-netfront.ko"))
    if not found:
        raise KitError(f"no xen-netfront.ko in the modules of {release}")
    return found[0]


def run_bench_net(
    xen: str = DEFAULT_XEN,
    source: str = "",
    kernel: str | None = None,
    accel: str | None = None,
    timeout_s: float = 1500.0,
    seconds: int = 4,
    out_root: Path | None = None,
) -> BenchOutcome:
    """One lab boot, both drivers over dom0 <-> sg-a; write bench.json and bench.png."""
    from sgkit.build import driver_build

    release = driver_build.build(kernel=kernel, xen=xen).headers.release
    conf = bench_conf(seconds).encode()
    conf_file = _tmp_file(conf)
    extras = LabExtras(
        domu_files={
            "lib/sgkit/xen-netfront.ko": netfront_module(release),
            "lib/sgkit/bench-net.sh": guest_script("bench-net.sh"),
            "lib/sgkit/bench-snap.sh": guest_script("bench-snap.sh"),
            "etc/sgkit/bench.conf": conf_file,
            **iperf3_files(),
            **ethtool_files(),
        },
        dom0_files={
            "lab/bench-net.sh": guest_script("bench-net.sh"),
            "lab/bench-snap.sh": guest_script("bench-snap.sh"),
            "etc/sgkit/bench.conf": conf,
        },
        settings={"DOMU_CFG_EXTRA": 'vif = [ "script=/bin/true" ]'},
    )
    started = time.time()
    try:
        lab = boot_net_lab(
            "bench-net",
            xen,
            source,
            kernel,
            accel,
            timeout_s,
            links=(LINK,),
            reload=(),
            iperf=(),
            out_root=out_root,
            extras=extras,
        )
    finally:
        conf_file.unlink(missing_ok=True)
    analysis = analyse(lab.console.dom0)
    bench = {
        "started": lab.started,
        "duration_s": round(time.time() - started, 1),
        "verdict": lab.result.verdict.kind if lab.result.verdict else None,
        "seconds_per_run": seconds,
        "io_hypercalls": IO_HYPERCALLS,
        "meta": lab.meta,
        **analysis,
    }
    (lab.out / "bench.json").write_text(json.dumps(bench, indent=2, default=str) + "\n")
    plot(analysis, lab.out / "bench.png")
    text = summarize(analysis)
    (lab.out / "summary.txt").write_text(text + "\n")
    return BenchOutcome(lab.out, bench, text)


def _tmp_file(data: bytes) -> Path:
    import tempfile

    fd, name = tempfile.mkstemp(prefix="sgkit-bench-", suffix=".conf")
    with open(fd, "wb") as fh:
        fh.write(data)
    return Path(name)
