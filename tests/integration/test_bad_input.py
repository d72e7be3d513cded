"""Bad input gives a clear error and a non-zero exit, and leaves caches and trees intact."""

from __future__ import annotations

import shutil

from sgkit.build import xen_build
from sgkit.build.trees import hash_tree
from sgkit.build.xen_sources import fetch, parse_spec
from tests.integration.conftest import invoke


def test_unknown_xen_version():
    proc = invoke("build", "--xen", "4.99")
    assert proc.returncode == 2
    assert "unknown Xen version 4.99" in proc.stderr and "4.17" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_headers_missing_for_the_requested_kernel():
    proc = invoke("driver.build", "--kernel", "6.1.0-99-amd64")
    assert proc.returncode == 2
    assert "kernel headers for 6.1.0-99-amd64 are not installed" in proc.stderr
    assert "linux-headers-6.1.0-99-amd64" in proc.stderr


def test_unreachable_source():
    proc = invoke("xen.fetch", "--source", f"tarball:http://127.0.0.1:9/xen.tgz#sha256={'a' * 64}")
    assert proc.returncode == 2 and "cannot download http://127.0.0.1:9/xen.tgz" in proc.stderr


def test_qemu_missing(tmp_path):
    """Named before anything is built: an empty cache stays empty."""
    cache = tmp_path / "cache"
    env = {"SGKIT_QEMU": "/nonexistent/qemu-system-x86_64", "SGKIT_CACHE_DIR": str(cache)}
    proc = invoke("lab.smoke", env=env)
    assert proc.returncode == 2
    assert "/nonexistent/qemu-system-x86_64 does not exist" in proc.stderr
    assert not cache.exists() or not any(cache.rglob("*"))


def test_patch_that_does_not_apply_leaves_everything_intact(tmp_path):
    pristine = fetch(parse_spec("debian"))
    before = pristine.tree_hash
    tree = tmp_path / "xen-changed"
    shutil.copytree(pristine.path, tree, symlinks=True)
    xen_h = tree / "xen" / "include" / "public" / "xen.h"
    xen_h.write_text(xen_h.read_text().replace("__HYPERVISOR_hypfs_op ", "__HYPERVISOR_hypfs_opX"))
    tree_before = hash_tree(tree)
    proc = invoke("build", "--source", f"local:{tree}")
    assert proc.returncode == 2
    assert "patch 0002-xen-public-add-the-sg_op-hypercall-interface.patch" in proc.stderr
    assert "xen/include/public/xen.h: hunk #1 (at line 114)" in proc.stderr
    assert hash_tree(tree) == tree_before
    workdir = xen_build.workdir_for("4.17", fetch(parse_spec(f"local:{tree}")))
    assert not (workdir / "src").exists()
    assert fetch(parse_spec("debian")).tree_hash == before
