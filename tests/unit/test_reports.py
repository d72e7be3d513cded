"""Unit tests for sgkit.report.publish."""

from __future__ import annotations

import json
from pathlib import Path

import junitparser

from sgkit.report.console_log import Verdict
from sgkit.report.ktap import parse
from sgkit.report.publish import (
    Result,
    RunReport,
    results_from_ktap,
    summary,
    write_json,
    write_junit,
)

DOM0 = """KTAP version 1
1..1
    KTAP version 1
    # Subtest: sg_op
    1..4
    # sgtest.query rc=0 abi_version=65536
    ok 1 query_returns_abi_version
    not ok 2 query_reports_limits
    ok 3 query_rejects_nonzero_padding # SKIP sg_op not available (rc=-38)
not ok 1 sg_op
"""
GUEST = """KTAP version 1
1..1
    KTAP version 1
    # Subtest: evtchn_addr
    1..1
    ok 1 bind_works
ok 1 evtchn_addr
"""
OK = Verdict("ok", 40, "SGKIT-DONE", "SGKIT-DONE seen")
PANIC = Verdict("xen_panic", 12, "(XEN) Panic on CPU 0:", "Xen panicked: (XEN) Panic on CPU 0:")


def make_report(verdict: Verdict | None = OK) -> RunReport:
    results = results_from_ktap(parse(DOM0), "dom0") + results_from_ktap(parse(GUEST), "guest1")
    return RunReport("smoke", results, verdict, "2026-01-01T00:00:00+00:00", 12.5, {"xen": "4.19"})


def test_results_from_ktap_paths_statuses_and_protocol_errors() -> None:
    results = results_from_ktap(parse(DOM0), "dom0")
    rows = [(r.domain, r.suite, r.test, r.status) for r in results]
    assert rows == [
        ("dom0", "sg_op", "query_returns_abi_version", "pass"),
        ("dom0", "sg_op", "query_reports_limits", "fail"),
        ("dom0", "sg_op", "query_rejects_nonzero_padding", "skip"),
        ("dom0", "sg_op", "missing test 4", "error"),
        ("dom0", "sg_op", "ktap_protocol", "error"),
    ]
    assert results[0].diagnostics == ["sgtest.query rc=0 abi_version=65536"]
    assert results[2].reason == "sg_op not available (rc=-38)"
    assert results[4].reason == "expected 4 tests in sg_op, saw 3"


def test_failed_suite_with_passing_tests_is_reported() -> None:
    ktap = "KTAP version 1\n1..1\n    1..1\n    ok 1 a\nnot ok 1 s\n"
    results = results_from_ktap(parse(ktap), "dom0")
    assert [(r.test, r.status) for r in results] == [("a", "pass"), ("(suite)", "fail")]


def test_counts_and_ok() -> None:
    report = make_report()
    assert report.counts() == {"pass": 2, "fail": 1, "skip": 1, "error": 2, "total": 6}
    assert not report.ok()
    good = RunReport("g", results_from_ktap(parse(GUEST), "guest1"), OK, "", 1.0, {})
    assert good.ok()
    assert RunReport("g", good.results, None, "", 1.0, {}).ok()
    assert not RunReport("g", good.results, PANIC, "", 1.0, {}).ok()


def test_empty_run_is_not_ok() -> None:
    report = RunReport("empty", [], OK, "", 0.0, {})
    assert report.counts()["total"] == 0
    assert not report.ok()
    assert "no test results" in summary(report)


def test_json_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "out" / "report.json"
    write_json(make_report(PANIC), path)
    data = json.loads(path.read_text())
    assert data["name"] == "smoke"
    assert data["ok"] is False
    assert data["counts"]["total"] == 6
    assert data["verdict"]["kind"] == "xen_panic"
    assert data["meta"] == {"xen": "4.19"}
    assert data["results"][0]["suite"] == "sg_op"
    assert [p.name for p in path.parent.iterdir()] == ["report.json"]  # no temp file left


def test_junit_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    write_junit(make_report(PANIC), path)
    xml = junitparser.JUnitXml.fromfile(str(path))
    suites = {suite.name: suite for suite in xml}
    assert set(suites) == {"dom0.sg_op", "guest1.evtchn_addr", "sgkit"}
    sg_op = suites["dom0.sg_op"]
    assert (sg_op.tests, sg_op.failures, sg_op.errors, sg_op.skipped) == (5, 1, 2, 1)
    assert all(case.classname == "dom0.sg_op" for case in sg_op)
    skipped = next(case for case in sg_op if case.name == "query_rejects_nonzero_padding")
    assert skipped.is_skipped
    assert skipped.result[0].message == "sg_op not available (rc=-38)"
    [console] = list(suites["sgkit"])
    assert console.name == "console"
    assert console.result[0].message == PANIC.reason
    assert console.result[0].type == "xen_panic"
    assert (xml.tests, xml.failures, xml.errors, xml.skipped) == (7, 2, 2, 1)


def test_junit_ok_console_adds_no_testcase_and_empty_run_fails(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    write_junit(RunReport("g", results_from_ktap(parse(GUEST), "guest1"), OK, "", 1.0, {}), path)
    xml = junitparser.JUnitXml.fromfile(str(path))
    assert (xml.tests, xml.failures, xml.errors) == (1, 0, 0)
    write_junit(RunReport("empty", [], None, "", 0.0, {}), path)
    xml = junitparser.JUnitXml.fromfile(str(path))
    assert (xml.tests, xml.failures) == (1, 1)


def test_summary_lists_verdict_domains_and_failures() -> None:
    text = summary(make_report(PANIC))
    lines = text.splitlines()
    assert lines[0].startswith("smoke: FAIL")
    assert "xen_panic" in lines[1]
    assert "  dom0: 1 pass, 1 fail, 1 skip, 2 error" in lines
    assert "  guest1: 1 pass" in lines
    assert any(line.startswith("  FAIL dom0 sg_op.query_reports_limits") for line in lines)
    assert len(lines) < 12


def test_summary_of_a_passing_run() -> None:
    result = Result("dom0", "s", "t", "pass")
    text = summary(RunReport("r", [result], OK, "", 2.0, {}))
    assert text.splitlines() == ["r: PASS (1 pass) in 2.0s", "  dom0: 1 pass"]


def test_run_dirs_never_collide_and_latest_follows(tmp_path):
    from sgkit.report.publish import RunReport, new_run_dir, publish

    a, b = new_run_dir(tmp_path, "lab-test"), new_run_dir(tmp_path, "lab-test")
    assert a != b and a.is_dir() and b.is_dir()
    report = RunReport("x", [Result("dom0", "s", "t", "pass")], None, "2026-01-01T00:00:00Z", 1.0)
    publish(report, a, "summary", "latest-x")
    publish(report, b, "summary", "latest-x")
    assert (tmp_path / "latest-x").resolve() == b.resolve()
    assert (b / "summary.txt").read_text() == "summary\n"
    assert {p.name for p in b.iterdir()} == {"results.json", "junit.xml", "summary.txt"}


def test_junit_is_well_formed_whatever_the_console_carried(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    nasty = Result(
        "dom0", "sg\x00op", "name\x1b[31mred", "fail", "why\x07", ["diag \x00 with NUL", "\ud800"]
    )
    report = RunReport("smoke\x0c", [nasty], PANIC, "2026-01-01T00:00:00+00:00", 1 / 3)
    write_junit(report, tmp_path / "junit.xml")
    root = ET.parse(tmp_path / "junit.xml").getroot()  # raises on broken XML
    [case] = [c for c in root.iter("testcase") if c.get("classname") == "dom0.sg\\x00op"]
    assert case.get("name") == "name\\x1b[31mred"
    failure = case.find("failure")
    assert failure is not None and failure.get("message") == "why\\x07"
    # The diagnostics are the failure's body, where GitLab and GitHub show them.
    assert failure.text == "diag \\x00 with NUL\n\\ud800"
    assert root.get("time") == "0.333"


def test_junit_names_stay_unique_within_a_suite(tmp_path: Path) -> None:
    twice = [Result("dom0", "s", "t", "pass"), Result("dom0", "s", "t", "fail", "again")]
    write_junit(RunReport("r", twice, OK, "2026-01-01T00:00:00", 1.0), tmp_path / "j.xml")
    xml = junitparser.JUnitXml.fromfile(str(tmp_path / "j.xml"))
    names = [case.name for suite in xml for case in suite]
    assert names == ["t", "t (2)"]
