"""lab.net's reading of its serial log: links up, pings, burst, reload, host checks."""

from __future__ import annotations

import json
from pathlib import Path

from sgkit.lab.boot import split_console
from sgkit.lab.net import (
    DEFAULT_LINKS,
    backend_reload_check,
    counter_delta,
    domus_of,
    host_checks,
    iperf_results,
    iperf_summary,
    net_conf,
    net_results,
    parse_stats,
    tso_checks,
)

GOOD = """\
SGKIT-STEP sgnet-connect-0-sg-a-0 rc=0
SGKIT-NET dom0 devid=0 if=sgnet0 state=up carrier=1
round-trip min/avg/max = 1.0/2.0/3.0 ms
SGKIT-PING from=dom0 to=10.77.1.2 if=sgnet0 rc=0
SGKIT-NETSTAT dom0 if=sgnet0 tx_packets=5 tx_hypercalls=5 rx_packets=5 interrupts=4
SGKIT-BURST from=dom0 to=10.77.1.2 if=sgnet0 rc=0 sent=512 received=512
SGKIT-GUEST-LOG-BEGIN sg-a
SGKIT-NET sg-a devid=0 if=sgnet0 state=up carrier=1
SGKIT-PING from=sg-a to=10.77.1.1 if=sgnet0 rc=0
SGKIT-NET sg-a devid=1 if=sgnet1 state=up carrier=1 mtu=65535
SGKIT-PING from=sg-a to=10.77.2.2 if=sgnet1 rc=0
SGKIT-BIGPING from=sg-a to=10.77.2.2 if=sgnet1 size=65507 rc=0
SGKIT-DONE
SGKIT-GUEST-LOG-END sg-a
SGKIT-GUEST-LOG-BEGIN sg-b
SGKIT-NET sg-b devid=1 if=sgnet0 state=up carrier=1 mtu=65535
SGKIT-PING from=sg-b to=10.77.2.1 if=sgnet0 rc=0
SGKIT-BIGPING from=sg-b to=10.77.2.1 if=sgnet0 size=65507 rc=0
SGKIT-RELOAD sg-b unbind=0 rmmod=0 insmod=0
SGKIT-NET sg-b devid=1 if=sgnet0 state=up carrier=1 mtu=65535
SGKIT-PING from=sg-b to=10.77.2.1 if=sgnet0 rc=0
SGKIT-BIGPING from=sg-b to=10.77.2.1 if=sgnet0 size=65507 rc=0
SGKIT-DONE
SGKIT-GUEST-LOG-END sg-b
SGKIT-NET-AFTER dom0 if=sgnet0 carrier=0
SGKIT-DOM0-AFTER-BEGIN
SGKIT-INSMOD sgnet rc=0
SGKIT-INSMOD sgnet-front rc=0
SGKIT-INSMOD sgnet-back rc=0
SGKIT-DOM0-AFTER-END
"""


def test_dom0_reload_needs_sgnet_and_both_drivers() -> None:
    # the backend driver did not load again after rmmod (its symbols are sgnet's)
    states = {"sg-a": ("done", 10), "sg-b": ("done", 12)}
    for text, want in (
        (GOOD, "pass"),
        (GOOD.replace("SGKIT-INSMOD sgnet-back rc=0", "SGKIT-INSMOD sgnet-back rc=1"), "fail"),
        (GOOD.replace("SGKIT-INSMOD sgnet-front rc=0\n", ""), "fail"),
    ):
        found = host_checks(split_console(text), text, ["sg-a", "sg-b"], (100, 100), states, [])
        assert {c.test: c.status for c in found}["dom0_sgnet_reloaded"] == want


def test_net_conf_names_both_ends_of_every_link() -> None:
    conf = net_conf(DEFAULT_LINKS, ["sg-b"]).splitlines()
    assert "link 0 sg-a 0" in conf
    assert "addr dom0 0 10.77.1.1/24 10.77.1.2" in conf
    assert "addr sg-b 1 10.77.2.2/24 10.77.2.1" in conf
    assert conf[-1] == "reload sg-b"
    assert domus_of(DEFAULT_LINKS) == ["sg-a", "sg-b"]


def test_good_run_passes() -> None:
    console = split_console(GOOD)
    results, measured = net_results(console, DEFAULT_LINKS, ["sg-b"])
    assert [r for r in results if r.status != "pass"] == []
    names = {(r.domain, r.test) for r in results}
    assert ("sg-b", "ping_10.77.2.1_after_reload") in names
    assert ("sg-b", "unload_reload") in names
    assert ("dom0", "burst_10.77.1.2") in names
    assert ("sg-b", "bigping_10.77.2.1_after_reload") in names
    assert ("sg-a", "bigping_10.77.2.2") in names
    assert ("dom0", "bigping_10.77.1.2") not in names  # that link keeps MTU 1500
    assert measured["pings"]["dom0->10.77.1.2"]["rtt_ms"] == "1.0/2.0/3.0"
    assert measured["stats"]["dom0/sgnet0"]["tx_hypercalls"] == 5
    states = {"sg-a": ("done", 10), "sg-b": ("done", 12)}
    checks = host_checks(console, GOOD, ["sg-a", "sg-b"], (100, 100), states, [])
    assert [c for c in checks if c.status != "pass"] == []


def test_missing_ping_and_kept_carrier_fail() -> None:
    text = GOOD.replace("SGKIT-PING from=sg-a to=10.77.2.2 if=sgnet1 rc=0\n", "")
    text = text.replace(
        "SGKIT-NET-AFTER dom0 if=sgnet0 carrier=0", "SGKIT-NET-AFTER dom0 if=sgnet0 carrier=1"
    )
    console = split_console(text)
    results, _ = net_results(console, DEFAULT_LINKS, ["sg-b"])
    failed = {(r.domain, r.test) for r in results if r.status == "fail"}
    assert failed == {("sg-a", "ping_10.77.2.2")}
    states = {"sg-a": ("done", 10), "sg-b": ("done", 12)}
    checks = host_checks(console, text, ["sg-a", "sg-b"], (100, 100), states, [])
    assert {c.test for c in checks if c.status == "fail"} == {"dom0_carrier_lost"}


def test_a_failed_or_missing_or_wrong_sized_bigping_fails() -> None:
    failed = GOOD.replace(
        "to=10.77.2.2 if=sgnet1 size=65507 rc=0", "to=10.77.2.2 if=sgnet1 size=65507 rc=1"
    )
    small = GOOD.replace("to=10.77.2.2 if=sgnet1 size=65507", "to=10.77.2.2 if=sgnet1 size=1472")
    gone = GOOD.replace("SGKIT-BIGPING from=sg-a to=10.77.2.2 if=sgnet1 size=65507 rc=0\n", "")
    # the peer's buffers are too small for MTU 65535 (max_mtu refused it):
    # a fragmented ping of 65507 bytes passes, the check must not
    refused = GOOD.replace(
        "if=sgnet1 state=up carrier=1 mtu=65535", "if=sgnet1 state=up carrier=1 mtu=1500"
    )
    cases = (
        (failed, "exited 1"),
        (small, "-s 1472"),
        (gone, "no SGKIT-BIGPING"),
        (refused, "MTU 1500 (want 65535)"),
    )
    for text, why in cases:
        results, _ = net_results(split_console(text), DEFAULT_LINKS, ["sg-b"])
        bad = [r for r in results if r.status != "pass"]
        assert [(r.domain, r.test) for r in bad] == [("sg-a", "bigping_10.77.2.2")]
        assert why in (bad[0].reason or "")


def test_net_conf_sets_the_mtu_of_links_that_have_one() -> None:
    conf = net_conf(DEFAULT_LINKS).splitlines()
    assert "mtu 1 65535" in conf
    assert not any(line.startswith("mtu 0 ") for line in conf)


def test_parse_stats_keeps_numbers() -> None:
    assert parse_stats(" a=1 b=x c=22") == {"a": 1, "c": 22}


FIXTURES = Path(__file__).parent / "fixtures" / "iperf3"


TSO_STATS = (
    "SGKIT-NETSTAT dom0-{tag} if=sgnet0 tx_packets={tx} tx_bytes={txb} tx_gso_packets={gso}"
    " tx_csum_partial={gso} rx_gso_packets={rx} rx_csum_partial={csum}"
    " peer_returned={tx} peer_return_invalid=0 rx_returned_inband={rx} rx_return_inband_errors=0"
    " rx_returned=3"
)


def _iperf_lines(hostile: str | None = None) -> str:
    tcp = (FIXTURES / "tcp.json").read_text().strip()
    udp = (FIXTURES / "udp.json").read_text().strip()
    lines = [TSO_STATS.format(tag="pretcp", tx=100, txb=100_000, gso=0, rx=0, csum=0)]
    lines.append("SGKIT-TCPEXT pretcp TCPOFOQueue=4 TCPSACKReorder=1 TCPTSReorder=0")
    lines.append(f"SGKIT-IPERF test=tcp to=10.77.1.2 rc=0 json={tcp}")
    lines.append(TSO_STATS.format(tag="posttcp", tx=200, txb=2_100_000, gso=90, rx=0, csum=0))
    lines.append(f"SGKIT-IPERF test=tcp-reverse to=10.77.1.2 rc=0 json={tcp}")
    lines.append(TSO_STATS.format(tag="posttcprev", tx=300, txb=2_110_000, gso=90, rx=80, csum=80))
    lines.append("SGKIT-TCPEXT posttcp TCPOFOQueue=4 TCPSACKReorder=1 TCPTSReorder=0")
    lines.append(TSO_STATS.format(tag="preoff", tx=300, txb=2_110_000, gso=90, rx=80, csum=80))
    lines.append(f"SGKIT-IPERF test=tcp-nooffload to=10.77.1.2 rc=0 json={tcp}")
    lines.append(
        TSO_STATS.format(tag="postoff", tx=900, txb=3_000_000, gso=90, rx=80, csum=80)
        + " rx_packets=500 rx_buffers=100 rx_frames_packed=400 rx_errors=0"
    )
    lines.append("SGKIT-ETHTOOL-K if=sgnet0 off=0 tso=off tx=off on=0")
    lines.append(f"SGKIT-IPERF test=udp to=10.77.1.2 rc=0 json={udp}")
    defer = "SGKIT-NETSTAT dom0-{} if=sgnet0 rx_packets={} rx_polls={} rx_polls_deferred={}"
    lines.append(defer.format("predefer", 10, 5, 0) + " interrupts=5")
    lines.append(f"SGKIT-IPERF test=udp-reverse to=10.77.1.2 rc=0 json={udp}")
    lines.append(defer.format("postdefer", 910, 125, 60) + " interrupts=8")
    lines.append(
        "SGKIT-NETSTAT dom0-preflood if=sgnet0 tx_packets=10 tx_busy=0 credit_requests=0"
        " rx_packets=1500 rx_buffers=200 rx_frames_packed=1300 rx_errors=0 tx_frames_packed=5"
    )
    lines.append(f"SGKIT-IPERF test=flood to=10.77.1.2 rc=0 json={udp}")
    lines.append(
        "SGKIT-NETSTAT dom0-postflood if=sgnet0 tx_packets=900 tx_busy=70 credit_requests=1"
        " tx_frames_packed=600"
    )
    lines.append("SGKIT-FLOOD-PING to=10.77.1.2 rc=0")
    paused = PAUSED.format(
        hc_paused=hc_line("dom0-paused", {0: 100, 3: 40, 47: 200}),
        hc_resumed=hc_line("dom0-resumed", {0: 900, 3: 90, 47: 206}),
        hostile=HOSTILE if hostile is None else hostile,
        oneway=ONEWAY.format(
            hc_paused=hc_line("dom0-oneway-paused", {13: 50, 47: 300}),
            hc_resumed=hc_line("dom0-oneway-resumed", {13: 58, 47: 307}),
        ),
    )
    lines += paused.splitlines()
    return "\n".join(lines) + "\n"


def _failed_checks(hostile: str | None = None) -> set[str]:
    """The checks a lab.net console with these hostile-case lines fails."""
    console = split_console(_iperf_lines(hostile) + GOOD)
    results, _ = net_results(console, DEFAULT_LINKS, ["sg-b"], ["sg-a"])
    return {r.test for r in results if r.status == "fail"}


def hc_line(when: str, counts: dict[int, int]) -> str:
    """An SGKIT-HC line as xenperf -f prints the hypercalls array (56 numbers)."""
    values = " ".join(str(counts.get(n, 0)) for n in range(56))
    return f"SGKIT-HC {when} hypercalls                     T= {sum(counts.values())} {values}"


PAUSED = """\
SGKIT-NETSTAT domu-prepause if=sgnet0 tx_busy=0 tx_stalls=0 credit_requests=0 tx_dropped=0
SGKIT-NETSTAT domu-prepause if=sgnet1 tx_busy=0 tx_stalls=0 credit_requests=0 tx_dropped=0
SGKIT-NETSTAT dom0-prepause if=sgnet0 rx_packets=5 credit_requests_received=0 credit_grants=3
SGKIT-NETSTAT dom0-paused if=sgnet0 rx_packets=5 credit_requests_received=1 credit_grants=3 \
rx_returned=5 rx_return_calls=2 rx_return_errors=0
SGKIT-NETSTAT dom0-resumed if=sgnet0 rx_packets=135 credit_requests_received=1 credit_grants=4 \
rx_returned=133 rx_return_calls=10 rx_return_errors=0
{hc_paused}
{hc_resumed}
SGKIT-NETSTAT domu-resumed if=sgnet0 tx_busy=3 tx_stalls=1 credit_requests=1 tx_dropped=0
SGKIT-NETSTAT domu-resumed if=sgnet1 tx_busy=0 tx_stalls=0 credit_requests=0 tx_dropped=0
SGKIT-PAUSED-BURST to=10.77.1.2 pause=0 full=1 seconds=2 resume=0 rc=0 sent=128 received=128
{oneway}{hostile}\
SGKIT-BACKEND-RELOAD dom=sg-a to=10.77.1.2 unbind=0 rmmod=0 fe_state=4 insmod=0 rc=0
"""

# 128 frames one way into sg-a's paused receiver: 60 went through before dom0
# stalled, then 5 transfers (the rest, 68 frames) and 4 returns in sg-a (128
# + 2 frames of the pause command and counter reads).
ONEWAY = """\
SGKIT-NETSTAT domu-preoneway if=sgnet0 rx_packets=1000 rx_return_calls=40 rx_returned=990 \
rx_return_errors=0 credit_grants=7
SGKIT-NETSTAT domu-preoneway if=sgnet1 rx_packets=50 rx_return_calls=9 rx_returned=48 \
rx_return_errors=0 credit_grants=0
SGKIT-NETSTAT dom0-preoneway if=sgnet0 tx_packets=2000 tx_hypercalls=1500 tx_stalls=3
SGKIT-NETSTAT dom0-oneway-paused if=sgnet0 tx_packets=2060 tx_hypercalls=1561 tx_stalls=4
{hc_paused}
SGKIT-NETSTAT dom0-oneway-resumed if=sgnet0 tx_packets=2128 tx_hypercalls=1566 tx_stalls=4
{hc_resumed}
SGKIT-NETSTAT domu-oneway-resumed if=sgnet0 rx_packets=1130 rx_return_calls=44 rx_returned=1118 \
rx_return_errors=0 credit_grants=8
SGKIT-NETSTAT domu-oneway-resumed if=sgnet1 rx_packets=50 rx_return_calls=9 rx_returned=48 \
rx_return_errors=0 credit_grants=0
SGKIT-PAUSED-ONEWAY to=10.77.1.2 frames=128 pause=0 sent=0 stalled=1 seconds=9
"""

HOSTILE = """\
SGKIT-NETSTAT dom0-prehostile-stall if=sgnet0 tx_timeouts=0 tx_dropped=0 rx_errors=0
SGKIT-NETSTAT dom0-posthostile-stall if=sgnet0 tx_timeouts=1 tx_dropped=2 rx_errors=0
SGKIT-HOSTILE case=stall reply=0 off=1 off_after=4 stall_ms=3000 back=1 ping=0 seconds=24 \
cpu_dom0_ms=900 cpu_domu_ms=300
SGKIT-NETSTAT dom0-prehostile-credit if=sgnet0 tx_timeouts=1 tx_dropped=2 tx_stalls=9
SGKIT-NETSTAT dom0-posthostile-credit if=sgnet0 tx_timeouts=2 tx_dropped=9 tx_stalls=2409
SGKIT-HOSTILE case=credit reply=0 off=1 off_after=4 stall_ms=3000 back=1 ping=0 seconds=19 \
cpu_dom0_ms=5000 cpu_domu_ms=4000 sghostile: mode=credit victim=0 grants=12000 failed=0 ms=13000
SGKIT-NETSTAT dom0-prehostile-storm if=sgnet0 tx_timeouts=1 rx_errors=0 interrupts=10
SGKIT-NETSTAT dom0-posthostile-storm if=sgnet0 tx_timeouts=1 rx_errors=640 interrupts=200
SGKIT-HOSTILE case=storm reply=0 off=0 off_after=0 stall_ms=3000 back=1 ping=0 seconds=6 \
cpu_dom0_ms=800 cpu_domu_ms=2100 sghostile: mode=storm victim=0 rounds=100 triggers=6600 failed=0
SGKIT-NETSTAT dom0-prehostile-badhdr if=sgnet0 rx_errors=640 rx_missed_errors=0 \
peer_return_invalid=0 rx_packets=100
SGKIT-NETSTAT dom0-posthostile-badhdr if=sgnet0 rx_errors=700 rx_missed_errors=4 \
peer_return_invalid=56 rx_packets=107
SGKIT-HOSTILE case=badhdr reply=0 off=0 off_after=0 stall_ms=3000 back=1 ping=0 seconds=5 \
cpu_dom0_ms=300 cpu_domu_ms=100 sghostile: mode=badhdr victim=0 kinds=14 sent=60 busy=4 failed=0 \
chained=4
SGKIT-NETSTAT dom0-prehostile-race if=sgnet0 rx_errors=700 rx_hdr_changed=0
SGKIT-NETSTAT dom0-posthostile-race if=sgnet0 rx_errors=760 rx_hdr_changed=3
SGKIT-HOSTILE case=race reply=0 off=0 off_after=0 stall_ms=3000 back=1 ping=0 seconds=9 \
cpu_dom0_ms=700 cpu_domu_ms=900 sghostile: mode=race victim=0 rounds=20 triggers=1280 sent=600 \
busy=680 failed=0
SGKIT-NETSTAT dom0-prehostile-die if=sgnet0 tx_errors=0
SGKIT-NETSTAT dom0-posthostile-die if=sgnet0 tx_errors=1
SGKIT-HOSTILE case=die reply=0 off=1 off_after=4 stall_ms=3000 back=1 ping=0 seconds=12 \
cpu_dom0_ms=400 cpu_domu_ms=500
SGKIT-RINGPARAM if=sgnet0 set=0 rx=32 buf_len=8192 xs_rx=32 xs_len=8192 ping=0 back=0 \
back_ping=0 xs_back=64
"""


def test_iperf_summary_reads_tcp_and_udp() -> None:
    tcp = iperf_summary(json.loads((FIXTURES / "tcp.json").read_text()))
    assert tcp["protocol"] == "tcp" and not tcp["reverse"]
    assert tcp["sent_mbps"] > tcp["received_mbps"] > 1000
    assert tcp["retransmits"] == 2
    udp = iperf_summary(json.loads((FIXTURES / "udp.json").read_text()))
    assert udp["protocol"] == "udp"
    assert (udp["packets"], udp["lost_packets"], udp["lost_percent"]) == (1785, 47, 2.63)
    assert udp["received_pps"] == round((1785 - 47) / 1.000192, 1)
    err = iperf_summary(json.loads((FIXTURES / "err.json").read_text()))
    assert err == {"error": "unable to connect to server: Connection refused"}


def test_iperf_flood_and_busy_destroy_pass() -> None:
    busy = "SGKIT-BUSY-DESTROY dom=sg-a running=1 destroy=0 carrier=0 client=killed seconds=1\n"
    text = GOOD.replace("SGKIT-GUEST-LOG-BEGIN sg-a", _iperf_lines() + "SGKIT-GUEST-LOG-BEGIN sg-a")
    text = text.replace("SGKIT-NET-AFTER", busy + "SGKIT-NET-AFTER")
    console = split_console(text)
    results, measured = net_results(console, DEFAULT_LINKS, ["sg-b"], ["sg-a"])
    assert [r for r in results if r.status != "pass"] == []
    assert {r.test for r in results} >= {
        "iperf_tcp",
        "iperf_udp-reverse",
        "ping_after_flood",
        "flood_full_receive_pool",
        "paused_burst_resumed",
        "backend_reload_reconnects",
    }
    assert measured["flood"]["tx_busy"] == 70
    assert measured["paused_burst"]["domu_tx_stalls"] == 1
    assert measured["paused_burst"]["requests_seen_paused"] == 1
    assert measured["iperf"]["udp"]["lost_packets"] == 47
    states = {"sg-a": ("done", 10), "sg-b": ("done", 12)}
    checks = host_checks(console, text, ["sg-a", "sg-b"], (100, 100), states, [])
    assert [c for c in checks if c.status != "pass"] == []
    assert "sg-a_destroyed_mid_transfer" in {c.test for c in checks}


def test_broken_json_fails_and_an_unfilled_pool_fails() -> None:
    lines = _iperf_lines().replace("tx_busy=70 credit_requests=1", "tx_busy=0 credit_requests=0")
    lines = lines.replace("test=tcp to=10.77.1.2 rc=0 json={", "test=tcp to=10.77.1.2 rc=0 json={x")
    console = split_console(lines + GOOD)
    results, measured = net_results(console, DEFAULT_LINKS, ["sg-b"], ["sg-a"])
    failed = {r.test for r in results if r.status == "fail"}
    assert failed == {"iperf_tcp"}  # the unpaced flood's counters decide nothing
    assert "unreadable" in measured["iperf"]["tcp"]["error"]
    # the domU never stalled while dom0's receiver was paused: a failure
    never = lines.replace(
        "tx_busy=3 tx_stalls=1 credit_requests=1", "tx_busy=0 tx_stalls=0 credit_requests=0"
    )
    never = never.replace(
        "credit_requests_received=1 credit_grants=3", "credit_requests_received=0 credit_grants=3"
    )
    never = never.replace("full=1", "full=0")
    results, _ = net_results(split_console(never + GOOD), DEFAULT_LINKS, ["sg-b"], ["sg-a"])
    flood = next(r for r in results if r.test == "flood_full_receive_pool")
    assert flood.status == "fail" and "domu_tx_stalls=0" in (flood.reason or "")


def test_replies_ping_missed_pass_if_they_reached_sgnet() -> None:
    # 128 replies through dom0's sgnet, ping's socket overflowed: the link is fine
    missed = _iperf_lines().replace("sent=128 received=128", "sent=128 received=104")
    results, measured = net_results(split_console(missed + GOOD), DEFAULT_LINKS, ["sg-b"], ["sg-a"])
    assert {r.test: r.status for r in results}["paused_burst_resumed"] == "pass"
    assert measured["paused_burst"]["rx_after_resume"] == 130


def test_a_lost_reply_or_no_grant_after_resuming_fails() -> None:
    lost = _iperf_lines().replace("rx_packets=135 credit", "rx_packets=132 credit")
    nogrant = _iperf_lines().replace(
        "credit_requests_received=1 credit_grants=4", "credit_requests_received=1 credit_grants=3"
    )
    dropped = _iperf_lines().replace(
        "credit_requests=1 tx_dropped=0", "credit_requests=1 tx_dropped=5"
    )
    gone = _iperf_lines().replace("SGKIT-PAUSED-BURST", "SGKIT-NOTHING")
    failed = _iperf_lines().replace("resume=0 rc=0 sent=128", "resume=0 rc=1 sent=128")
    for text in (lost, nogrant, dropped, gone, failed):
        results, _ = net_results(split_console(text + GOOD), DEFAULT_LINKS, ["sg-b"], ["sg-a"])
        status = {r.test: r.status for r in results}
        assert status["paused_burst_resumed"] == "fail", text
    results, _ = net_results(split_console(gone + GOOD), DEFAULT_LINKS, ["sg-b"], ["sg-a"])
    assert {r.test: r.status for r in results}["flood_full_receive_pool"] == "fail"


def test_counter_delta_and_iperf_conf() -> None:
    stats = {"a/x": {"k": 1}, "b/x": {"k": 5}}
    assert counter_delta(stats, "a", "b", "k") == 4
    assert counter_delta(stats, "a", "c", "k") is None
    assert net_conf(DEFAULT_LINKS, [], ["sg-a"]).splitlines()[-1] == "iperf sg-a 10.77.1.2"
    assert iperf_results("SGKIT-IPERF test=tcp to=a rc=1 json=")["tcp"]["rc"] == 1


def _tso_stats(text: str) -> dict[str, dict[str, int]]:
    _, measured = net_results(split_console(text + GOOD), DEFAULT_LINKS, ["sg-b"])
    return measured["stats"]


def test_tso_checks_pass_on_large_frames_and_fail_without_them() -> None:
    lines = _iperf_lines()
    good = {r.test: r for r in tso_checks(_tso_stats(lines), lines)}
    assert {k: r.status for k, r in good.items()} == {
        "tcp_tso": "pass",
        "tcp_reverse_gso_received": "pass",
        "ethtool_offload_off": "pass",
    }
    # one frame per MTU: no TSO in effect
    mtu = lines.replace("tx_packets=200 tx_bytes=2100000", "tx_packets=1500 tx_bytes=2100000")
    res = {r.test: r for r in tso_checks(_tso_stats(mtu), mtu)}
    assert res["tcp_tso"].status == "fail" and "per frame" in (res["tcp_tso"].reason or "")
    # GSO frames still sent with the offloads switched off
    leak = lines.replace(
        "tx_packets=900 tx_bytes=3000000 tx_gso_packets=90",
        "tx_packets=900 tx_bytes=3000000 tx_gso_packets=91",
    )
    res = {r.test: r for r in tso_checks(_tso_stats(leak), leak)}
    assert res["ethtool_offload_off"].status == "fail"
    shown = lines.replace("tso=off tx=off", "tso=on tx=off")
    res = {r.test: r for r in tso_checks(_tso_stats(shown), shown)}
    assert res["ethtool_offload_off"].status == "fail"
    # the reverse run delivered no GSO frames to dom0
    rev = lines.replace(
        "rx_gso_packets=80 rx_csum_partial=80", "rx_gso_packets=0 rx_csum_partial=0", 1
    )
    res = {r.test: r for r in tso_checks(_tso_stats(rev), rev)}
    assert res["tcp_reverse_gso_received"].status == "fail"
    gone = {r.test: r for r in tso_checks({}, "")}
    assert all(r.status == "fail" for r in gone.values()) and len(gone) == 3


def test_inband_returns_need_names_each_way_and_no_lie() -> None:
    from sgkit.lab.net import inband_return_checks

    lines = _iperf_lines()
    good = {r.test: r for r in inband_return_checks(_tso_stats(lines))}
    assert {k: r.status for k, r in good.items()} == {
        "tcp_inband_returns_received": "pass",
        "tcp_inband_returns_sent": "pass",
    }

    def status(text: str) -> dict[str, str]:
        return {r.test: r.status for r in inband_return_checks(_tso_stats(text))}

    # the domU named nothing while dom0 sent (out-of-band only)
    silent = lines.replace("peer_returned=200 ", "peer_returned=100 ")
    assert status(silent)["tcp_inband_returns_received"] == "fail"
    # a header named a buffer dom0 had not filled (an honest peer never does)
    lie = lines.replace(
        "peer_return_invalid=0 rx_returned_inband=80", "peer_return_invalid=1 rx_returned_inband=80"
    )
    assert status(lie)["tcp_inband_returns_received"] == "fail"
    # dom0 returned nothing in-band while it received, or a rearm failed
    none = lines.replace(
        "rx_returned_inband=80 rx_return_inband_errors=0",
        "rx_returned_inband=0 rx_return_inband_errors=0",
        1,
    )
    assert status(none)["tcp_inband_returns_sent"] == "fail"
    failed = lines.replace(
        "rx_returned_inband=80 rx_return_inband_errors=0",
        "rx_returned_inband=80 rx_return_inband_errors=2",
        1,
    )
    assert status(failed)["tcp_inband_returns_sent"] == "fail"
    assert all(v == "fail" for v in status("").values())


def test_packing_needs_more_frames_than_buffers_and_packed_sends() -> None:
    from sgkit.lab.net import packing_checks

    lines = _iperf_lines()
    results, seen = packing_checks(_tso_stats(lines))
    assert {r.test: r.status for r in results} == {
        "udp_frames_packed": "pass",
        "flood_frames_packed": "pass",
    }
    assert (seen["udp_rx_packets"], seen["udp_rx_buffers"]) == (1000, 100)
    assert seen["flood_tx_frames_packed"] == 595

    def status(text: str) -> dict[str, str]:
        return {r.test: r.status for r in packing_checks(_tso_stats(text))[0]}

    # one frame per buffer: nothing packed
    single = lines.replace("rx_buffers=200", "rx_buffers=1100").replace(
        "rx_frames_packed=1300", "rx_frames_packed=400"
    )
    assert status(single)["udp_frames_packed"] == "fail"
    # a record refused on the way (an honest sender's frames are never errors)
    refused = lines.replace(
        "rx_frames_packed=1300 rx_errors=0", "rx_frames_packed=1300 rx_errors=1"
    )
    assert status(refused)["udp_frames_packed"] == "fail"
    # the flood's sender never shared a buffer
    assert (
        status(lines.replace("tx_frames_packed=600", "tx_frames_packed=5"))["flood_frames_packed"]
        == "fail"
    )
    assert all(v == "fail" for v in status("").values())


def test_backend_reload_needs_a_connected_frontend_and_a_ping_after() -> None:
    good = "SGKIT-BACKEND-RELOAD dom=sg-a to=10.77.1.2 unbind=0 rmmod=0 fe_state=4 insmod=0 rc=0"
    assert backend_reload_check(good).status == "pass"
    # the frontend had noticed (Closed): not the stale-Connected case
    closed = backend_reload_check(good.replace("fe_state=4", "fe_state=6"))
    assert closed.status == "fail" and "state 6" in (closed.reason or "")
    assert backend_reload_check(good.replace(" rc=0", " rc=1")).status == "fail"
    assert backend_reload_check(good.replace("insmod=0", "insmod=1")).status == "fail"
    assert backend_reload_check("").status == "fail"


def test_tcp_order_check_fails_on_segments_out_of_order() -> None:
    from sgkit.lab.net import tcp_order_check

    lines = _iperf_lines()
    measured: dict = {}
    good = tcp_order_check(lines, measured)
    assert good.status == "pass", good.reason
    assert measured["tcp_reorder"] == {"TCPOFOQueue": 0, "TCPSACKReorder": 0, "TCPTSReorder": 0}
    ofo = lines.replace("posttcp TCPOFOQueue=4", "posttcp TCPOFOQueue=137")
    bad = tcp_order_check(ofo, {})
    assert bad.status == "fail" and "TCPOFOQueue+133" in (bad.reason or "")
    missing = tcp_order_check(lines.replace("SGKIT-TCPEXT posttcp", "SGKIT-TCPEXT later"), {})
    assert missing.status == "fail" and "no SGKIT-TCPEXT" in (missing.reason or "")


def test_burst_check_trusts_ping_or_the_frames_sgnet_received() -> None:
    from sgkit.lab.net import burst_check

    assert burst_check("dom0", "x", "0", 512, 512, None).status == "pass"
    # ping's socket lost two, but every reply came up through sgnet
    ok = burst_check("dom0", "x", "0", 512, 510, 514)
    assert ok.status == "pass"
    lost = burst_check("dom0", "x", "0", 512, 510, 510)
    assert lost.status == "fail" and "received 510 frames" in (lost.reason or "")
    assert burst_check("dom0", "x", "1", 512, 0, None).status == "fail"
    assert burst_check("dom0", "x", "0", 0, 0, 0).status == "fail"


def test_burst_arrivals_come_from_the_preburst_counters() -> None:
    text = (
        "SGKIT-NETSTAT dom0-preburst if=sgnet0 rx_packets=20\n"
        "SGKIT-BURST from=dom0 to=10.77.1.2 if=sgnet0 rc=0 sent=512 received=509\n"
        "SGKIT-NETSTAT dom0-postburst if=sgnet0 rx_packets=532\n"
    )
    good = GOOD.replace(
        "SGKIT-BURST from=dom0 to=10.77.1.2 if=sgnet0 rc=0 sent=512 received=512\n", ""
    )
    results, measured = net_results(split_console(text + good), DEFAULT_LINKS, ["sg-b"])
    assert {r.test: r.status for r in results}["burst_10.77.1.2"] == "pass"
    burst = measured["bursts"]["dom0->10.77.1.2"]
    assert burst == {"sent": 512, "received": 509, "arrived_at_sgnet": 512}


def test_resume_needs_batched_buffer_returns() -> None:
    def status(text: str) -> str:
        results, _ = net_results(split_console(text + GOOD), DEFAULT_LINKS, ["sg-b"], ["sg-a"])
        return {r.test: r.status for r in results}["resume_returns"]

    assert status(_iperf_lines()) == "pass"  # 8 returns for 130 frames
    # a rearm per buffer: 130 calls for 130 frames
    per_buffer = _iperf_lines().replace("rx_return_calls=10 ", "rx_return_calls=132 ")
    failed = _iperf_lines().replace(
        "rx_return_calls=10 rx_return_errors=0", "rx_return_calls=10 rx_return_errors=1"
    )
    none = _iperf_lines().replace("rx_return_calls=10 ", "rx_return_calls=2 ")
    edge = _iperf_lines().replace("rx_return_calls=10 ", "rx_return_calls=18 ")  # 16 * 8 <= 130
    over = _iperf_lines().replace("rx_return_calls=10 ", "rx_return_calls=19 ")  # 17 * 8 > 130
    cases = (per_buffer, failed, none, edge, over)
    assert [status(t) for t in cases] == ["fail", "fail", "fail", "pass", "fail"]
    # Xen's sg_op count is measured (206 - 200), whether or not the lines are there
    _, measured = net_results(
        split_console(_iperf_lines() + GOOD), DEFAULT_LINKS, ["sg-b"], ["sg-a"]
    )
    assert measured["paused_burst"]["xen_sg_op_after_resume"] == 6
    no_xen = _iperf_lines().replace("SGKIT-HC dom0-resumed", "SGKIT-NOTHING")
    assert status(no_xen) == "pass"


def _oneway(text: str) -> tuple[str, str, dict]:
    results, measured = net_results(split_console(text + GOOD), DEFAULT_LINKS, ["sg-b"], ["sg-a"])
    check = next(r for r in results if r.test == "resume_hypercalls")
    return check.status, check.reason or "", measured.get("paused_oneway", {})


def test_resume_counts_transfers_and_returns_of_one_way_frames() -> None:
    status, _, seen = _oneway(_iperf_lines())
    assert status == "pass"
    assert (seen["transfers_after_stall"], seen["receiver_returns"], seen["calls"]) == (5, 4, 9)
    assert (seen["sent_before_stall"], seen["received"]) == (60, 130)
    assert (seen["xen_sg_op"], seen["xen_multicall"]) == (7, 8)  # reported only

    def with_(old: str, new: str) -> str:
        text = _iperf_lines()
        assert old in text, old
        return text.replace(old, new)

    paused = "SGKIT-NETSTAT dom0-oneway-paused if=sgnet0 tx_packets=2060 tx_hypercalls=1561"
    resumed = "SGKIT-NETSTAT dom0-oneway-resumed if=sgnet0 tx_packets=2128 tx_hypercalls="
    after = "domu-oneway-resumed if=sgnet0 rx_packets=1130 rx_return_calls="
    cases = {
        # 16 calls for 128 frames: the most allowed; 17: one too many
        "edge": (with_(resumed + "1566", resumed + "1573"), "pass"),
        "over": (with_(resumed + "1566", resumed + "1574"), "fail"),
        # a transfer per queued frame, a return per buffer
        "per_frame": (with_(resumed + "1566", resumed + "1629"), "fail"),
        "per_buffer": (with_(after + "44", after + "170"), "fail"),
        # the case did not happen as it should: nothing counted, or not queued
        "no_line": (with_("SGKIT-PAUSED-ONEWAY", "SGKIT-NOTHING"), "fail"),
        "no_pause": (with_("frames=128 pause=0", "frames=128 pause=1"), "fail"),
        "no_stall": (with_("sent=0 stalled=1", "sent=0 stalled=0"), "fail"),
        "not_written": (with_("pause=0 sent=0", "pause=0 sent=1"), "fail"),
        "through_before": (with_(paused, paused.replace("2060", "2100")), "fail"),
        "not_all_sent": (with_(resumed + "1566", resumed.replace("2128", "2127") + "1566"), "fail"),
        "not_all_received": (with_(after, after.replace("1130", "1127")), "fail"),
        "return_error": (
            with_("rx_returned=1118 rx_return_errors=0", "rx_returned=1118 rx_return_errors=1"),
            "fail",
        ),
        "no_peer_counters": (with_("SGKIT-NETSTAT domu-oneway-resumed", "SGKIT-NOTHING"), "fail"),
    }
    got = {name: _oneway(text)[0] for name, (text, _) in cases.items()}
    assert got == {name: want for name, (_, want) in cases.items()}
    assert "at most 16 together" in _oneway(cases["over"][0])[1]


def test_hostile_peer_cases_pass_and_their_counters_are_measured() -> None:
    console = split_console(_iperf_lines() + GOOD)
    results, measured = net_results(console, DEFAULT_LINKS, ["sg-b"], ["sg-a"])
    status = {r.test: r.status for r in results}
    cases = ("stall", "credit", "storm", "badhdr", "race", "die")
    assert [status[f"hostile_{c}"] for c in cases] == ["pass"] * 6
    assert status["ethtool_ringparam"] == "pass"
    assert measured["ringparam"]["xs_len"] == "8192"
    hostile = measured["hostile"]
    assert hostile["stall"]["tx_timeouts"] == 1 and hostile["stall"]["carrier_off"]
    credit = hostile["credit"]
    assert (credit["tx_stalls"], credit["peer_grants"], credit["off_after"]) == (2400, 12000, 4)
    assert not credit["stack_watchdog"]
    assert hostile["storm"]["peer_triggers"] == 6600 and hostile["storm"]["interrupts"] == 190
    assert hostile["badhdr"]["rx_missed_errors"] == 4 and hostile["badhdr"]["cpu_domu_ms"] == 100
    assert hostile["badhdr"]["peer_return_invalid"] == 56
    assert hostile["race"]["rx_hdr_changed"] == 3 and hostile["race"]["peer_sent"] == 600


def test_hostile_peer_cases_fail_without_drops_carrier_loss_or_recovery() -> None:
    cases = {
        # the watchdog never took the carrier
        "stall": HOSTILE.replace("stall reply=0 off=1", "stall reply=0 off=0"),
        # grants that re-arm nothing kept sgnet's watchdog off: the stack's backstop
        # (dev_watchdog, twice the stall timeout at connect) WARNed and took the carrier
        "credit": HOSTILE.replace(
            "SGKIT-NETSTAT dom0-posthostile-credit",
            "NETDEV WATCHDOG: sgnet0 (vsg-back): transmit queue 0 timed out\n"
            "SGKIT-NETSTAT dom0-posthostile-credit",
        ),
        # the link never carried a ping again after the storm
        "storm": HOSTILE.replace("ping=0 seconds=6", "ping=1 seconds=6"),
        # fewer errors in dom0 than bad frames sent: some were taken
        "badhdr": HOSTILE.replace("rx_errors=700", "rx_errors=650"),
        # every name of the peer's taken: dom0 did not bound what a liar may spend
        "badhdr_names": HOSTILE.replace("peer_return_invalid=56", "peer_return_invalid=0"),
        # no record chain went through (sghostile without the sgnet-4 case)
        "badhdr_nochain": HOSTILE.replace("chained=4", "chained=0"),
        # the chains' valid first records were not all delivered
        "badhdr_chainfirst": HOSTILE.replace("rx_packets=107", "rx_packets=102"),
        # the racing peer's buffers were all taken as frames: nothing counted as an error
        "race": HOSTILE.replace("rx_errors=760", "rx_errors=700"),
        # the peer came back, but the link never did
        "die": HOSTILE.replace("back=1 ping=0 seconds=12", "back=0 ping=1 seconds=12"),
    }
    for case, text in cases.items():
        failed = _failed_checks(text)
        assert failed == {f"hostile_{case.split('_')[0]}"}, (case, failed)
    assert _failed_checks("") == {
        "hostile_stall",
        "hostile_credit",
        "hostile_storm",
        "hostile_badhdr",
        "hostile_race",
        "hostile_die",
        "ethtool_ringparam",
    }


def test_hostile_credit_fails_unless_grants_were_retried_and_the_retries_bounded() -> None:
    cases = {
        # the carrier stayed on through the grants (the old stall clock, restarted at every
        # credit request: a lab run with it gave off=0 off_after=60)
        "never_off": HOSTILE.replace(
            "case=credit reply=0 off=1 off_after=4", "case=credit reply=0 off=0 off_after=60"
        ),
        # no more stalls than the watchdog's probes: the grants were never acted on
        "ignored": HOSTILE.replace("tx_stalls=2409", "tx_stalls=20"),
        # more retries than grants and seconds: the victim spun on its own
        "spun": HOSTILE.replace("tx_stalls=2409", "tx_stalls=12029"),
        # the watchdog freed nothing
        "kept": HOSTILE.replace("tx_dropped=9 tx_stalls", "tx_dropped=2 tx_stalls"),
        # the hostile peer's own triggers failed
        "refused": HOSTILE.replace("grants=12000 failed=0", "grants=12000 failed=3"),
    }
    for name, text in cases.items():
        failed = _failed_checks(text)
        assert failed == {"hostile_credit"}, (name, failed)


def test_ringparam_check_fails_when_the_link_kept_its_old_buffers() -> None:
    for bad in ("xs_rx=32", "buf_len=8192", "back_ping=0"):
        worse = {
            "xs_rx=32": "xs_rx=64",
            "buf_len=8192": "buf_len=69632",
            "back_ping=0": "back_ping=1",
        }
        text = HOSTILE.replace(bad, worse[bad])
        failed = _failed_checks(text)
        assert failed == {"ethtool_ringparam"}, (bad, failed)


# The lifecycle cases (issue 13) as dom0 and sg-b print them.
_BIDIR = json.dumps(
    {
        "end": {
            "sum_received": {"bytes": 5000000, "seconds": 4.0},
            "sum_received_bidir_reverse": {"bytes": 3000000, "seconds": 4.0},
        }
    }
)
LIFE = f"""\
SGKIT-NETSTAT dom0-prebridge if=sgnet0 tx_packets=100 tx_dropped=0 tx_foreign_copies=0
SGKIT-NETSTAT dom0-postbridge if=sgnet0 tx_packets=900 tx_dropped=0 tx_foreign_copies=420
SGKIT-BRIDGE dom=sg-b to=10.77.1.2 vif=vif2.0 sgnet=sgnet0 bridge=0 rc=0 json={_BIDIR}
SGKIT-SGOP when=presave scope=global regs=390 pinned_pages=6534 bindings=396 addrs=396 domains=3
SGKIT-RESTORE dom=sg-b old=2 new=4 save=0 gone=1 restore=0 connect=0 unpause=0 seconds=41
SGKIT-NETSTAT dom0-restored if=sgnet3 tx_packets=7 rx_packets=7 rx_errors=0 pages_leaked=0
SGKIT-RELINK dom=sg-b be=dom0 devid=2 if=sgnet3 configure=0 ping=0
SGKIT-NETSTAT sg-a-restored if=sgnet1 tx_packets=9 rx_packets=9 rx_errors=0 pages_leaked=0
SGKIT-NETSTAT sg-a-restored if=sgnet2 tx_packets=7 rx_packets=7 rx_errors=0 pages_leaked=0
SGKIT-RELINK dom=sg-b be=sg-a devid=1 if=sgnet2 configure=0 ping=0
SGKIT-NETSTAT sg-b-restored if=sgnet0 tx_packets=99 rx_packets=99 tx_errors=2 pages_leaked=0
SGKIT-SGOP when=restored scope=global regs=390 pinned_pages=6534 bindings=396 addrs=396 domains=3
SGKIT-SGOP when=preshutdown scope=global regs=390 pinned_pages=6534 bindings=396 addrs=396
SGKIT-SGOP when=preshutdown scope=dom4 rc=0 regs=130 pinned_pages=2178 bindings=132
SGKIT-SGOP when=shutdown scope=global regs=130 pinned_pages=2178 bindings=132 addrs=132
SGKIT-SGOP when=shutdown scope=dom4 rc=0 regs=0 pinned_pages=0 bindings=0
SGKIT-SHUTDOWN dom=sg-b rc=0 state=--ps-- seconds=6 carrier=0 be_state=6
"""
NOTIFIER = """\
SGKIT-GUEST-LOG-BEGIN sg-b
[  301.5] vsg vsg-1 sgnet0: released for shutdown
[  301.6] vsg vsg-2 sgnet1: released for shutdown
SGKIT-GUEST-LOG-END sg-b
"""


def _life(text: str = LIFE, notifier: str = NOTIFIER) -> tuple[dict[str, str], dict]:
    from sgkit.lab.net import LIFE_LINK, lifecycle, lifecycle_checks

    links = (*DEFAULT_LINKS, LIFE_LINK)
    console = split_console(text + notifier)
    _, measured = net_results(console, DEFAULT_LINKS, [])
    results, seen = lifecycle_checks(
        console, lifecycle(links, "sg-b", "sg-a"), links, measured["stats"]
    )
    return {r.test: r.status for r in results}, seen


def test_lab_net_plan_gives_sg_b_a_vif_a_bridge_and_its_own_link_to_dom0() -> None:
    from sgkit.lab.net import lab_net_plan

    plan = lab_net_plan()
    conf = net_conf(plan.links, plan.reload, plan.iperf, plan.life).splitlines()
    assert "link 0 sg-b 2" in conf and "addr dom0 2 10.77.3.1/24 10.77.3.2" in conf
    assert conf[-3:] == ["vif sg-b 10.77.1.3/24", "bridge sg-b 10.77.1.2", "life sg-b"]
    assert plan.settings["DOMU_VIF"] == "sg-b"
    assert "preserve" in plan.settings["DOMU_CFG_EXTRA"]


def test_lifecycle_cases_pass_and_are_measured() -> None:
    status, seen = _life()
    assert set(status.values()) == {"pass"}, status
    assert len(status) == 7
    assert seen["bridge"]["tx_foreign_copies"] == 420 and seen["bridge"]["back_mbps"] == 6.0
    assert seen["save_restore"]["new"] == "4"
    assert seen["shutdown"]["usage_after"]["regs"] == 0
    assert seen["shutdown"]["notifier_lines"] == 2


def test_lifecycle_cases_fail_on_what_they_count() -> None:
    cases = {
        # netback's frames went out without a copy (or not at all)
        "bridge_foreign_copies": LIFE.replace("tx_foreign_copies=420", "tx_foreign_copies=0"),
        # nothing came back across the bridge
        "bridge_iperf_both_ways": LIFE.replace('"bytes": 3000000', '"bytes": 0'),
        # sg-a's end of the restored link never answered
        "save_restore_reconnects": LIFE.replace(
            "devid=1 if=sgnet2 configure=0 ping=0", "devid=1 if=sgnet2 configure=0 ping=1"
        ),
        # a registration of the old domain left behind
        "save_restore_no_leak": LIFE.replace(
            "when=restored scope=global regs=390", "when=restored scope=global regs=455"
        ),
        # a page leaked in the restored domain
        "save_restore_counters": LIFE.replace(
            "tx_errors=2 pages_leaked=0", "tx_errors=2 pages_leaked=17"
        ),
        # the shut-down domain still holds registrations: no notifier
        "shutdown_releases_registrations": LIFE.replace(
            "when=shutdown scope=dom4 rc=0 regs=0", "when=shutdown scope=dom4 rc=0 regs=130"
        ),
        # dom0's end did not see the frontend close
        "shutdown_peer_closed": LIFE.replace("carrier=0 be_state=6", "carrier=0 be_state=4"),
    }
    for case, text in cases.items():
        status, _ = _life(text)
        assert {t for t, s in status.items() if s == "fail"} == {case}, case
    # the old domid's backend device never went
    status, _ = _life(LIFE.replace("gone=1", "gone=0"))
    assert status["save_restore_reconnects"] == "fail"
    # a link of sg-b never reported after the restore
    status, _ = _life("\n".join(x for x in LIFE.splitlines() if "be=sg-a" not in x) + "\n")
    assert status["save_restore_reconnects"] == "fail"
    # no notifier line in sg-b's console
    status, _ = _life(notifier="")
    assert status["shutdown_releases_registrations"] == "fail"
    # nothing ran at all
    status, _ = _life("", "")
    assert set(status.values()) == {"fail"} and len(status) == 7


def test_napi_deferral_needs_deferred_polls_and_more_polls_than_upcalls() -> None:
    from sgkit.lab.net import napi_deferral_check

    def result(**after: int) -> str:
        base = {"rx_packets": 10, "rx_polls": 5, "rx_polls_deferred": 0, "interrupts": 5}
        stats = {
            "dom0-predefer/sgnet0": base,
            "dom0-postdefer/sgnet0": {k: v + after.get(k, 0) for k, v in base.items()},
        }
        return napi_deferral_check(stats).status

    assert result(rx_packets=900, rx_polls=120, rx_polls_deferred=60, interrupts=3) == "pass"
    # the kernel never deferred a completion (the knob not honoured)
    assert result(rx_packets=900, rx_polls=120, interrupts=3) == "fail"
    # an upcall per poll: the port was unmasked after every poll
    assert result(rx_packets=900, rx_polls=60, rx_polls_deferred=60, interrupts=60) == "fail"
    # nothing received
    assert result(rx_polls=3, rx_polls_deferred=1, interrupts=1) == "fail"
    # no counters read
    assert napi_deferral_check({}).status == "fail"
