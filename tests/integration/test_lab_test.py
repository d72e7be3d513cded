"""The multi-domain lab, for real: Xen under QEMU/TCG, a Debian dom0 running xl, two PV domUs."""

from __future__ import annotations

import json

import junitparser
import pytest

from sgkit.lab_test import run_lab_test

DOMAINS = ("dom0", "sg-a", "sg-b")


@pytest.mark.integration
def test_every_domain_runs_sg_op_and_memory_comes_back(tmp_path):
    outcome = run_lab_test("sg_op", out_root=tmp_path)
    summary = (outcome.results / "summary.txt").read_text()
    assert outcome.report.ok(), summary
    assert outcome.report.verdict is not None and outcome.report.verdict.kind == "ok"

    for domain in DOMAINS:
        sg_op = [r for r in outcome.report.results if r.domain == domain and r.suite == "sg_op"]
        assert sg_op, f"{domain} reported no sg_op tests\n{summary}"
        assert all(r.status == "pass" for r in sg_op), f"{domain}: {sg_op}"

    host = {r.test: r for r in outcome.report.results if r.domain == "host"}
    assert host["free_memory_returned"].status == "pass", host["free_memory_returned"].reason
    memory = outcome.report.meta["free_memory_mb"]
    assert memory["before"] == memory["after"] > 0
    for domain in DOMAINS:
        assert host[f"{domain}_query_printed"].status == "pass"
    assert host["sg-a_finished"].status == host["sg-b_finished"].status == "pass"

    for name in ("console.log", "dom0.log", "guest-sg-a.log", "guest-sg-b.log", "xl-dmesg.log"):
        assert (outcome.results / name).is_file(), name
    data = json.loads((outcome.results / "results.json").read_text())
    assert data["ok"] and {r["domain"] for r in data["results"]} == {*DOMAINS, "host"}
    xml = junitparser.JUnitXml.fromfile(str(outcome.results / "junit.xml"))
    assert xml.failures == 0 and xml.errors == 0
    assert (tmp_path / "latest-lab-test").resolve() == outcome.results.resolve()
