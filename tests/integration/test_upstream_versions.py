"""Upstream Xen (4.22 and staging) from ../shared: the series builds, verifies and smoke-boots.

There is no toolstack for these versions, so the lab stops at the smoke
boot (a busybox dom0 that loads sgtest and asks sg_op for its ABI).  Each
version costs a cold hypervisor build of about two minutes and a boot on
two cores, so they run in the nightly pipeline (``invoke test --nightly``),
not in ``./kit test``.
"""

from __future__ import annotations

import pytest

from sgkit.build import driver_build, xen_build
from sgkit.build.matrix import matrix_source
from sgkit.build.verify import verify
from sgkit.build.versions import load_context
from sgkit.lab.smoke import run_smoke
from sgkit.lab.spec import LabSpec

pytestmark = pytest.mark.nightly


@pytest.mark.parametrize("xen", ["4.22", "staging"])
def test_upstream_series_builds_verifies_and_answers_in_smoke(xen, tmp_path):
    source = matrix_source(xen)
    built = xen_build.build(xen, source)
    assert built.manifest["xen_version"].startswith(load_context(xen)["xen"]["series"])
    verify(built, driver_build.build(xen=xen))
    outcome = run_smoke(LabSpec(xen=xen, source=source, out_root=tmp_path))
    assert outcome.report.ok(), (outcome.results / "summary.txt").read_text()
    context = load_context(xen)
    abi = (context["abi"]["major"] << 16) | context["abi"]["minor"]
    assert outcome.query["rc"] == "0" and int(outcome.query["abi_version"]) == abi
