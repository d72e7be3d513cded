"""lab.net's reading of its serial log: links up, pings, burst, reload, host checks."""

from __future__ import annotations

import json
from pathlib import Path

from sgkit.lab_boot import split_console
from sgkit.lab_net import (
    DEFAULT_LINKS,
    counter_delta,
    domus_of,
    host_checks,
    iperf_results,
    iperf_summary,
    net_conf,
    net_results,
    parse_stats,
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
SGKIT-NET sg-a devid=1 if=sgnet1 state=up carrier=1
SGKIT-PING from=sg-a to=10.77.2.2 if=sgnet1 rc=0
SGKIT-DONE
SGKIT-GUEST-LOG-END sg-a
SGKIT-GUEST-LOG-BEGIN sg-b
SGKIT-NET sg-b devid=1 if=sgnet0 state=up carrier=1
SGKIT-PING from=sg-b to=10.77.2.1 if=sgnet0 rc=0
SGKIT-RELOAD sg-b unbind=0 rmmod=0 insmod=0
SGKIT-NET sg-b devid=1 if=sgnet0 state=up carrier=1
SGKIT-PING from=sg-b to=10.77.2.1 if=sgnet0 rc=0
SGKIT-DONE
SGKIT-GUEST-LOG-END sg-b
SGKIT-NET-AFTER dom0 if=sgnet0 carrier=0
SGKIT-DOM0-AFTER-BEGIN
SGKIT-INSMOD sgnet rc=0
SGKIT-DOM0-AFTER-END
"""


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


def test_parse_stats_keeps_numbers() -> None:
    assert parse_stats(" a=1 b=x c=22") == {"a": 1, "c": 22}


FIXTURES = Path(__file__).parent / "fixtures" / "iperf3"


def _iperf_lines() -> str:
    tcp = (FIXTURES / "tcp.json").read_text().strip()
    udp = (FIXTURES / "udp.json").read_text().strip()
    lines = [f"SGKIT-IPERF test=tcp to=10.77.1.2 rc=0 json={tcp}"]
    lines.append(f"SGKIT-IPERF test=tcp-reverse to=10.77.1.2 rc=0 json={tcp}")
    lines.append(f"SGKIT-IPERF test=udp to=10.77.1.2 rc=0 json={udp}")
    lines.append(f"SGKIT-IPERF test=udp-reverse to=10.77.1.2 rc=0 json={udp}")
    lines.append("SGKIT-NETSTAT dom0-preflood if=sgnet0 tx_packets=10 tx_busy=0 credit_requests=0")
    lines.append(f"SGKIT-IPERF test=flood to=10.77.1.2 rc=0 json={udp}")
    lines.append(
        "SGKIT-NETSTAT dom0-postflood if=sgnet0 tx_packets=900 tx_busy=70 credit_requests=1"
    )
    lines.append("SGKIT-FLOOD-PING to=10.77.1.2 rc=0")
    return "\n".join(lines) + "\n"


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
    assert {r.test for r in results} >= {"iperf_tcp", "iperf_udp-reverse", "ping_after_flood"}
    assert measured["flood"]["tx_busy"] == 70
    assert measured["iperf"]["udp"]["lost_packets"] == 47
    states = {"sg-a": ("done", 10), "sg-b": ("done", 12)}
    checks = host_checks(console, text, ["sg-a", "sg-b"], (100, 100), states, [])
    assert [c for c in checks if c.status != "pass"] == []
    assert "sg-a_destroyed_mid_transfer" in {c.test for c in checks}


def test_broken_json_fails_and_a_flood_that_never_filled_the_pool_skips() -> None:
    lines = _iperf_lines().replace("tx_busy=70 credit_requests=1", "tx_busy=0 credit_requests=0")
    lines = lines.replace("test=tcp to=10.77.1.2 rc=0 json={", "test=tcp to=10.77.1.2 rc=0 json={x")
    console = split_console(lines + GOOD)
    results, measured = net_results(console, DEFAULT_LINKS, ["sg-b"], ["sg-a"])
    failed = {r.test for r in results if r.status == "fail"}
    assert failed == {"iperf_tcp"}
    flood = next(r for r in results if r.test == "flood_full_receive_pool")
    assert flood.status == "skip" and "kept up" in (flood.reason or "")
    assert "unreadable" in measured["iperf"]["tcp"]["error"]


def test_counter_delta_and_iperf_conf() -> None:
    stats = {"a/x": {"k": 1}, "b/x": {"k": 5}}
    assert counter_delta(stats, "a", "b", "k") == 4
    assert counter_delta(stats, "a", "c", "k") is None
    assert net_conf(DEFAULT_LINKS, [], ["sg-a"]).splitlines()[-1] == "iperf sg-a 10.77.1.2"
    assert iperf_results("SGKIT-IPERF test=tcp to=a rc=1 json=")["tcp"]["rc"] == 1
