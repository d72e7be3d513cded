"""lab.net for real: sgnet links in the lab, ping, iperf3, flood, hostile peer, bridge,
save/restore, shutdown, destroy mid-transfer."""

from __future__ import annotations

import pytest

from sgkit.lab.net import IPERF_TESTS, run_lab_net
from sgkit.lab.spec import LabSpec


@pytest.mark.integration
def test_sgnet_carries_ping_and_iperf3_and_survives_a_destroyed_peer(tmp_path):
    outcome = run_lab_net(LabSpec(out_root=tmp_path))
    summary = (outcome.results / "summary.txt").read_text()
    assert outcome.report.ok(), summary
    results = {(r.domain, r.test): r for r in outcome.report.results}

    # ping both ways over every link (and again after sg-b's reload)
    for domain, peer in (
        ("dom0", "10.77.1.2"),
        ("dom0", "10.77.3.2"),
        ("sg-b", "10.77.3.1"),
        ("sg-a", "10.77.1.1"),
        ("sg-a", "10.77.2.2"),
        ("sg-b", "10.77.2.1"),
    ):
        assert results[(domain, f"ping_{peer}")].status == "pass", summary
    assert results[("sg-b", "unload_reload")].status == "pass", summary

    # iperf3 both ways, TCP and UDP, with data through
    runs = outcome.report.meta["iperf"]
    for test in IPERF_TESTS:
        assert results[("dom0", f"iperf_{test}")].status == "pass", summary
        assert runs[test]["received_mbps"] > 0, runs[test]
    assert runs["tcp-reverse"]["reverse"] and runs["udp-reverse"]["reverse"]

    # the unpaced flood left the link working
    flood = outcome.report.meta["flood"]
    assert (flood["tx_dropped"] or 0) == 0, flood
    assert results[("dom0", "ping_after_flood")].status == "pass", summary

    # dom0's receiver paused: sg-a's replies filled dom0's pool (sg-a stalled
    # and asked for credit), and resuming granted it and delivered them all
    paused = outcome.report.meta["paused_burst"]
    assert results[("dom0", "flood_full_receive_pool")].status == "pass", summary
    assert results[("dom0", "paused_burst_resumed")].status == "pass", summary
    assert paused["domu_tx_stalls"] > 0 and paused["requests_seen_paused"] > 0, paused
    assert paused["rx_after_resume"] >= paused["sent"] > 0, paused

    # sg-a as a hostile peer (issue 13): no credit for 20 s, credit granted
    # every millisecond for 12 s with nothing re-armed, a trigger storm,
    # headers never offered, headers and lengths written while dom0 copies
    # them, its end gone mid-transfer; dom0 dropped, counted, and the link
    # came back
    hostile = outcome.report.meta["hostile"]
    for case in ("stall", "credit", "storm", "badhdr", "race", "die"):
        assert results[("dom0", f"hostile_{case}")].status == "pass", summary
        assert hostile[case]["ping"] == 0 and hostile[case]["carrier_back"], hostile[case]
    assert hostile["stall"]["tx_timeouts"] >= 1 and hostile["stall"]["carrier_off"]
    # grants without re-armed buffers: dom0 retried at each, yet its own watchdog
    # took the carrier before the stack's backstop could
    credit = hostile["credit"]
    assert credit["tx_timeouts"] >= 1 and credit["carrier_off"], credit
    assert not credit["stack_watchdog"], credit
    assert credit["seconds"] < credit["tx_stalls"] <= credit["peer_grants"] + credit["seconds"]
    assert hostile["badhdr"]["rx_errors"] >= hostile["badhdr"]["peer_sent"] > 0
    assert hostile["badhdr"]["peer_return_invalid"] >= 1  # lying returns refused
    assert hostile["race"]["peer_sent"] > 0 and hostile["race"]["rx_errors"] >= 1

    # sgnet-3's in-band buffer return: while one end sent TCP, the other re-armed the
    # buffers it consumed inside its own transfers and named them in their headers; every
    # name was of a buffer the sender had filled
    for test in ("tcp_inband_returns_received", "tcp_inband_returns_sent"):
        assert results[("dom0", test)].status == "pass", summary

    # ethtool -G: 32 buffers of 8192 bytes on dom0's end of a connected link
    # (the link set up again with them and carried a ping), then back
    assert results[("dom0", "ethtool_ringparam")].status == "pass", summary
    ring = outcome.report.meta["ringparam"]
    assert (ring["xs_rx"], ring["xs_len"], ring["xs_back"]) == ("32", "8192", "64"), ring

    # 64 KiB frames: the largest ping on the MTU-65535 link, TSO for TCP,
    # GSO frames received by dom0 (the backend), ethtool -K turning it off
    for domain, peer in (("sg-a", "10.77.2.2"), ("sg-b", "10.77.2.1")):
        assert results[(domain, f"bigping_{peer}")].status == "pass", summary
    for test in ("tcp_tso", "tcp_reverse_gso_received", "ethtool_offload_off"):
        assert results[("dom0", test)].status == "pass", summary

    # issue 13's lifecycle cases, on sg-b: a netfront domU bridged in dom0 to an
    # sgnet one (iperf3 both ways, netback's grant-mapped frames sent as copies);
    # xl save / xl restore with live links (every link back, Xen's totals as
    # before, no page leaked); xl shutdown (the reboot notifier released every
    # registration, dom0's end closed)
    for test in (
        "bridge_iperf_both_ways",
        "bridge_foreign_copies",
        "save_restore_reconnects",
        "save_restore_no_leak",
        "save_restore_counters",
        "shutdown_releases_registrations",
        "shutdown_peer_closed",
    ):
        assert results[("dom0", test)].status == "pass", summary
    life = outcome.report.meta["lifecycle"]
    assert life["bridge"]["forward_bytes"] > 0 and life["bridge"]["back_bytes"] > 0, life
    assert life["bridge"]["tx_foreign_copies"] > 0, life["bridge"]
    restore = life["save_restore"]
    assert restore["new"] != restore["old"] and restore["global_before"] == restore["global_after"]
    assert life["shutdown"]["usage_before"]["regs"] > 0, life["shutdown"]
    assert life["shutdown"]["usage_after"]["regs"] == 0, life["shutdown"]

    # sg-a destroyed mid-transfer: carrier off, dom0 fine, memory back
    host = {r.test: r for r in outcome.report.results if r.domain == "host"}
    assert host["sg-a_destroyed_mid_transfer"].status == "pass", summary
    assert host["dom0_carrier_lost"].status == "pass", summary
    assert host["dom0_no_oops"].status == "pass", summary
    assert host["free_memory_returned"].status == "pass", host["free_memory_returned"].reason
    memory = outcome.report.meta["free_memory_mb"]
    assert memory["before"] == memory["after"] > 0, memory
