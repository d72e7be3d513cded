"""The real build: Debian's Xen 4.17 source, the series, an out-of-tree build, the modules."""

from __future__ import annotations

import re

import pytest

from sgkit.build import driver_build, xen_build
from sgkit.build.elf_checks import check_module, check_xen_syms, read_build_id
from sgkit.build.verify import verify
from tests.integration.conftest import invoke


@pytest.fixture(scope="module")
def built():
    return xen_build.build("4.17"), driver_build.build()


def test_build_outputs_and_manifest(built):
    xen, drivers = built
    manifest = xen.manifest
    assert manifest["xen_version"] == "4.17.5"
    assert re.fullmatch(r"[0-9a-f]{40}", manifest["build_id"])
    assert manifest["build_id"] == read_build_id(xen.xen_syms)
    assert len(manifest["series_digest"]) == 64 and len(manifest["source_tree_sha256"]) == 64
    for name in ("xen", "xen.gz", "xen-syms"):
        assert (xen.out / name).is_file()
    syms = check_xen_syms(xen.xen_syms, expected_build_id=manifest["build_id"])
    assert syms.callers["pv_hypercall"] >= 1 and syms.callers["hvm_hypercall"] >= 1
    mod = check_module(drivers.modules["sgtest"], drivers.headers.release, drivers.headers.symvers)
    assert mod.kernel_release == "6.1.0-50-amd64"
    assert len(verify(xen, drivers)) == 1 + len(drivers.modules)


def test_second_build_compiles_nothing(built):
    again_xen, again_drivers = xen_build.build("4.17"), driver_build.build()
    assert not again_xen.rebuilt and not again_drivers.rebuilt
    proc = invoke("build")
    assert proc.returncode == 0, proc.stderr
    assert "Xen is up to date" in proc.stderr and "modules are up to date" in proc.stderr


def test_touching_one_hypervisor_file_rebuilds_only_xen(built):
    xen, _ = built
    (xen.workdir / "src" / "xen" / "common" / "sg_op.c").touch()
    again = xen_build.build("4.17")
    drivers = driver_build.build()
    assert again.rebuilt and not drivers.rebuilt
    log = (xen.workdir / "logs" / "make.log").read_text()
    compiled = re.findall(r"^\s+CC\s+(\S+)$", log, re.M)
    # Xen recompiles its version stamp, the EFI stub that embeds it and the
    # symbol tables on every link; from the sources only sg_op.o is rebuilt.
    always = {"common/version.o", "arch/x86/efi/boot.o"}
    from_sources = [o for o in compiled if o not in always and not o.startswith(".")]
    assert from_sources == ["common/sg_op.o"], compiled
    assert not xen_build.build("4.17").rebuilt
