"""Versions, trees, QEMU command lines, host set-up: the small pure pieces."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from sgkit.build import prerequisites
from sgkit.build.driver_lint import parse_checkpatch, parse_sparse
from sgkit.build.trees import hash_tree, sync_tree
from sgkit.build.versions import known_versions, series_of, tree_version
from sgkit.errors import KitError
from sgkit.lab import qemu
from sgkit.procs import require, run


def test_series_of_versions():
    assert series_of("4.17") == series_of("4.17.5") == series_of("4.17.5+72-g01140da4e8") == "4.17"
    with pytest.raises(KitError, match="cannot read a Xen version"):
        series_of("latest")
    assert "4.17" in known_versions()


def test_every_xen_command_line_enables_sg_op(tmp_path):
    """The patched Xen's sg_op is off unless the command line says sg_op=1."""
    from sgkit.build.versions import SG_OP_ENABLE
    from sgkit.lab import boot, host_vm

    spec = qemu.BootSpec(xen=tmp_path, kernel=tmp_path, initrd=tmp_path)
    for args in (boot.XEN_ARGS, host_vm.XEN_ARGS, spec.xen_args):
        assert args.split().count(SG_OP_ENABLE) == 1, args


def test_tree_version_reads_extraversion(tmp_path):
    (tmp_path / "xen").mkdir()
    (tmp_path / "xen" / "Makefile").write_text(
        "export XEN_VERSION       = 4\nexport XEN_SUBVERSION    = 17\n"
        "export XEN_EXTRAVERSION ?= .5$(XEN_VENDORVERSION)\n"
    )
    assert tree_version(tmp_path) == "4.17.5"


def test_sync_tree_deletes_adds_and_keeps_unchanged(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "d").mkdir(parents=True)
    (src / "d" / "same").write_text("same")
    (src / "new").write_text("new")
    (dst / "d").mkdir(parents=True)
    (dst / "d" / "same").write_text("same")
    (dst / "stale").write_text("stale")
    os.utime(dst / "d" / "same", (1000, 1000))
    changed = sync_tree(src, dst)
    assert sorted(map(str, changed)) == ["new", "stale"]
    assert (dst / "d" / "same").stat().st_mtime == 1000
    assert hash_tree(src) == hash_tree(dst)


def test_hash_tree_sees_content_and_exec_bit(tmp_path):
    (tmp_path / "f").write_text("a")
    h1 = hash_tree(tmp_path)
    (tmp_path / "f").chmod(0o755)
    h2 = hash_tree(tmp_path)
    (tmp_path / "f").write_text("b")
    assert len({h1, h2, hash_tree(tmp_path)}) == 3


def test_require_names_the_package(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(
        KitError, match=r"(?s)qemu-system-x86_64 is not installed.*apt-get install qemu-system-x86"
    ):
        require("qemu-system-x86_64")


def test_run_failure_carries_output_and_fix():
    with pytest.raises(KitError, match=r"(?s)sh failed with exit status 3.*boom.*fix: do X"):
        run(["sh", "-c", "echo boom; exit 3"], what="sh", fix="do X")


def test_run_bounds_time_and_names_the_bound():
    with pytest.raises(KitError, match=r"a nap did not finish within 1s") as err:
        run(["sleep", "5"], timeout=1, what="a nap", fix="wake it")
    assert err.value.fix == "wake it"


def test_run_without_check_returns_the_failure_and_feeds_stdin():
    assert run(["sh", "-c", "exit 3"], check=False).returncode == 3
    assert run(["cat"], input="text in\n").stdout == "text in\n"
    assert run(["cat"], input=b"\x00bytes").stdout == b"\x00bytes"


def test_qemu_argv_refuses_commas(tmp_path):
    bad = tmp_path / "a,b"
    bad.mkdir()
    for name in ("xen", "vmlinuz", "initrd"):
        (bad / name).write_text("x")
    spec = qemu.BootSpec(xen=bad / "xen", kernel=bad / "vmlinuz", initrd=bad / "initrd")
    with pytest.raises(KitError, match="comma or space"):
        qemu.qemu_argv(spec, "tcg")


def test_qemu_argv_shape(tmp_path):
    for name in ("xen", "vmlinuz", "initrd"):
        (tmp_path / name).write_text("x")
    spec = qemu.BootSpec(tmp_path / "xen", tmp_path / "vmlinuz", tmp_path / "initrd")
    argv = qemu.qemu_argv(spec, "tcg")
    assert argv[argv.index("-cpu") + 1] == "qemu64,+svm"
    assert argv[argv.index("-initrd") + 1] == (
        f"{tmp_path}/vmlinuz console=hvc0 quiet rdinit=/init,{tmp_path}/initrd"
    )
    # A FLASK policy goes after dom0's modules, and must exist.
    (tmp_path / "xenpolicy").write_text("x")
    spec = dataclasses.replace(spec, modules=(tmp_path / "xenpolicy",))
    argv = qemu.qemu_argv(spec, "tcg")
    assert argv[argv.index("-initrd") + 1].endswith(f"{tmp_path}/initrd,{tmp_path}/xenpolicy")
    spec = dataclasses.replace(spec, modules=(tmp_path / "nope",))
    with pytest.raises(KitError, match="nope is missing"):
        qemu.qemu_argv(spec, "tcg")


def test_qemu_argv_icount(tmp_path):
    for name in ("xen", "vmlinuz", "initrd"):
        (tmp_path / name).write_text("x")
    spec = qemu.BootSpec(tmp_path / "xen", tmp_path / "vmlinuz", tmp_path / "initrd")
    assert "-icount" not in qemu.qemu_argv(spec, "tcg")
    argv = qemu.qemu_argv(dataclasses.replace(spec, icount="3"), "tcg")
    # A fixed shift: virtual time counts instructions and skips idle time.
    assert argv[argv.index("-icount") + 1] == "shift=3,sleep=off"
    argv = qemu.qemu_argv(dataclasses.replace(spec, icount="auto"), "tcg")
    assert argv[argv.index("-icount") + 1] == "shift=auto"
    with pytest.raises(KitError, match="--icount needs TCG, not kvm"):
        qemu.qemu_argv(dataclasses.replace(spec, icount="3"), "kvm")
    for bad in ("11", "-1", "fast", "3,sleep=on"):
        with pytest.raises(KitError, match="bad --icount") as err:
            qemu.qemu_argv(dataclasses.replace(spec, icount=bad), "tcg")
        assert "shift 0-10" in (err.value.fix or "")


def test_missing_boot_file_is_named(tmp_path):
    spec = qemu.BootSpec(tmp_path / "xen", tmp_path / "k", tmp_path / "i")
    with pytest.raises(KitError, match=r"boot file .*xen is missing"):
        qemu.qemu_argv(spec, "tcg")


def test_kvm_is_refused_when_unusable(monkeypatch):
    monkeypatch.setattr(qemu, "kvm_usable", lambda: False)
    assert qemu.choose_accel("auto") == "tcg"
    with pytest.raises(KitError, match="cannot run a nested hypervisor"):
        qemu.choose_accel("kvm")


def test_setup_packages_include_headers_for_the_kernel():
    pkgs = prerequisites.required_packages("6.1.0-47-amd64")
    assert "linux-headers-6.1.0-47-amd64" in pkgs and "qemu-system-x86" in pkgs


def test_deb_src_entry_mirrors_the_suite():
    entry = prerequisites.deb_src_entry()
    assert "Types: deb-src" in entry and "Components: main" in entry


def test_missing_qemu_via_sgkit_qemu_is_named(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("SGKIT_QEMU", str(tmp_path / "qemu-nope"))
    with pytest.raises(KitError, match="qemu-nope does not exist"):
        require(qemu.qemu_binary())


def test_parse_limits():
    from sgkit.lab.smoke import parse_limits

    assert parse_limits("max_regs=8, max_elems=4") == {"max_regs": 8, "max_elems": 4}
    assert parse_limits("") == {}
    with pytest.raises(KitError, match="bad limit 'max_cake=1'"):
        parse_limits("max_cake=1")
    with pytest.raises(KitError, match="bad limit"):
        parse_limits("max_regs=-1")


def test_accel_not_given_comes_from_sgkit_accel(monkeypatch):
    monkeypatch.setattr(qemu, "kvm_usable", lambda: False)
    monkeypatch.delenv("SGKIT_ACCEL", raising=False)
    assert qemu.choose_accel(None) == "tcg"
    monkeypatch.setenv("SGKIT_ACCEL", "auto")
    assert qemu.choose_accel(None) == "tcg"
    monkeypatch.setenv("SGKIT_ACCEL", "kvm")
    with pytest.raises(KitError, match="cannot run a nested hypervisor"):
        qemu.choose_accel(None)
    assert qemu.choose_accel("tcg") == "tcg"  # an explicit choice wins


def test_xen_build_variants_extend_the_fragment():
    from sgkit.build import xen_build

    assert "xsm" in xen_build.variants()
    base = xen_build.config_fragment()
    xsm = xen_build.config_fragment("xsm")
    assert xsm.startswith(base) and len(xsm) > len(base)
    wanted = xen_build._parse_fragment(xsm)
    assert wanted["CONFIG_SG_OP"] == "y" and wanted["CONFIG_XSM_FLASK"] == "y"
    assert wanted["CONFIG_XSM_FLASK_POLICY"] == "n"
    for bad in ("nope", "../sgkit", "XSM"):
        with pytest.raises(KitError, match="unknown Xen build variant") as err:
            xen_build.config_fragment(bad)
        assert "xsm" in err.value.fix


def test_smoke_xsm_choices_and_check():
    from sgkit.lab.smoke import XSM_MODULES, run_smoke, xsm_check
    from sgkit.lab.spec import LabSpec

    with pytest.raises(KitError, match="unknown XSM module 'selinux'"):
        run_smoke(LabSpec(xsm="selinux"))
    with pytest.raises(KitError, match="needs the patched hypervisor"):
        run_smoke(LabSpec(hypervisor="stock", xsm="silo"))
    assert xsm_check("silo", "(XEN) Initialising XSM SILO mode\n").status == "pass"
    missing = xsm_check("flask", "(XEN) XSM Framework v1.0.1 initialized\n")
    assert missing.status == "fail" and "xsm=flask" in (missing.reason or "")
    assert all(
        opts.startswith(f"xsm={name.split('-')[0]}") for name, (opts, _) in XSM_MODULES.items()
    )
    assert "flask=enforcing" in XSM_MODULES["flask-enforcing"][0]


def test_flask_policy_sections_follow_xen_makefile(tmp_path):
    from sgkit.build import flask_policy

    conf = "# comment\nxen = on\ndom0 = on\n  off_mod = off\nnic_dev = on\n"
    assert flask_policy.enabled_modules(conf) == ["xen", "dom0", "nic_dev"]
    with pytest.raises(KitError, match="no tools/flask/policy") as err:
        flask_policy.policy_sections(tmp_path)
    assert "4.17" in err.value.fix
    pol = tmp_path / "tools/flask/policy"
    (pol / "modules").mkdir(parents=True)
    (pol / "policy/support").mkdir(parents=True)
    (pol / "modules/modules.conf").write_text("xen = on\ndomU = off\n")
    for name in ("xen.te", "xen.if", "domU.te"):
        (pol / "modules" / name).write_text("")
    (pol / "policy/support/misc_macros.spt").write_text("")
    got = [
        str(p.relative_to(tmp_path)) if p.is_relative_to(tmp_path) else str(p)
        for p in flask_policy.policy_sections(tmp_path)
    ]
    assert got[:5] == [
        "xen/xsm/flask/policy/security_classes",
        "tools/flask/policy/policy/security_classes",
        "xen/xsm/flask/policy/initial_sids",
        "xen/xsm/flask/policy/access_vectors",
        "tools/flask/policy/policy/access_vectors",
    ]
    assert "tools/flask/policy/modules/domU.te" not in got
    i = got.index("tools/flask/policy/modules/xen.te")
    assert got[i + 1].endswith("xen-hypervisor/flask/sg_op.te")  # sgkit's module, last
    assert got.index("tools/flask/policy/modules/xen.if") < got.index(
        "tools/flask/policy/policy/global_tunables"
    )
    assert flask_policy.SG_OP_MODULE.is_file()


def test_checkpatch_output_is_parsed_and_only_the_kernels_camelcase_is_let_through() -> None:
    out = (
        "/x/sgnet/frontend.c:40: CHECK:CAMELCASE: Avoid CamelCase: <XenbusStateInitWait>\n"
        "/x/sgnet/frontend.c:41: CHECK:CAMELCASE: Avoid CamelCase: <MyState>\n"
        "/x/sgnet/datapath.c:7: ERROR:TRAILING_WHITESPACE: trailing whitespace\n"
        "total: 1 errors, 0 warnings, 2 checks, 3 lines checked\n"
    )
    found = parse_checkpatch(out)
    assert [(f.line, f.text.split(":")[0]) for f in found] == [
        (41, "CAMELCASE"),
        (7, "TRAILING_WHITESPACE"),
    ]
    assert len(parse_checkpatch(out, allow_kernel_camelcase=False)) == 3


def test_sparse_findings_are_those_in_the_drivers_files() -> None:
    log = (
        "  CHECK   /b/src/sgnet/datapath.c\n"
        "/b/src/sgnet/datapath.c:12:17: warning: incorrect type in initializer\n"
        "/b/src/sgnet/datapath.c:12:17: warning: incorrect type in initializer\n"
        "./include/linux/foo.h:3:1: warning: something of the kernel's\n"
        "/b/src/sghostile/sghostile.c:9:2: error: undefined identifier 'x'\n"
    )
    found = parse_sparse(log, Path("/b/src"))
    assert [(f.file, f.line) for f in found] == [
        ("sgnet/datapath.c", 12),
        ("sghostile/sghostile.c", 9),
    ]
