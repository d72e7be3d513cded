"""Whole console logs captured from real lab runs (tests/unit/test_data), parsed again.

kunit_tool keeps real kernel output under test_data/ so that the parser is
tested on what the machine prints, not on what a test author imagined.
These are the serial consoles of one lab.smoke, one lab.test and one
lab.net run of Xen 4.17.5 with the 6.1 dom0, all of which passed; parsing
them again must give the same results.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from sgkit.lab.boot import split_console
from sgkit.lab.net import DEFAULT_IPERF, DEFAULT_LINKS, DEFAULT_RELOAD, net_results
from sgkit.report import ktap, protocol
from sgkit.report.checks import domu_states, failed_steps, free_memory
from sgkit.report.console_log import classify
from sgkit.report.publish import results_from_ktap

DATA = Path(__file__).parent / "test_data"


def _read(name: str) -> str:
    return (DATA / name).read_text(errors="replace")


def test_smoke_console_gives_the_dom0_results_and_the_query():
    text = _read("smoke-patched-4.17.log")
    assert classify(text, protocol.DONE.name).kind == "ok"
    results = results_from_ktap(ktap.parse(text, domain="dom0"), "dom0")
    assert len(results) == 23 and all(r.status == "pass" for r in results)
    query = protocol.query_of(text)
    assert query is not None and query["rc"] == "0" and query["max_regs"] == "256"
    assert protocol.INIT.first(text)["domain"] == "dom0"


def test_lab_test_console_splits_into_three_domains_with_their_results():
    text = _read("lab-test-4.17.log")
    assert classify(text, protocol.LAB_DONE.name).kind == "ok"
    console = split_console(text)
    assert sorted(console.guests) == ["sg-a", "sg-b"] and console.unterminated == []
    counts = Counter()
    for domain, body in [("dom0", console.dom0), *console.guests.items()]:
        for r in results_from_ktap(ktap.parse(body, domain=domain), domain):
            counts[(domain, r.status)] += 1
    assert counts == {
        ("dom0", "pass"): 36,
        ("sg-a", "pass"): 33,
        ("sg-a", "skip"): 2,
        ("sg-b", "pass"): 34,
        ("sg-b", "skip"): 1,
    }
    assert {name: state for name, (state, _) in domu_states(text).items()} == {
        "sg-a": "done",
        "sg-b": "done",
    }
    assert failed_steps(console.dom0) == []
    before, after = free_memory(text)
    assert before == after
    assert protocol.global_of(console.dom0_before)["domains"] == 1
    assert "(XEN)" in (console.xl_dmesg or "")


def test_lab_net_console_passes_every_link_check_again():
    text = _read("lab-net-4.17.log")
    console = split_console(text)
    results, measured = net_results(console, DEFAULT_LINKS, DEFAULT_RELOAD, DEFAULT_IPERF)
    bad = [(r.domain, r.test, r.reason) for r in results if r.status != "pass"]
    assert bad == [] and len(results) >= 25
    assert set(measured["iperf"]) >= {"tcp", "udp", "flood"}
