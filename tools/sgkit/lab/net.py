"""lab.net: sgnet links between the lab's domains, and ping over them.

The same lab as ``sgkit.lab.multidomain`` (patched Xen, Debian dom0 with xl, PV
domUs with a busybox initramfs), with the sgnet module instead of sgtest.
dom0 connects each link of ``DEFAULT_LINKS`` with ``sgnet-connect.sh`` (the
xenstore nodes libxl would write for a vif), every domain configures its end
and pings the other end (``tools/sgkit/images/guest/sgnet-lab.sh`` drives both sides from
``/etc/sgkit/net.conf``); a link with an MTU (sg-a <-> sg-b, 65535) is also
pinged with the largest payload.  dom0 then runs iperf3 against sg-a (TCP
with and without TSO, UDP, a flood), fills its own receive pool with the
debugfs ``rx_paused`` switch, reloads its sgnet under sg-a's Connected
frontend and destroys sg-a mid-transfer.  After the domUs are destroyed,
dom0 reports the carrier of its links (it must be off) and reloads sgnet.

Results go to ``results/lab-net-<stamp>/``, like lab.test's: one Result per
ping and per interface, plus host checks (domUs finished, free memory
returned, dom0's links lost carrier when the peer went away, sgnet reloaded).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sgkit import progress
from sgkit.build.driver_build import SGNET_MODULES
from sgkit.build.kernels import kernel_modules
from sgkit.errors import KitError
from sgkit.images.dom0_rootfs import module_closure
from sgkit.images.guest_binaries import ethtool_files, iperf3_files
from sgkit.images.initramfs import build_initramfs, guest_script
from sgkit.lab.boot import LabConsole, boot_lab, run_dir
from sgkit.lab.qemu import BootResult
from sgkit.lab.spec import LabParts, LabSpec, prepare
from sgkit.paths import results_dir
from sgkit.report import checks, protocol, publish
from sgkit.report.checks import domu_states, failed_steps, free_memory

SUITE = "sgnet"


@dataclass(frozen=True)
class Link:
    backend: str  # "0" for dom0, else a domU name
    frontend: str
    devid: int
    subnet: str  # first three octets; the backend is .1, the frontend .2
    mtu: int | None = None  # both ends set it and ping with the largest payload

    def domain(self, end: str) -> str:
        return "dom0" if end == "0" else end


# dom0 <-> sg-a (MTU 1500: TCP there shows TSO), then sg-a (backend) <->
# sg-b at the largest MTU (ETH_MAX_MTU: one 65549-byte frame per ping).
DEFAULT_LINKS = (
    Link("0", "sg-a", 0, "10.77.1"),
    Link("sg-a", "sg-b", 1, "10.77.2", mtu=65535),
)

# A TCP run "with TSO in effect": frames well above one MTU on average.
TSO_MIN_FRAME_BYTES = 3000

# A paused receiver that resumes with N frames queued: at most N/8 hypercalls
# to return its buffers and transfer the rest (resume_hypercalls).
RESUME_FRAMES_PER_CALL = 8
# Receive buffers per link end: at most this many frames reach a paused receiver.
RX_BUFFERS = 64

# Domains that unload and reload sgnet after their first pings.
DEFAULT_RELOAD = ("sg-b",)

# The lifecycle cases (issue 13) take sg-b: it gets a link to dom0 of its own
# (dom0's backend must drop the old domid's device and connect the new one
# after a restore) and a vif bridged in dom0 to sg-a's sgnet link.
LIFE_DOMAIN = "sg-b"
LIFE_LINK = Link("0", LIFE_DOMAIN, 2, "10.77.3")

# Domains (frontends of a link to dom0) that run an iperf3 server: dom0 runs
# TCP and UDP both ways, a UDP flood, and destroys them mid-transfer.
DEFAULT_IPERF = ("sg-a",)
# The iperf3 runs dom0 makes to each server (sgnet-lab.sh), in order.
IPERF_TESTS = ("tcp", "tcp-reverse", "tcp-nooffload", "udp", "udp-reverse", "flood")

_RTT = re.compile(r"min/avg/max(?:/mdev)? = (?P<values>[\d./]+) ms")
# Xen's hypercall numbers of sg_op and multicall (xenperf's "hypercalls" array is
# per number; a multicall's entries are not counted under their own numbers).
SG_OP_HYPERCALL = 47
MULTICALL_HYPERCALL = 13
_OOPS = re.compile(r"^.*(?:\bBUG:|\bOops\b|WARNING: CPU:|Kernel panic).*$", re.MULTILINE)
# The stack's own transmit watchdog (dev_watchdog): a WARN, then ndo_tx_timeout.
_STACK_TX_WATCHDOG = re.compile(r"NETDEV WATCHDOG|WARNING: CPU:")


def iperf_addr(links: Sequence[Link], domain: str) -> str:
    """The address of ``domain`` on its link to dom0 (where its iperf3 server listens)."""
    for link in links:
        if link.backend == "0" and link.frontend == domain:
            return f"{link.subnet}.2"
    raise KitError(f"iperf3 server {domain!r} has no sgnet link to dom0")


@dataclass(frozen=True)
class Lifecycle:
    """The lifecycle cases of lab.net (issue 13), all on ``domain``: it has a vif (netfront,
    ``vif_addr`` on the subnet of dom0's link to an iperf domain), which dom0 bridges with
    that sgnet link for an iperf3 --bidir to ``bridge_to``; then dom0 saves and restores it
    (its links live) and shuts it down with xl."""

    domain: str
    vif_addr: str  # with its prefix
    bridge_to: str


def lifecycle(links: Sequence[Link], domain: str, iperf_domain: str) -> Lifecycle:
    """``domain``'s lifecycle cases, bridged to ``iperf_domain``'s link to dom0."""
    to = iperf_addr(links, iperf_domain)
    subnet = to.rsplit(".", 1)[0]
    if not any(domain in (link.backend, link.frontend) for link in links):
        raise KitError(f"lifecycle domain {domain!r} has no sgnet link")
    return Lifecycle(domain, f"{subnet}.3/24", to)


def net_conf(
    links: Sequence[Link],
    reload: Sequence[str] = (),
    iperf: Sequence[str] = (),
    life: Lifecycle | None = None,
) -> str:
    lines = []
    for link in links:
        lines.append(f"link {link.backend} {link.frontend} {link.devid}")
    for link in links:
        if link.mtu:
            lines.append(f"mtu {link.devid} {link.mtu}")
    for link in links:
        be, fe = link.domain(link.backend), link.domain(link.frontend)
        lines.append(f"addr {be} {link.devid} {link.subnet}.1/24 {link.subnet}.2")
        lines.append(f"addr {fe} {link.devid} {link.subnet}.2/24 {link.subnet}.1")
    lines += [f"reload {name}" for name in reload]
    lines += [f"iperf {name} {iperf_addr(links, name)}" for name in iperf]
    if life:
        lines.append(f"vif {life.domain} {life.vif_addr}")
        lines.append(f"bridge {life.domain} {life.bridge_to}")
        lines.append(f"life {life.domain}")
    return "\n".join(lines) + "\n"


def domus_of(links: Sequence[Link]) -> list[str]:
    names: list[str] = []
    for link in links:
        for end in (link.backend, link.frontend):
            if end != "0" and end not in names:
                names.append(end)
    return names


def parse_stats(rest: str) -> dict[str, int]:
    out = {}
    for word in rest.split():
        key, _, value = word.partition("=")
        if value.isdigit():
            out[key] = int(value)
    return out


def ping_rtt(text: str, line_no: int) -> str | None:
    """The rtt summary printed just before SGKIT-PING line ``line_no``."""
    lines = text.splitlines()
    for line in reversed(lines[max(0, line_no - 12) : line_no]):
        if found := _RTT.search(line):
            return found["values"]
    return None


def iperf_summary(data: dict[str, Any]) -> dict[str, Any]:
    """What one ``iperf3 -J`` run measured: rates in Mbit/s, UDP packets and loss."""
    if "error" in data:
        return {"error": data["error"]}
    end = data.get("end", {})
    udp = data.get("start", {}).get("test_start", {}).get("protocol") == "UDP"
    sent, received = end.get("sum_sent", {}), end.get("sum_received", {})
    out: dict[str, Any] = {
        "protocol": "udp" if udp else "tcp",
        "reverse": bool(data.get("start", {}).get("test_start", {}).get("reverse")),
        "seconds": round(float(sent.get("seconds", 0.0)), 2),
        "sent_mbps": round(sent.get("bits_per_second", 0.0) / 1e6, 3),
        "received_mbps": round(received.get("bits_per_second", 0.0) / 1e6, 3),
        "received_bytes": int(received.get("bytes", 0)),
    }
    if udp:
        out["packets"] = int(received.get("packets", sent.get("packets", 0)))
        out["lost_packets"] = int(received.get("lost_packets", 0))
        out["lost_percent"] = round(float(received.get("lost_percent", 0.0)), 2)
        seconds = float(received.get("seconds") or 0.0)
        delivered = out["packets"] - out["lost_packets"]
        out["received_pps"] = round(delivered / seconds, 1) if seconds else 0.0
    else:
        out["retransmits"] = int(sent.get("retransmits", 0))
    return out


def iperf_results(text: str) -> dict[str, dict[str, Any]]:
    """Every SGKIT-IPERF line of dom0: ``test -> {rc, to, ...summary}``."""
    found: dict[str, dict[str, Any]] = {}
    for m in protocol.IPERF.iter(text):
        entry: dict[str, Any] = {"rc": int(m["rc"]), "to": m["to"]}
        try:
            entry.update(iperf_summary(json.loads(m["json"])))
        except (ValueError, TypeError, AttributeError) as e:
            entry["error"] = f"unreadable iperf3 JSON: {e}"
        found[m["test"]] = entry
    return found


def counter_delta(
    stats: dict[str, dict[str, int]], before: str, after: str, key: str
) -> int | None:
    """``after - before`` of counter ``key`` between two SGKIT-NETSTAT tags (any interface)."""
    b = next((v for k, v in stats.items() if k.startswith(before + "/")), None)
    a = next((v for k, v in stats.items() if k.startswith(after + "/")), None)
    if a is None or b is None or key not in a or key not in b:
        return None
    return a[key] - b[key]


@dataclass(frozen=True)
class NetOutcome:
    report: publish.RunReport
    results: Path
    text_summary: str


def net_results(
    console: LabConsole,
    links: Sequence[Link],
    reload: Sequence[str] = (),
    iperf: Sequence[str] = (),
) -> tuple[list[publish.Result], dict[str, Any]]:
    """Results for every expected interface and ping, and what was measured."""
    texts = {"dom0": console.dom0, **console.guests}
    results: list[publish.Result] = []
    measured: dict[str, Any] = {"pings": {}, "bursts": {}, "stats": {}, "interfaces": {}}
    expected = []
    for link in links:
        be, fe = link.domain(link.backend), link.domain(link.frontend)
        expected.append((be, link.devid, f"{link.subnet}.2", link.mtu))
        expected.append((fe, link.devid, f"{link.subnet}.1", link.mtu))
    for dom, devid, peer, mtu in expected:
        text = texts.get(dom, "")
        bigpings = [m for m in protocol.BIGPING.iter(text) if m["src"] == dom and m["dst"] == peer]
        nets = [m for m in protocol.NET.iter(text) if m["dom"] == dom and int(m["devid"]) == devid]
        pings = [
            (m, text.count("\n", 0, m.start()))
            for m in protocol.PING.iter(text)
            if m["src"] == dom and m["dst"] == peer
        ]
        rounds = 2 if dom in reload else 1
        for n in range(rounds):
            suffix = "" if n == 0 else "_after_reload"
            if len(nets) <= n:
                results.append(
                    _res(dom, f"link{devid}_up{suffix}", False, f"no {protocol.NET.name} line")
                )
            else:
                m = nets[n]
                ok = m["state"] == "up" and m["carrier"] == "1"
                why = f"interface {m['ifc']} state={m['state']} carrier={m['carrier']}"
                results.append(_res(dom, f"link{devid}_up{suffix}", ok, why))
                measured["interfaces"][f"{dom}/{devid}"] = m["ifc"]
            if len(pings) <= n:
                results.append(
                    _res(dom, f"ping_{peer}{suffix}", False, f"no {protocol.PING.name} line")
                )
                continue
            m, line_no = pings[n]
            rtt = ping_rtt(text, line_no)
            measured["pings"][f"{dom}->{peer}{suffix}"] = {"rc": int(m["rc"]), "rtt_ms": rtt}
            why = f"ping exited {m['rc']}"
            results.append(_res(dom, f"ping_{peer}{suffix}", m["rc"] == "0", why))
            if mtu:
                shown = nets[n]["mtu"] if len(nets) > n else None
                found = bigpings[n : n + 1]
                results.append(bigping_check(dom, peer, mtu, found, suffix, shown))
    bursts = list(protocol.BURST.iter(console.dom0))
    for text in texts.values():
        for m in protocol.NETSTAT.iter(text):
            measured["stats"][f"{m['dom']}/{m['ifc']}"] = parse_stats(m["rest"])
    for m in bursts:
        sent, received = int(m["sent"]), int(m["received"])
        arrived = counter_delta(
            measured["stats"], f"{m['src']}-preburst", f"{m['src']}-postburst", "rx_packets"
        )
        measured["bursts"][f"{m['src']}->{m['dst']}"] = {
            "sent": sent,
            "received": received,
            "arrived_at_sgnet": arrived,
        }
        results.append(burst_check(m["src"], m["dst"], m["rc"], sent, received, arrived))
    for dom in reload:
        found = [m for m in protocol.RELOAD.iter(texts.get(dom, "")) if m["dom"] == dom]
        ok = bool(found) and found[-1]["u"] == found[-1]["r"] == found[-1]["i"] == "0"
        why = found[-1].group(0) if found else f"no {protocol.RELOAD.name} line"
        results.append(_res(dom, "unload_reload", ok, why))
    if iperf:
        results += _iperf_checks(console.dom0, measured)
    return results, measured


def burst_check(
    src: str, dst: str, rc: str, sent: int, received: int, arrived: int | None
) -> publish.Result:
    """Every echo of the burst got its reply through sgnet.

    ping counting every reply passes.  Under load ping's socket can
    overflow when many replies come up in one poll (``pipe`` near 200): then
    the check passes only if dom0's sgnet received at least as many frames
    as ping sent, i.e. the driver delivered every reply to the stack.
    """
    why = f"ping burst: rc={rc}, {received} of {sent} replies"
    if arrived is not None:
        why += f"; dom0's sgnet received {arrived} frames meanwhile"
    ok = sent > 0 and (
        (rc == "0" and received == sent) or (arrived is not None and arrived >= sent)
    )
    return _res(src, f"burst_{dst}", ok, why)


def bigping_check(
    dom: str,
    peer: str,
    mtu: int,
    found: Sequence[re.Match[str]],
    suffix: str = "",
    shown: str | None = None,
) -> publish.Result:
    """A ping whose every packet is one frame of ``mtu`` bytes of IP got its replies, with the
    interface's MTU (``shown``, from its SGKIT-NET line) really ``mtu``: else the kernel would
    fragment the ping and it would pass at any MTU."""
    name = f"bigping_{peer}{suffix}"
    if not found:
        return _res(dom, name, False, f"no {protocol.BIGPING.name} line")
    m = found[0]
    size = int(m["size"])
    ok = m["rc"] == "0" and size == mtu - 28 and shown == str(mtu)
    why = f"ping -s {size} exited {m['rc']}; interface MTU {shown or '?'} (want {mtu})"
    return _res(dom, name, ok, why)


def tso_checks(stats: dict[str, dict[str, int]], dom0: str) -> list[publish.Result]:
    """TCP over dom0's link with TSO (and the reverse run's GSO frames received), then with
    ``ethtool -K tso off tx off``: no GSO and no partial checksums."""

    def delta(before: str, after: str, key: str) -> int:
        return counter_delta(stats, before, after, key) or 0

    out = []
    packets = delta("dom0-pretcp", "dom0-posttcp", "tx_packets")
    nbytes = delta("dom0-pretcp", "dom0-posttcp", "tx_bytes")
    gso = delta("dom0-pretcp", "dom0-posttcp", "tx_gso_packets")
    mean = nbytes // packets if packets else 0
    ok = gso > 0 and mean >= TSO_MIN_FRAME_BYTES
    why = f"TCP dom0 -> domU: {packets} frames, {nbytes} bytes ({mean} per frame), {gso} GSO"
    out.append(_res("dom0", "tcp_tso", ok, why))
    gso = delta("dom0-posttcp", "dom0-posttcprev", "rx_gso_packets")
    csum = delta("dom0-posttcp", "dom0-posttcprev", "rx_csum_partial")
    ok = gso > 0 and csum > 0
    why = f"TCP domU -> dom0: dom0 received {gso} GSO frames, {csum} with partial checksums"
    out.append(_res("dom0", "tcp_reverse_gso_received", ok, why))
    found = list(protocol.ETHTOOL_K.iter(dom0))
    if not found:
        out.append(_res("dom0", "ethtool_offload_off", False, f"no {protocol.ETHTOOL_K.name} line"))
        return out
    m = found[-1]
    packets = delta("dom0-preoff", "dom0-postoff", "tx_packets")
    gso = delta("dom0-preoff", "dom0-postoff", "tx_gso_packets")
    csum = delta("dom0-preoff", "dom0-postoff", "tx_csum_partial")
    ok = (m["off"], m["tso"], m["tx"], m["on"]) == ("0", "off", "off", "0")
    ok = ok and packets > 0 and gso == 0 and csum == 0
    why = (
        f"ethtool -K {m['ifc']} tso off tx off rc={m['off']} (shown tso={m['tso']}"
        f" tx={m['tx']}), on again rc={m['on']}; TCP meanwhile: {packets} frames,"
        f" {gso} GSO, {csum} partial checksums"
    )
    out.append(_res("dom0", "ethtool_offload_off", ok, why))
    return out


def inband_return_checks(stats: dict[str, dict[str, int]]) -> list[publish.Result]:
    """sgnet-3's in-band buffer return (docs/driver.md, **Buffer return**) over the two TCP
    runs, from dom0's counters: while dom0 sends, the domU re-arms the buffers it consumed
    inside the transfers of its ACKs and names them in their headers, and dom0 takes every
    name as one of a buffer it had filled (``peer_returned``; ``peer_return_invalid`` counts
    headers naming one it had not: none from an honest peer); while the domU sends, dom0
    does the same (``rx_returned_inband``, none of those rearms failing)."""

    def delta(before: str, after: str, key: str) -> int | None:
        return counter_delta(stats, before, after, key)

    named = delta("dom0-pretcp", "dom0-posttcp", "peer_returned")
    lies = delta("dom0-pretcp", "dom0-posttcprev", "peer_return_invalid")
    ok = named is not None and named > 0 and lies == 0
    why = (
        f"TCP dom0 -> domU: the domU named {named} of dom0's buffers returned in its frames'"
        f" headers; headers naming a buffer dom0 had not filled, over both TCP runs: {lies}"
    )
    out = [_res("dom0", "tcp_inband_returns_received", ok, why)]
    returned = delta("dom0-posttcp", "dom0-posttcprev", "rx_returned_inband")
    errors = delta("dom0-posttcp", "dom0-posttcprev", "rx_return_inband_errors")
    oob = delta("dom0-posttcp", "dom0-posttcprev", "rx_returned")
    ok = returned is not None and returned > 0 and errors == 0
    why = (
        f"TCP domU -> dom0: dom0 re-armed {returned} buffers inside its own transfers"
        f" ({errors} failed), {oob} out-of-band"
    )
    out.append(_res("dom0", "tcp_inband_returns_sent", ok, why))
    return out


def packing_checks(
    stats: dict[str, dict[str, int]],
) -> tuple[list[publish.Result], dict[str, int | None]]:
    """sgnet-4's packed records (docs/driver.md, **Packed records**), counted by the drivers:

    - ``udp_frames_packed``: over the two paced UDP runs (1400-byte datagrams, dom0's
      counters from ``dom0-postoff`` to ``dom0-preflood``; the domU's sender packs the
      frames of one transfer batch into one of dom0's buffers), dom0 received more frames
      (``rx_packets``) than it took filled buffers (``rx_buffers``), ``rx_frames_packed``
      counted the records after a buffer's first, and none was an error (``rx_errors``);
    - ``flood_frames_packed``: over the unpaced flood (``dom0-preflood`` to
      ``dom0-postflood``) dom0's sender put frames after others in one buffer
      (``tx_frames_packed``)."""

    def delta(before: str, after: str, key: str) -> int | None:
        return counter_delta(stats, before, after, key)

    seen: dict[str, int | None] = {
        "udp_rx_packets": delta("dom0-postoff", "dom0-preflood", "rx_packets"),
        "udp_rx_buffers": delta("dom0-postoff", "dom0-preflood", "rx_buffers"),
        "udp_rx_frames_packed": delta("dom0-postoff", "dom0-preflood", "rx_frames_packed"),
        "udp_rx_errors": delta("dom0-postoff", "dom0-preflood", "rx_errors"),
        "flood_tx_packets": delta("dom0-preflood", "dom0-postflood", "tx_packets"),
        "flood_tx_frames_packed": delta("dom0-preflood", "dom0-postflood", "tx_frames_packed"),
    }
    frames, buffers = seen["udp_rx_packets"], seen["udp_rx_buffers"]
    packed = seen["udp_rx_frames_packed"]
    ok = (
        frames is not None
        and buffers is not None
        and packed is not None
        and frames > buffers > 0
        and packed > 0
        and seen["udp_rx_errors"] == 0
    )
    why = (
        f"UDP runs: dom0 received {frames} frames in {buffers} buffers"
        f" ({packed} after another in its buffer), rx_errors {seen['udp_rx_errors']}"
    )
    out = [_res("dom0", "udp_frames_packed", ok, why)]
    sent, tx_packed = seen["flood_tx_packets"], seen["flood_tx_frames_packed"]
    ok = sent is not None and tx_packed is not None and sent > 0 and tx_packed > 0
    why = f"flood: dom0 sent {sent} frames, {tx_packed} of them after another in one buffer"
    out.append(_res("dom0", "flood_frames_packed", ok, why))
    return out, seen


def napi_deferral_check(stats: dict[str, dict[str, int]]) -> publish.Result:
    """The kernel's NAPI deferral on dom0's end (docs/driver.md, **Interrupt mitigation**)
    over the UDP run toward dom0: polls that took frames ended deferred
    (``rx_polls_deferred``: napi_complete_done said no, so the port stayed masked and the
    kernel polled again from its timer), and dom0 polled more often than it was interrupted.
    Both hold by construction once a frame arrives: every poll that takes one and stays under
    its budget ends deferred and is followed by a timer poll no upcall started, and with the
    late EOI no upcall comes while a poll is due."""

    def delta(key: str) -> int | None:
        return counter_delta(stats, "dom0-predefer", "dom0-postdefer", key)

    rx, polls = delta("rx_packets"), delta("rx_polls")
    deferred, irqs = delta("rx_polls_deferred"), delta("interrupts")
    if rx is None or polls is None or deferred is None or irqs is None:
        why = "no dom0-predefer/dom0-postdefer counters (rx_polls_deferred needs this driver)"
        return _res("dom0", "udp_reverse_napi_deferral", False, why)
    ok = rx > 0 and deferred > 0 and polls > irqs
    why = (
        f"UDP domU -> dom0 with napi_defer_hard_irqs 2, gro_flush_timeout 2 ms on dom0's end:"
        f" {rx} frames, {polls} polls of which {deferred} ended deferred, {irqs} upcalls"
    )
    return _res("dom0", "udp_reverse_napi_deferral", ok, why)


def tcp_order_check(dom0: str, measured: dict[str, Any]) -> publish.Result:
    """dom0's TCP saw no segment out of order over the two TCP runs.

    sgnet delivers frames in the order they were sent (docs/driver.md): the
    receiver takes its buffers in ring order and the sender retries a busy
    one rather than skipping it.  ``TCPOFOQueue`` counts segments dom0's TCP
    queued out of order (as the receiver of tcp-reverse); the sender-side
    reordering counters are recorded in ``measured["tcp_reorder"]``.
    """
    snaps = {m["when"]: parse_stats(m["rest"]) for m in protocol.TCPEXT.iter(dom0)}
    before, after = snaps.get("pretcp"), snaps.get("posttcp")
    if before is None or after is None:
        return _res(
            "dom0", "tcp_in_order", False, f"no {protocol.TCPEXT.name} pretcp/posttcp lines"
        )
    delta = {k: after[k] - before[k] for k in after if k in before}
    measured["tcp_reorder"] = delta
    if "TCPOFOQueue" not in delta:
        return _res("dom0", "tcp_in_order", False, "dom0's netstat has no TCPOFOQueue")
    why = "dom0 over both TCP runs: " + ", ".join(f"{k}+{v}" for k, v in sorted(delta.items()))
    return _res("dom0", "tcp_in_order", delta["TCPOFOQueue"] == 0, why)


def _iperf_checks(dom0: str, measured: dict[str, Any]) -> list[publish.Result]:
    """iperf3 runs completed with data through; the flood filled the peer's pool."""
    out = []
    runs = measured["iperf"] = iperf_results(dom0)
    for test in IPERF_TESTS:
        run = runs.get(test)
        if run is None:
            out.append(_res("dom0", f"iperf_{test}", False, f"no {protocol.IPERF.name} line"))
            continue
        ok = run["rc"] == 0 and "error" not in run and run.get("received_mbps", 0) > 0
        why = f"iperf3 rc={run['rc']} {run.get('error') or ''}".strip()
        out.append(_res("dom0", f"iperf_{test}", ok, why))
    stats = measured["stats"]
    out += tso_checks(stats, dom0)
    out += inband_return_checks(stats)
    checks, measured["packing"] = packing_checks(stats)
    out += checks
    out.append(napi_deferral_check(stats))
    out.append(tcp_order_check(dom0, measured))
    # What the unpaced flood did (informative: whether the receiver falls
    # behind depends on scheduling; the paused burst below decides).
    measured["flood"] = {
        key: counter_delta(stats, "dom0-preflood", "dom0-postflood", key)
        for key in ("tx_packets", "tx_busy", "tx_stalls", "credit_requests", "tx_dropped")
    }
    pings = [m for m in protocol.FLOOD_PING.iter(dom0)]
    ok = bool(pings) and all(m["rc"] == "0" for m in pings)
    why = "ping after the flood: " + (", ".join(m["rc"] for m in pings) or "not run")
    out.append(_res("dom0", "ping_after_flood", ok, why))
    domu_if = next(
        (
            ifc
            for key, ifc in measured["interfaces"].items()
            if key.endswith("/0") and key != "dom0/0"
        ),
        None,
    )
    checks, measured["paused_burst"] = paused_burst_checks(stats, dom0, domu_if)
    out += checks
    checks, measured["paused_oneway"] = paused_oneway_checks(stats, dom0, domu_if)
    out += checks
    checks, measured["hostile"] = hostile_checks(stats, dom0)
    out += checks
    check, measured["ringparam"] = ringparam_check(dom0)
    out.append(check)
    out.append(backend_reload_check(dom0))
    return out


# The hostile-peer cases dom0 runs against the iperf domain (sgnet-lab.sh
# sgnet_hostile), in order, and dom0's counters reported for each.
HOSTILE_CASES = ("stall", "credit", "storm", "badhdr", "race", "die")
HOSTILE_COUNTERS = (
    "tx_timeouts",
    "tx_dropped",
    "tx_stalls",
    "credit_requests",
    "rx_errors",
    "rx_missed_errors",
    "rx_hdr_changed",
    "rx_packets",
    "interrupts",
    "rx_spurious",
    "credit_grants",
    "credit_requests_received",
    "credit_rearms",
    "tx_errors",
    "peer_return_invalid",
)


def hostile_checks(
    stats: dict[str, dict[str, int]], dom0: str
) -> tuple[list[publish.Result], dict[str, Any]]:
    """A domU played a hostile sgnet peer against dom0 (issue 13), one case at a time; dom0
    stayed up (the cases after, ``dom0_no_oops``), its counters show what it dropped, and the
    link carried a ping again once the peer behaved.

    - ``stall``: the peer kept dom0's frames (debugfs rx_paused) and granted no credit for
      20 s; dom0's stall watchdog (3 s) must have turned the carrier off and freed the queued frames
      (``tx_timeouts``, ``tx_dropped``), and the carrier must come back with the grant.
    - ``credit``: the peer keeps dom0's frames as in ``stall`` and triggers dom0's credit grant
      address every millisecond for 12 s (sghostile mode=credit) without re-arming anything:
      every grant makes dom0 retry and ask again (``tx_stalls`` more than the watchdog's probes
      alone, more than one a second), yet only an accepted frame is progress, so dom0's own
      watchdog must turn the carrier off and free the queue (``tx_timeouts``, ``tx_dropped``)
      (``off``) by itself, not by the stack's backstop (``watchdog_timeo``, twice the stall
      timeout at connect: 120 s here), which would WARN first: no ``NETDEV WATCHDOG`` or
      ``WARNING`` in dom0's console during the case.
      ``off_after`` (shell loop rounds from the requests to carrier off) is reported.  Bounded:
      at most one retry per grant, plus a probe a second (``tx_stalls`` <= grants + seconds).
      The carrier must come back once the peer resumes.
    - ``storm``: 100 rounds of triggers of all 64 receive buffers and both credit addresses;
      buffers that looked full held no frame (``rx_errors``).
    - ``badhdr``: a frame in every free buffer, each with a header sgnet never offered; every
      one that went through is an error in dom0 (``rx_errors`` at least the frames sent).
      One kind in 14 is a record chain (sgnet-4): a valid first record whose
      ``SGNET_HDR_F_MORE`` leads to a second that runs 8 bytes past the end of dom0's
      buffer; dom0 delivers the first (``rx_packets`` at least ``chained``, the chains that
      went through) and refuses the second (it is the error counted for that buffer).
      Each also names all 64 of the peer's buffers returned: dom0 takes at most
      ``SGNET_PEER_OUT_MAX`` (4) names per buffer it has not had named, so the headers after
      the first few lie (``peer_return_invalid`` at least 1).
    - ``race``: 20 rounds of triggering every buffer first, then writing a header and a frame
      into each, so that the header and length change while dom0 copies them; buffers read
      before the write are errors in dom0 (``rx_errors``); dom0 counts, without using it,
      a header that differs from its copy after the frame was copied (``rx_hdr_changed``).
    - ``die``: the peer's end goes away (unbound: its buffers unregistered) while dom0 sends,
      and comes back 5 s later; dom0's carrier must go off and come back.
    CPU time of both domains over each case is reported, not required."""
    found = {m["case"]: m for m in protocol.HOSTILE.iter(dom0)}
    # Where each case's counters were first read (its console starts there).
    begins = {m["dom"]: m.start() for m in protocol.NETSTAT.iter(dom0)}
    out: list[publish.Result] = []
    measured: dict[str, Any] = {}
    for case in HOSTILE_CASES:
        m = found.get(case)
        if m is None:
            out.append(_res("dom0", f"hostile_{case}", False, f"no {protocol.HOSTILE.name} line"))
            continue
        seen: dict[str, Any] = {
            k: counter_delta(stats, f"dom0-prehostile-{case}", f"dom0-posthostile-{case}", k)
            for k in HOSTILE_COUNTERS
        }
        peer = parse_stats(m["rest"])
        seen.update({f"peer_{k}": v for k, v in peer.items()})
        during = dom0[begins.get(f"dom0-prehostile-{case}", m.start()) : m.start()]
        seen.update(
            reply=int(m["reply"]),
            carrier_off=m["off"] == "1",
            stack_watchdog=bool(_STACK_TX_WATCHDOG.search(during)),
            off_after=int(m["off_after"]),
            stall_ms=int(m["stall_ms"]),
            carrier_back=m["back"] == "1",
            ping=int(m["ping"]),
            seconds=int(m["seconds"]),
            cpu_dom0_ms=int(m["cpu_dom0"]),
            cpu_domu_ms=int(m["cpu_domu"]),
        )
        measured[case] = seen

        def n(key: str, seen: dict[str, Any] = seen) -> int:
            return seen.get(key) or 0

        ok = seen["reply"] == 0 and seen["carrier_back"] and seen["ping"] == 0
        if case == "stall":
            ok = ok and seen["carrier_off"] and n("tx_timeouts") >= 1 and n("tx_dropped") >= 1
        elif case == "credit":
            ok = (
                ok
                and seen["carrier_off"]
                and not seen["stack_watchdog"]
                and n("tx_timeouts") >= 1
                and n("tx_dropped") >= 1
                and n("peer_grants") > 0
                and n("peer_failed") == 0
                and seen["seconds"] < n("tx_stalls") <= n("peer_grants") + seen["seconds"]
            )
        elif case == "die":
            ok = ok and seen["carrier_off"]
        elif case == "storm":
            ok = ok and n("peer_triggers") > 0 and n("peer_failed") == 0 and n("rx_errors") >= 1
        elif case == "race":
            ok = ok and n("peer_sent") > 0 and n("peer_failed") == 0 and n("rx_errors") >= 1
        else:
            ok = (
                ok
                and n("peer_sent") > 0
                and n("rx_errors") >= n("peer_sent")
                and n("peer_return_invalid") >= 1
                and n("peer_chained") > 0
                and n("rx_packets") >= n("peer_chained")
            )
        why = f"{m.group(0).strip()}: dom0 " + ", ".join(
            f"{k}+{seen[k]}" for k in HOSTILE_COUNTERS if seen[k] is not None
        )
        out.append(_res("dom0", f"hostile_{case}", ok, why))
    return out, measured


def ringparam_check(dom0: str) -> tuple[publish.Result, dict[str, Any]]:
    """``ethtool -G sgnet0 rx 32 rx-buf-len 8192`` on dom0's end of the connected link to the
    iperf domain: ``ethtool -g`` shows 32 and 8192, the link set up again with them (dom0's
    xenstore ``rx-buffers`` 32, ``rx-buffer-size`` 8192) and the peer answers; then back to
    64 of 69632, and the peer answers again."""
    m = protocol.RINGPARAM.last(dom0)
    if m is None:
        return _res("dom0", "ethtool_ringparam", False, f"no {protocol.RINGPARAM.name} line"), {}
    seen = {k: v for k, v in m.groupdict().items()}
    ok = (
        seen["set"] == "0"
        and seen["rx"] == "32"
        and seen["buf_len"] == "8192"
        and seen["xs_rx"] == "32"
        and seen["xs_len"] == "8192"
        and seen["ping"] == "0"
        and seen["back"] == "0"
        and seen["back_ping"] == "0"
        and seen["xs_back"] == "64"
    )
    return _res("dom0", "ethtool_ringparam", ok, m.group(0).strip()), seen


def backend_reload_check(dom0: str) -> publish.Result:
    """dom0 reloaded sgnet (its backend) while the domU's frontend showed Connected (4),
    and the domU answered over the link again."""
    found = list(protocol.BACKEND_RELOAD.iter(dom0))
    if not found:
        return _res(
            "dom0", "backend_reload_reconnects", False, f"no {protocol.BACKEND_RELOAD.name} line"
        )
    m = found[-1]
    ok = (m["u"], m["r"], m["state"], m["i"], m["rc"]) == ("0", "0", "4", "0", "0")
    why = (
        f"unbind={m['u']} rmmod={m['r']} with {m['dom']}'s frontend in state {m['state']}"
        f" (4: Connected), insmod={m['i']}, then ping {m['to']} rc={m['rc']}"
    )
    return _res("dom0", "backend_reload_reconnects", ok, why)


def paused_burst_checks(
    stats: dict[str, dict[str, int]], dom0: str, domu_if: str | None
) -> tuple[list[publish.Result], dict[str, Any]]:
    """dom0's receiver paused (debugfs rx_paused): the domU's replies must fill dom0's pool
    (the domU's sender: -EBUSY, a stall, a credit request; dom0: the request seen), and
    resuming must grant credit and bring every reply up through dom0's sgnet."""
    found = list(protocol.PAUSED_BURST.iter(dom0))
    if not found:
        why = f"no {protocol.PAUSED_BURST.name} line"
        return [
            _res("dom0", "flood_full_receive_pool", False, why),
            _res("dom0", "paused_burst_resumed", False, why),
            _res("dom0", "resume_returns", False, why),
        ], {}
    m = found[-1]

    def dom0_delta(before: str, after: str, key: str) -> int:
        return counter_delta(stats, before, after, key) or 0

    def domu_delta(key: str) -> int:
        b = stats.get(f"domu-prepause/{domu_if}", {})
        a = stats.get(f"domu-resumed/{domu_if}", {})
        return a.get(key, 0) - b.get(key, 0) if key in a and key in b else 0

    seen = {
        "requests_seen_paused": dom0_delta(
            "dom0-prepause", "dom0-paused", "credit_requests_received"
        ),
        "grants_after_resume": dom0_delta("dom0-paused", "dom0-resumed", "credit_grants"),
        "rx_while_paused": dom0_delta("dom0-prepause", "dom0-paused", "rx_packets"),
        "rx_after_resume": dom0_delta("dom0-paused", "dom0-resumed", "rx_packets"),
        **{
            f"{k}_after_resume": dom0_delta("dom0-paused", "dom0-resumed", k)
            for k in ("rx_returned", "rx_return_calls", "rx_return_errors")
        },
        **{
            f"domu_{k}": domu_delta(k)
            for k in ("tx_busy", "tx_stalls", "credit_requests", "tx_dropped")
        },
        "sent": int(m["sent"]),
        "received": int(m["received"]),
    }
    sg_ops = xen_hypercalls(dom0, "dom0-paused", "dom0-resumed", SG_OP_HYPERCALL)
    if sg_ops is not None:
        seen["xen_sg_op_after_resume"] = sg_ops
    counted = ", ".join(f"{k}={v}" for k, v in seen.items())
    full = (
        m["pause"] == "0"
        and m["full"] == "1"
        and seen["requests_seen_paused"] > 0
        and seen["domu_tx_busy"] > 0
        and seen["domu_tx_stalls"] > 0
        and seen["domu_credit_requests"] > 0
    )
    why = f"rx_paused on rc={m['pause']}, request seen={m['full']}: {counted}"
    out = [_res("dom0", "flood_full_receive_pool", full, why)]
    # Every reply must reach dom0's sgnet; ping itself may miss some: 64
    # replies come up in one poll and overflow its socket's receive buffer.
    resumed = (
        m["resume"] == "0"
        and m["rc"] == "0"
        and seen["sent"] > 0
        and seen["rx_after_resume"] >= seen["sent"]
        and seen["grants_after_resume"] > 0
        and seen["domu_tx_dropped"] == 0
    )
    why = f"rx_paused off rc={m['resume']}, ping rc={m['rc']}: {counted}"
    out.append(_res("dom0", "paused_burst_resumed", resumed, why))
    out.append(resume_returns_check(seen))
    return out, seen


def paused_oneway_checks(
    stats: dict[str, dict[str, int]], dom0: str, domu_if: str | None
) -> tuple[list[publish.Result], dict[str, Any]]:
    """Issue 9's counted check (``resume_hypercalls``): N frames one way into a paused
    receiver (sgnet-lab.sh ``sgnet_paused_oneway``: the domU pauses, dom0 sends N UDP frames
    that nothing answers), then the receiver resumes.  The buffer-return and transfer
    hypercalls must number at most N/8 (``RESUME_FRAMES_PER_CALL``), counted by the drivers:

    - the sender's (dom0's) ``tx_hypercalls`` from the moment it stalled (every frame that
      did not fit the receiver's buffers queued) until every frame went through: transfers,
      and any credit request it makes meanwhile;
    - the receiver's (the domU's) ``rx_return_calls`` from before the pause until after:
      every return of the burst's buffers, and of the few frames of the pause command and
      of the counter reads themselves (so the count can only be too high).

    Well-defined only if the frames really queued: the pause answered (dom0's counters
    ``dom0-preoneway`` are read after that answer: everything dom0 sends from then on waits,
    in the receiver's buffers or in dom0), every frame was written, dom0 stalled, at most
    ``RX_BUFFERS`` frames went through before it did, and all N went through and arrived
    after.  Xen's own count of sg_op and multicall hypercalls
    over the same window (every domain: also the receiver's credit grant, and Linux's own
    multicalls) is reported, not required."""
    m = protocol.PAUSED_ONEWAY.last(dom0)
    if m is None:
        why = f"no {protocol.PAUSED_ONEWAY.name} line"
        return [_res("dom0", "resume_hypercalls", False, why)], {}

    def dom0_delta(before: str, after: str, key: str) -> int | None:
        return counter_delta(stats, before, after, key)

    def domu_delta(key: str) -> int | None:
        b = stats.get(f"domu-preoneway/{domu_if}", {})
        a = stats.get(f"domu-oneway-resumed/{domu_if}", {})
        return a[key] - b[key] if key in a and key in b else None

    frames = int(m["frames"])
    seen: dict[str, Any] = {
        "frames": frames,
        "sent_before_stall": dom0_delta("dom0-preoneway", "dom0-oneway-paused", "tx_packets"),
        "sent": dom0_delta("dom0-preoneway", "dom0-oneway-resumed", "tx_packets"),
        "transfers_after_stall": dom0_delta(
            "dom0-oneway-paused", "dom0-oneway-resumed", "tx_hypercalls"
        ),
        "receiver_returns": domu_delta("rx_return_calls"),
        "receiver_returned": domu_delta("rx_returned"),
        "receiver_return_errors": domu_delta("rx_return_errors"),
        "received": domu_delta("rx_packets"),
        "receiver_grants": domu_delta("credit_grants"),
        "xen_sg_op": xen_hypercalls(
            dom0, "dom0-oneway-paused", "dom0-oneway-resumed", SG_OP_HYPERCALL
        ),
        "xen_multicall": xen_hypercalls(
            dom0, "dom0-oneway-paused", "dom0-oneway-resumed", MULTICALL_HYPERCALL
        ),
        "seconds": int(m["seconds"]),
    }
    counted = ", ".join(f"{k}={'?' if v is None else v}" for k, v in seen.items())
    before, sent, received = seen["sent_before_stall"], seen["sent"], seen["received"]
    transfers, returns = seen["transfers_after_stall"], seen["receiver_returns"]
    queued = (
        (m["pause"], m["sent"], m["stalled"]) == ("0", "0", "1")
        and before is not None
        and before <= RX_BUFFERS < frames
        and sent is not None
        and sent >= frames
        and received is not None
        and received >= frames
    )
    calls = None if transfers is None or returns is None else transfers + returns
    seen["calls"] = calls
    ok = (
        queued
        and calls is not None
        and transfers > 0
        and returns > 0
        and calls * RESUME_FRAMES_PER_CALL <= frames
        and seen["receiver_return_errors"] == 0
    )
    why = (
        f"{frames} frames one way into a paused receiver: {transfers} transfer and"
        f" {returns} return hypercalls after the sender stalled (at most"
        f" {frames // RESUME_FRAMES_PER_CALL} together); {m.group(0).strip()}: {counted}"
    )
    return [_res("dom0", "resume_hypercalls", ok, why)], seen


def xen_hypercalls(text: str, before: str, after: str, number: int) -> int | None:
    """How often Xen counted hypercall ``number`` (all domains) between two SGKIT-HC lines."""
    found = {}
    for m in protocol.HC.iter(text):
        values = [int(v) for v in m["values"].split()]
        found[m["when"]] = values
    b, a = found.get(before), found.get(after)
    if b is None or a is None or len(a) != len(b) or number >= len(a):
        return None
    return a[number] - b[number]


def resume_returns_check(seen: Mapping[str, int]) -> publish.Result:
    """The N replies queued while dom0's receiver was paused cost at most N/8 buffer-return
    hypercalls once it resumed (``RESUME_FRAMES_PER_CALL``): dom0 returns consumed buffers to
    the sender in batches, not one rearm each, and none of the returns failed.

    Xen's count of sg_op hypercalls meanwhile (every domain: the sender's transfers, the
    credit grant) is reported, not required: dom0 resumes once ping has sent every request,
    but the domU may still be working through them, and the replies it makes after the
    resume go out as they come (two lab runs: 13 and 14 sg_op hypercalls for 128 frames,
    4 returns).  Returns and transfers together are counted on one-way traffic instead
    (``paused_oneway_checks``)."""
    frames = seen["rx_after_resume"]
    returns = seen["rx_return_calls_after_resume"]
    sg_ops = seen.get("xen_sg_op_after_resume")
    ok = (
        frames >= seen["sent"] > 0
        and 0 < returns * RESUME_FRAMES_PER_CALL <= frames
        and seen["rx_return_errors_after_resume"] == 0
    )
    why = (
        f"{frames} frames received after resuming: {returns} buffer-return hypercalls in dom0"
        f" (at most {frames // RESUME_FRAMES_PER_CALL}); {seen['rx_returned_after_resume']}"
        f" buffers returned, {seen['rx_return_errors_after_resume']} errors; sg_op hypercalls"
        f" counted by Xen meanwhile: {'?' if sg_ops is None else sg_ops}"
    )
    return _res("dom0", "resume_returns", ok, why)


# What sgnet prints from its reboot notifier, once per device (sgnet_reboot).
_NOTIFIER = re.compile(r"^.*\bsgnet\d+: released for shutdown$", re.MULTILINE)
# XenbusStateClosed: a backend whose frontend closed.
XENBUS_CLOSED = "6"


def bidir_bytes(data: dict[str, Any]) -> tuple[int, int]:
    """Bytes an ``iperf3 --bidir -J`` run received each way: (client -> server, back)."""
    end = data.get("end", {})
    forward = int(end.get("sum_received", {}).get("bytes", 0))
    back = int(end.get("sum_received_bidir_reverse", {}).get("bytes", 0))
    return forward, back


def _sgop(dom0: str) -> dict[tuple[str, str], dict[str, int]]:
    """Every SGKIT-SGOP line: ``(when, scope) -> counters``."""
    return {(m["when"], m["scope"]): parse_stats(m["rest"]) for m in protocol.SGOP.iter(dom0)}


def bridge_checks(
    dom0: str, stats: dict[str, dict[str, int]]
) -> tuple[list[publish.Result], dict[str, Any]]:
    """A netfront domU's iperf3 --bidir to an sgnet domU across dom0's bridge moved data
    both ways, and dom0's sgnet sent copies of the frames netback handed it with
    grant-mapped pages (``tx_foreign_copies``)."""
    m = protocol.BRIDGE.last(dom0)
    if m is None:
        why = f"no {protocol.BRIDGE.name} line"
        return [
            _res("dom0", "bridge_iperf_both_ways", False, why),
            _res("dom0", "bridge_foreign_copies", False, why),
        ], {}
    seen: dict[str, Any] = {"rc": int(m["rc"]), "bridge": int(m["bridge"]), "vif": m["vif"]}
    try:
        data = json.loads(m["json"])
        forward, back = bidir_bytes(data)
        seen.update(forward_bytes=forward, back_bytes=back)
        secs = float(data.get("end", {}).get("sum_received", {}).get("seconds") or 0)
        if secs:
            seen["forward_mbps"] = round(forward * 8 / secs / 1e6, 3)
            seen["back_mbps"] = round(back * 8 / secs / 1e6, 3)
        if "error" in data:
            seen["error"] = data["error"]
    except (ValueError, TypeError, AttributeError) as e:
        seen["error"] = f"unreadable iperf3 JSON: {e}"
    ok = (
        seen["bridge"] == 0
        and seen["rc"] == 0
        and "error" not in seen
        and seen.get("forward_bytes", 0) > 0
        and seen.get("back_bytes", 0) > 0
    )
    why = (
        f"{m['dom']} (netfront, {m['vif']}) -> {m['to']} (sgnet, dom0's {m['sgnet']}):"
        f" bridge={m['bridge']} iperf3 rc={m['rc']}, bytes {seen.get('forward_bytes')} there"
        f" and {seen.get('back_bytes')} back {seen.get('error') or ''}"
    ).strip()
    out = [_res("dom0", "bridge_iperf_both_ways", ok, why)]
    for key in ("tx_foreign_copies", "tx_dropped", "tx_packets", "rx_packets"):
        seen[key] = counter_delta(stats, "dom0-prebridge", "dom0-postbridge", key)
    copies = seen["tx_foreign_copies"] or 0
    why = (
        f"dom0's {m['sgnet']} across the bridge: tx_foreign_copies+{seen['tx_foreign_copies']},"
        f" tx_packets+{seen['tx_packets']}, tx_dropped+{seen['tx_dropped']}"
    )
    out.append(_res("dom0", "bridge_foreign_copies", copies > 0, why))
    return out, seen


def restore_checks(
    dom0: str, life: Lifecycle, links: Sequence[Link], stats: dict[str, dict[str, int]]
) -> tuple[list[publish.Result], dict[str, Any]]:
    """``xl save`` and ``xl restore`` of the lifecycle domain with its links live: every
    link came back (each backend's new end configured and pinging the restored domain), Xen
    holds what it held before (no registration of the old domain left, nothing doubled),
    and the counters are sane (no page leaked anywhere, the new ends counted the pings and
    no error)."""
    dom = life.domain
    m = protocol.RESTORE.last(dom0)
    names = ("save_restore_reconnects", "save_restore_no_leak", "save_restore_counters")
    if m is None:
        return [_res("dom0", n, False, f"no {protocol.RESTORE.name} line") for n in names], {}
    seen: dict[str, Any] = {k: m[k] for k in ("old", "new", "seconds")}
    relinks = [r for r in protocol.RELINK.iter(dom0) if r["dom"] == dom]
    expected = sorted(
        (link.domain(link.backend), str(link.devid)) for link in links if link.frontend == dom
    )
    got = sorted((r["be"], r["devid"]) for r in relinks)
    seen["links"] = {
        f"{r['be']}/{r['devid']}": {
            "if": r["ifc"],
            "configure": int(r["configure"]),
            "ping": int(r["ping"]),
        }
        for r in relinks
    }
    steps = ("save", "restore", "connect", "unpause")
    ok = (
        all(m[k] == "0" for k in steps)
        and m["gone"] == "1"
        and m["new"] not in ("", m["old"])
        and got == expected
        and all(r["configure"] == "0" and r["ping"] == "0" for r in relinks)
    )
    why = (
        " ".join(f"{k}={m[k]}" for k in (*steps, "gone"))
        + f", domid {m['old']} -> {m['new']} in {m['seconds']} s; links "
        + (
            ", ".join(
                f"{r['be']}/{r['devid']} {r['ifc']} configure={r['configure']} ping={r['ping']}"
                for r in relinks
            )
            or "none"
        )
        + f" (want {', '.join('/'.join(e) for e in expected)})"
    )
    out = [_res("dom0", names[0], ok, why)]

    sgop = _sgop(dom0)
    before, after = sgop.get(("presave", "global")), sgop.get(("restored", "global"))
    seen["global_before"], seen["global_after"] = before, after
    if before is None or after is None:
        out.append(_res("dom0", names[1], False, "no SGKIT-SGOP presave/restored global"))
    else:
        keys = protocol.GLOBAL_KEYS
        ok = all(k in before for k in keys) and all(before[k] == after.get(k) for k in keys)
        why = "Xen's totals before save / after restore: " + ", ".join(
            f"{k} {before.get(k)}/{after.get(k)}" for k in keys
        )
        out.append(_res("dom0", names[1], ok, why))

    restored = {k: v for k, v in stats.items() if k.split("/")[0].endswith("-restored")}
    seen["counters"] = restored
    leaked = {k: v.get("pages_leaked") for k, v in restored.items() if v.get("pages_leaked")}
    new_ends = [f"{r['be']}-restored/{r['ifc']}" for r in relinks]
    problems = [f"pages_leaked {k}={v}" for k, v in leaked.items()]
    for key in new_ends:
        c = restored.get(key)
        if c is None:
            problems.append(f"no counters of {key}")
            continue
        if not (c.get("rx_packets", 0) > 0 and c.get("tx_packets", 0) > 0):
            problems.append(f"{key} counted no traffic")
        errors = {e: c[e] for e in ("rx_errors", "tx_errors") if c.get(e)}
        if errors:
            problems.append(f"{key} {errors}")
    if not any(k.startswith(f"{dom}-restored/") for k in restored):
        problems.append(f"no counters of {dom} after the restore")
    why = "; ".join(problems) or "ok"
    out.append(_res("dom0", names[2], not problems, why))
    return out, seen


def shutdown_checks(
    console: LabConsole, life: Lifecycle, links: Sequence[Link]
) -> tuple[list[publish.Result], dict[str, Any]]:
    """``xl shutdown`` of the lifecycle domain (kept by Xen once shut down): sgnet's reboot
    notifier released every device before the kernel powered off (Xen's usage of the
    domain is 0; its console has the notifier's line for each device) and dom0's end saw
    the frontend close (carrier off, backend Closed)."""
    dom = life.domain
    names = ("shutdown_releases_registrations", "shutdown_peer_closed")
    m = protocol.SHUTDOWN.last(console.dom0)
    if m is None:
        return [_res("dom0", n, False, f"no {protocol.SHUTDOWN.name} line") for n in names], {}
    sgop = _sgop(console.dom0)
    before = next((v for (w, sc), v in sgop.items() if w == "preshutdown" and sc != "global"), {})
    after = next((v for (w, sc), v in sgop.items() if w == "shutdown" and sc != "global"), {})
    notices = len(_NOTIFIER.findall(console.guests.get(dom, "")))
    devices = sum(dom in (link.backend, link.frontend) for link in links)
    seen: dict[str, Any] = {
        "usage_before": before,
        "usage_after": after,
        "notifier_lines": notices,
        "state": m["state"],
        "seconds": int(m["seconds"]),
        "carrier": m["carrier"],
        "backend_state": m["be_state"],
    }
    usage = ("regs", "pinned_pages", "bindings")
    ok = (
        m["rc"] == "0"
        and "s" in m["state"]
        and before.get("regs", 0) > 0
        and after.get("rc") == 0
        and all(after.get(k) == 0 for k in usage)
        and notices >= devices
    )
    why = (
        f"xl shutdown rc={m['rc']}, state {m['state']} after {m['seconds']} s; Xen's usage of"
        f" {dom}: "
        + ", ".join(f"{k} {before.get(k)} -> {after.get(k)}" for k in usage)
        + f" (query rc {after.get('rc')}); {notices} 'released for shutdown' lines for"
        f" {devices} devices"
    )
    out = [_res("dom0", names[0], ok, why)]
    ok = m["carrier"] == "0" and m["be_state"] == XENBUS_CLOSED
    why = f"dom0's end: carrier={m['carrier']}, backend state {m['be_state']} (6: Closed)"
    out.append(_res("dom0", names[1], ok, why))
    return out, seen


def lifecycle_checks(
    console: LabConsole, life: Lifecycle, links: Sequence[Link], stats: dict[str, dict[str, int]]
) -> tuple[list[publish.Result], dict[str, Any]]:
    """The lifecycle cases (issue 13): the bridge, save/restore, shutdown."""
    out, measured = [], {}
    for name, (results, seen) in (
        ("bridge", bridge_checks(console.dom0, stats)),
        ("save_restore", restore_checks(console.dom0, life, links, stats)),
        ("shutdown", shutdown_checks(console, life, links)),
    ):
        out += results
        measured[name] = seen
    return out, measured


def _res(domain: str, test: str, ok: bool, why: str | None) -> publish.Result:
    return publish.Result(domain, SUITE, test, "pass" if ok else "fail", None if ok else why)


def host_checks(
    console: LabConsole,
    text: str,
    domus: Sequence[str],
    memory: tuple[int, int] | None,
    states: dict[str, tuple[str, int]],
    failed: list[str],
) -> list[publish.Result]:
    out = [
        checks.dom0_setup("lab", failed),
        *checks.domus_finished("lab", domus, states, console.guests),
        checks.free_memory_returned("lab", memory),
    ]
    after = list(protocol.NET_AFTER.iter(console.dom0))
    ok = bool(after) and all(m["carrier"] == "0" for m in after)
    why = "dom0's links after the domUs died: " + (
        ", ".join(f"{m['ifc']} carrier={m['carrier']}" for m in after) or "not reported"
    )
    out.append(checks.host_result("lab", "dom0_carrier_lost", ok, why))
    for m in protocol.BUSY_DESTROY.iter(console.dom0):
        ok = m["running"] == "1" and m["destroy"] == "0" and m["carrier"] == "0"
        why = (
            f"{m['dom']} destroyed with iperf3 running={m['running']}: xl destroy rc="
            f"{m['destroy']}, dom0 carrier={m['carrier']} after {m['seconds']}s"
        )
        out.append(checks.host_result("lab", f"{m['dom']}_destroyed_mid_transfer", ok, why))
    oops = _OOPS.findall(console.dom0 + (console.dom0_after or ""))
    why = "dom0's kernel complained: " + " | ".join(line.strip() for line in oops[:3])
    out.append(checks.host_result("lab", "dom0_no_oops", not oops, why))
    reload = [
        f"{m['module']} rc={m['rc']}"
        for m in protocol.INSMOD.iter(console.dom0_after or "")
        if m["module"] in SGNET_MODULES
    ]
    why = f"insmod after rmmod: {', '.join(reload) or 'not reported'}"
    want = [f"{name} rc=0" for name in SGNET_MODULES]
    out.append(checks.host_result("lab", "dom0_sgnet_reloaded", reload == want, why))
    return out + checks.sections_complete("lab", console.unterminated)


@dataclass(frozen=True)
class NetPlan:
    """What the sgnet lab sets up: the links, who reloads sgnet, who serves iperf3,
    and what a sibling of lab.net (bench.net) adds to the same lab."""

    links: Sequence[Link] = DEFAULT_LINKS
    reload: Sequence[str] = DEFAULT_RELOAD  # domains that unload and reload sgnet
    iperf: Sequence[str] = DEFAULT_IPERF  # domains that serve iperf3 to dom0
    domu_files: Mapping[str, Path] = field(default_factory=dict)  # domU initramfs
    dom0_files: Mapping[str, Path | bytes] = field(default_factory=dict)  # dom0 overlay
    settings: Mapping[str, str] = field(default_factory=dict)  # lab.conf
    modes: Mapping[str, int] = field(default_factory=dict)  # dom0 overlay modes
    life: Lifecycle | None = None  # bridge, save/restore, shutdown (lab.net's own plan)


def lab_net_plan() -> NetPlan:
    """lab.net's plan: the default links plus sg-b's own link to dom0, and the lifecycle
    cases on sg-b (a vif, a domain kept when shut down: on_poweroff "preserve")."""
    links = (*DEFAULT_LINKS, LIFE_LINK)
    life = lifecycle(links, LIFE_DOMAIN, DEFAULT_IPERF[0])
    return NetPlan(
        links=links,
        life=life,
        settings={"DOMU_VIF": life.domain, "DOMU_CFG_EXTRA": 'on_poweroff = "preserve"'},
    )


# dom0's base root carries only the modules every lab run needs; lab.net's bridge
# case adds the bridge and what it depends on (llc, stp) in its overlay.
DOM0_BRIDGE_MODULES = ("bridge",)


def bridge_modules(release: str) -> dict[str, Path]:
    """The bridge module and its dependencies for dom0's overlay, under /usr/lib/modules
    (the base's /lib is a symlink: an overlay entry for lib/ would replace it); dom0 runs
    depmod before modprobe."""
    tree = kernel_modules(release)
    return {
        f"usr/lib/modules/{release}/{rel}": tree / rel
        for rel in module_closure(tree, DOM0_BRIDGE_MODULES)
    }


def netfront_module(release: str) -> Path:
    found = list((kernel_modules(release) / "kernel" / "drivers" / "net").glob("xen-netfront.ko"))
    if not found:
        raise KitError(f"no xen-netfront.ko in the modules of {release}")
    return found[0]


@dataclass(frozen=True)
class NetBoot:
    """One boot of the sgnet lab: its console, split, and what was built for it."""

    result: BootResult
    text: str
    console: LabConsole
    meta: dict[str, Any]
    out: Path
    started: str
    domus: list[str]


def hostile_files(modules: Mapping[str, Path]) -> dict[str, Path]:
    """What a domU needs to play a hostile peer (the iperf domain does, for dom0)."""
    return {
        "lib/sgkit/sgnet-hostile.sh": guest_script("sgnet-hostile.sh"),
        "lib/sgkit/hostile/sghostile.ko": modules["sghostile"],
    }


def boot_net_lab(kind: str, spec: LabSpec, plan: NetPlan, parts: LabParts | None = None) -> NetBoot:
    """Build what the lab needs (unless the caller has: ``parts``), boot it, return the
    console (results in ``<kind>-<stamp>``)."""
    spec = LabSpec.resolve(spec)
    if spec.hypervisor != "patched":
        raise KitError(f"{kind} needs the patched hypervisor", "drop --hypervisor stock")
    check_links(plan.links)
    parts = parts or prepare(spec)
    domus = domus_of(plan.links)
    meta: dict[str, Any] = {**parts.meta, "links": [link.__dict__ for link in plan.links]}
    out = publish.new_run_dir(spec.out_root or results_dir(), kind)
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    # sgnet.ko first, then its frontend and backend drivers (SGNET_MODULES, load order).
    sgnet = {name: parts.modules[name] for name in SGNET_MODULES}
    conf = net_conf(plan.links, plan.reload, plan.iperf, plan.life)
    life_domu: dict[str, Path] = {}
    life_dom0: dict[str, Path | bytes] = {}
    if plan.life:
        life_domu["lib/sgkit/xen-netfront.ko"] = netfront_module(parts.release)
        life_dom0["lab/sgtest.ko"] = parts.modules["sgtest"]
        life_dom0.update(bridge_modules(parts.release))
    with run_dir() as work:
        (work / "net.conf").write_text(conf)
        with progress.step(f"packing the {kind} domU initramfs"):
            domu = build_initramfs(
                work / "domU.cpio.gz",
                guest_script("domU-init.sh"),
                sgnet,
                extra_files={
                    "lib/sgkit/sgnet-lab.sh": guest_script("sgnet-lab.sh"),
                    "lib/sgkit/bench-snap.sh": guest_script("bench-snap.sh"),
                    "lib/sgkit/sgnet-cmd.sh": guest_script("sgnet-cmd.sh"),
                    "etc/sgkit/net.conf": work / "net.conf",
                    **(iperf3_files() if plan.iperf else {}),
                    **(hostile_files(parts.modules) if plan.iperf else {}),
                    **ethtool_files(),
                    **life_domu,
                    **plan.domu_files,
                },
            )
        lab = boot_lab(
            spec,
            parts,
            work=work,
            out=out,
            domu_initrd=domu,
            settings={"DOMUS": " ".join(domus), **plan.settings},
            files={
                **{f"lab/{name}.ko": ko for name, ko in sgnet.items()},
                "lab/sgnet-lab.sh": guest_script("sgnet-lab.sh"),
                "lab/sgnet-connect.sh": guest_script("sgnet-connect.sh"),
                "etc/sgkit/modules": "".join(f"{name}\n" for name in sgnet).encode(),
                "etc/sgkit/net.conf": conf.encode(),
                **life_dom0,
                **plan.dom0_files,
            },
            modes={"lab/sgnet-connect.sh": 0o755, **plan.modes},
            timeout_s=spec.timeout(1200.0 if plan.life else 900.0),
            label=f"{kind} (dom0 + {len(domus)} domUs, {len(plan.links)} sgnet links)",
        )
    result, text, console = lab.result, lab.text, lab.console
    meta["accel"] = result.accel
    meta["domus"] = domus
    return NetBoot(result, text, console, meta, out, started, domus)


def run_lab_net(spec: LabSpec | None = None, plan: NetPlan | None = None) -> NetOutcome:
    """Boot the lab, connect sgnet links, ping both ways over each, report."""
    plan = plan or lab_net_plan()
    lab = boot_net_lab("lab-net", LabSpec.resolve(spec), plan)
    console, text, meta = lab.console, lab.text, lab.meta
    results, measured = net_results(console, plan.links, plan.reload, plan.iperf)
    if plan.life:
        found, measured["lifecycle"] = lifecycle_checks(
            console, plan.life, plan.links, measured["stats"]
        )
        results += found
    memory = free_memory(text)
    states = domu_states(text)
    results += host_checks(console, text, lab.domus, memory, states, failed_steps(console.dom0))
    meta.update(**measured)
    meta["free_memory_mb"] = None if memory is None else {"before": memory[0], "after": memory[1]}
    report = publish.RunReport(
        name="lab-net",
        results=results,
        verdict=lab.result.verdict,
        started=lab.started,
        duration_s=lab.result.duration_s,
        meta=meta,
    )
    text_summary = summarize(report, measured)
    publish.publish(report, lab.out, text_summary, "latest-lab-net")
    return NetOutcome(report, lab.out, text_summary)


def summarize(report: publish.RunReport, measured: dict[str, Any]) -> str:
    lines = [publish.summary(report)]
    for pair, ping in measured["pings"].items():
        lines.append(f"  ping {pair}: rc={ping['rc']} rtt min/avg/max={ping['rtt_ms']} ms")
    for pair, burst in measured["bursts"].items():
        lines.append(f"  burst {pair}: {burst['received']} of {burst['sent']} replies")
    for test, run in measured.get("iperf", {}).items():
        if "error" in run:
            lines.append(f"  iperf3 {test}: rc={run['rc']} {run['error']}")
            continue
        extra = (
            f" {run['received_pps']} pkt/s lost {run['lost_percent']}%"
            if run["protocol"] == "udp"
            else f" retransmits {run['retransmits']}"
        )
        lines.append(
            f"  iperf3 {test}: sent {run['sent_mbps']} Mbit/s, received"
            f" {run['received_mbps']} Mbit/s{extra}"
        )
    if "flood" in measured:
        lines.append(
            "  flood: dom0 sgnet " + ", ".join(f"{k}+{v}" for k, v in measured["flood"].items())
        )
    for case, seen in measured.get("hostile", {}).items():
        lines.append(
            f"  hostile {case}: ping={seen['ping']} carrier off={seen['carrier_off']}"
            f" (after {seen['off_after']} rounds)"
            f" back={seen['carrier_back']}, {seen['seconds']} s, CPU dom0 {seen['cpu_dom0_ms']}"
            f" ms, domU {seen['cpu_domu_ms']} ms; dom0 "
            + ", ".join(f"{k}+{seen[k]}" for k in HOSTILE_COUNTERS if seen.get(k))
        )
    life = measured.get("lifecycle", {})
    if bridge := life.get("bridge"):
        lines.append(
            f"  bridge (netfront -> sgnet): {bridge.get('forward_mbps', '?')} Mbit/s there,"
            f" {bridge.get('back_mbps', '?')} back; dom0 tx_foreign_copies"
            f" +{bridge.get('tx_foreign_copies')}, tx_dropped +{bridge.get('tx_dropped')}"
        )
    if restore := life.get("save_restore"):
        lines.append(
            f"  save/restore: domid {restore['old']} -> {restore['new']} in"
            f" {restore['seconds']} s; Xen's totals {restore.get('global_before')} ->"
            f" {restore.get('global_after')}"
        )
    if down := life.get("shutdown"):
        lines.append(
            f"  shutdown: usage {down['usage_before']} -> {down['usage_after']},"
            f" {down['notifier_lines']} notifier lines, dom0 carrier {down['carrier']},"
            f" backend state {down['backend_state']}"
        )
    for where, stats in measured["stats"].items():
        packets = stats.get("tx_packets", 0) + stats.get("rx_packets", 0)
        calls = stats.get("tx_hypercalls", 0) + stats.get("rx_hypercalls", 0)
        per = f"{calls / packets:.2f}" if packets and calls else "?"
        lines.append(
            f"  {where}: tx={stats.get('tx_packets', '?')} rx={stats.get('rx_packets', '?')}"
            f" hypercalls/packet={per} interrupts={stats.get('interrupts', '?')}"
        )
    return "\n".join(lines)


def check_links(links: Sequence[Link]) -> None:
    for link in links:
        for end in (link.backend, link.frontend):
            if end != "0" and not re.fullmatch(r"[a-z0-9][a-z0-9-]*", end):
                raise KitError(f"bad domain {end!r} in an sgnet link")
