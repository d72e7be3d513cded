"""LabSpec: checked and resolved once, then carried whole."""

from __future__ import annotations

import pytest

from sgkit.build.versions import load_context
from sgkit.errors import KitError
from sgkit.lab.spec import LabSpec


def test_resolve_loads_the_context_once_and_keeps_it():
    spec = LabSpec.resolve(xen="4.17", timeout_s=5.0)
    assert spec.context == load_context("4.17")
    again = LabSpec.resolve(spec)
    assert again is spec  # already resolved: not loaded again
    other = LabSpec.resolve(spec, xen="4.22")
    assert other.context == load_context("4.22") and other.timeout_s == 5.0
    assert spec.timeout(900.0) == 5.0 and LabSpec().timeout(900.0) == 900.0


def test_resolve_checks_what_no_run_can_boot():
    with pytest.raises(KitError, match="unknown hypervisor 'xen'"):
        LabSpec.resolve(hypervisor="xen")
    with pytest.raises(KitError, match="needs the patched hypervisor"):
        LabSpec.resolve(hypervisor="stock", xsm="silo")
    with pytest.raises(KitError, match=r"unknown Xen version 4\.99"):
        LabSpec.resolve(xen="4.99")
    with pytest.raises(KitError, match="bad --icount '12'"):
        LabSpec.resolve(icount="12")


def test_icount_is_checked_and_carried():
    assert LabSpec.resolve().icount is None
    assert LabSpec.resolve(icount=" 4 ").icount == "4"
    assert LabSpec.resolve(icount="auto").icount == "auto"
