"""The real build: Debian's Xen 4.17 source, the series, an out-of-tree build, the modules."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from sgkit.build import driver_build, xen_build
from sgkit.build.elf_checks import check_module, check_xen_syms, read_build_id
from sgkit.build.matrix import matrix_source
from sgkit.build.verify import verify
from sgkit.build.xen_sources import fetch, parse_spec
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


SERIES_SUBJECTS = [
    "xsm/flask: check XEN_DOMCTL_soft_reset_cont as soft_reset",
    "xen/public: add the sg_op hypercall interface",
    "xen/common: add the sg_op hypercall with XEN_SGOP_query",
    "xsm: add hooks for the sg_op sub-ops",
    "xen/common: sg_op registrations, transfers and address-bound events",
]


def _git_am(xen: str, source: str, mails: list, tmp_path) -> list[str]:
    """``git am`` the mails onto a git repository of the pristine tree; the new subjects."""
    pristine = fetch(parse_spec(source, xen))
    repo = tmp_path / "xen"
    shutil.copytree(pristine.path, repo, symlinks=True, ignore=shutil.ignore_patterns(".sgkit*"))
    ident = ["-c", "user.name=sgkit", "-c", "user.email=sgkit@example.org"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "pristine"]):
        subprocess.run(["git", *ident, *args], cwd=repo, check=True, capture_output=True)
    am = subprocess.run(
        ["git", *ident, "am", "-q", *map(str, mails)], cwd=repo, capture_output=True, text=True
    )
    assert am.returncode == 0, am.stderr + am.stdout
    assert (repo / "xen/common/sg_op.c").is_file()
    log = subprocess.run(
        ["git", "log", "--reverse", "--format=%s", f"HEAD~{len(mails)}..HEAD"],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    )
    return log.stdout.splitlines()


def test_exported_mails_name_the_maintainers_and_apply_with_git_am(built, tmp_path):
    """The contributor's path: RFC v2 mails, Cc from the tree's get_maintainer.pl, git am."""
    out = tmp_path / "mail"
    proc = invoke("patches.export", "--rfc", "--reroll", "2", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    mails = sorted(out.glob("*.patch"))
    cover = mails[0].read_text()
    assert "Subject: [RFC PATCH v2 0/5] sg_op:" in cover
    assert "To: xen-devel@lists.xenproject.org" in cover
    assert "Debian's xen 4.17.5+72-g01140da4e8-1 source package" in cover
    # XSM's maintainer for the XSM patches (MAINTAINERS: XSM/FLASK), not the whole list:
    # the FLASK fix first, on its own, then the hooks.
    fix, xsm = (m.read_text() for m in mails if "-xsm-" in m.name)
    assert "Subject: [RFC PATCH v2 1/5] xsm/flask: check XEN_DOMCTL_soft_reset_cont" in fix
    assert "Subject: [RFC PATCH v2 4/5] xsm:" in xsm
    assert "dpsmith@" in fix and "dpsmith@" in xsm
    assert _git_am("4.17", "", mails[1:], tmp_path) == SERIES_SUBJECTS


@pytest.mark.parametrize("xen", ["4.22", "staging"])
def test_upstream_series_exports_and_applies_with_git_am(xen, tmp_path):
    """The mails for 4.22 and staging apply with git am to the pristine upstream trees
    (../shared's snapshots, as the nightly build of those versions uses); no build."""
    source = matrix_source(xen)
    out = tmp_path / "mail"
    proc = invoke("patches.export", "--xen", xen, "--source", source, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    mails = sorted(out.glob("*.patch"))
    assert "Subject: [PATCH 0/5] sg_op:" in mails[0].read_text()
    assert "\nbase-commit: " in mails[0].read_text()
    assert _git_am(xen, source, mails[1:], tmp_path) == SERIES_SUBJECTS
