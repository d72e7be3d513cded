"""lab.net's reading of its serial log: links up, pings, burst, reload, host checks."""

from __future__ import annotations

from sgkit.lab_net import (
    DEFAULT_LINKS,
    domus_of,
    host_checks,
    net_conf,
    net_results,
    parse_stats,
)
from sgkit.lab_test import split_console

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
