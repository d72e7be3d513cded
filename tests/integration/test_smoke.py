"""The emulated lab's first step, for real: Xen under QEMU/TCG, a PV dom0, sgtest."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import junitparser
import pytest

from sgkit.build import driver_build, xen_build
from sgkit.build.kernels import kernel_image
from sgkit.build.versions import load_context
from sgkit.images.initramfs import build_initramfs
from sgkit.lab.qemu import BootSpec, boot
from sgkit.lab.smoke import run_smoke
from sgkit.lab.spec import LabSpec


def test_patched_xen_answers_the_query(tmp_path):
    outcome = run_smoke(LabSpec(out_root=tmp_path))
    assert outcome.report.ok(), (outcome.results / "summary.txt").read_text()
    assert outcome.report.verdict.kind == "ok"
    context = load_context("4.17")
    query = outcome.query
    assert query["rc"] == "0"
    assert int(query["abi_version"]) == (context["abi"]["major"] << 16) | context["abi"]["minor"]
    for key, value in context["limits"].items():
        assert int(query[key]) == value
    data = json.loads((outcome.results / "results.json").read_text())
    dom0 = [r for r in data["results"] if r["domain"] == "dom0"]
    assert dom0 and all(r["status"] == "pass" for r in dom0)
    xml = junitparser.JUnitXml.fromfile(str(outcome.results / "junit.xml"))
    assert xml.tests >= 5 and xml.failures == 0 and xml.errors == 0


def test_stock_debian_xen_says_enosys(tmp_path):
    outcome = run_smoke(LabSpec(hypervisor="stock", out_root=tmp_path))
    assert outcome.report.ok(), (outcome.results / "summary.txt").read_text()
    assert outcome.query["rc"] == "-38"
    dom0 = [r for r in outcome.report.results if r.domain == "dom0"]
    assert dom0 and all(r.status == "skip" for r in dom0)
    assert "sg_op: ABI" not in (outcome.results / "console.log").read_text()


@pytest.fixture(scope="module")
def boot_parts():
    xen = xen_build.build("4.17")
    drivers = driver_build.build()
    return xen.xen, kernel_image(drivers.headers.release), drivers


def _boot_with_init(tmp_path, boot_parts, script: str, timeout: float):
    xen, kernel, _drivers = boot_parts
    init = tmp_path / "init.sh"
    init.write_text(script)
    initrd = build_initramfs(tmp_path / "initrd.cpio.gz", init, {})
    return boot(BootSpec(xen, kernel, initrd), tmp_path / "console.log", timeout_s=timeout)


def test_a_dom0_crash_ends_the_run_and_is_named(tmp_path, boot_parts):
    script = (
        "#!/bin/busybox sh\n/bin/busybox mount -t proc proc /proc\n"
        "echo 1 > /proc/sys/kernel/sysrq\necho c > /proc/sysrq-trigger\n"
    )
    result = _boot_with_init(tmp_path, boot_parts, script, timeout=300)
    assert result.verdict.kind in {"kernel_panic", "oops"}, result.verdict
    assert result.verdict.line_no is not None
    assert str(result.log) in str(tmp_path / "console.log")


def test_a_hang_ends_at_the_timeout(tmp_path, boot_parts):
    script = "#!/bin/busybox sh\necho waiting forever\nwhile :; do /bin/busybox sleep 5; done\n"
    result = _boot_with_init(tmp_path, boot_parts, script, timeout=45)
    assert result.verdict.kind == "hang"
    assert "timeout" in result.verdict.reason and str(result.log) in result.verdict.reason
    assert "waiting forever" in result.log.read_text()


def test_a_killed_kit_leaves_no_qemu_behind(tmp_path, boot_parts):
    """SIGKILL of the process that started QEMU (a CI timeout, a lost terminal) stops QEMU."""
    xen, kernel, _drivers = boot_parts
    init = tmp_path / "init.sh"
    init.write_text("#!/bin/busybox sh\nwhile :; do /bin/busybox sleep 5; done\n")
    initrd = build_initramfs(tmp_path / "initrd.cpio.gz", init, {})
    code = (
        "import sys; from pathlib import Path; from sgkit.lab.qemu import BootSpec, boot; "
        "boot(BootSpec(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])), "
        "Path(sys.argv[4]), timeout_s=600)"
    )
    log = tmp_path / "console.log"
    runner = subprocess.Popen([sys.executable, "-c", code, xen, kernel, initrd, log])
    try:
        qemu = None
        for _ in range(300):
            children = Path(f"/proc/{runner.pid}/task/{runner.pid}/children")
            pids = children.read_text().split() if children.exists() else []
            if pids:
                qemu = int(pids[0])
                break
            time.sleep(0.1)
        assert qemu is not None, "QEMU did not start"
    finally:
        runner.kill()
        runner.wait()
    for _ in range(100):
        if not Path(f"/proc/{qemu}").exists() or "zombie" in _state(qemu):
            break
        time.sleep(0.1)
    assert not Path(f"/proc/{qemu}").exists() or "zombie" in _state(qemu)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].splitlines()[0]
    except (OSError, IndexError):
        return "gone"


def test_limits_set_on_the_xen_command_line_are_reported_and_enforced(tmp_path):
    limits = {
        "max_regs": 8,
        "max_elems": 4,
        "max_pinned_pages": 16,
        "max_bindings": 8,
        "max_binds_per_addr": 4,
    }
    outcome = run_smoke(LabSpec(out_root=tmp_path), limits=limits)
    assert outcome.report.ok(), (outcome.results / "summary.txt").read_text()
    for key, value in limits.items():
        assert int(outcome.query[key]) == value
    console = (outcome.results / "console.log").read_text()
    assert "sg_max_regs=8" in console.splitlines()[0]  # the QEMU command line
    assert "limits regs=8 elems=4 pinned=16 bindings=8 per-addr=4" in console
    # The tests that exhaust each limit ran against these values, and passed.
    # The heap limit stays at its default, which these count limits cannot
    # reach: heap_limit_exact says so and skips (it passes in lab.test).
    limit_tests = {
        r.test: r.status
        for r in outcome.report.results
        if r.suite in ("sg_local", "sg_hostile") and "limit" in r.test
    }
    assert limit_tests.pop("heap_limit_exact") == "skip", limit_tests
    assert limit_tests and all(s == "pass" for s in limit_tests.values()), limit_tests


@pytest.mark.parametrize("module", ["silo", "flask", "flask-enforcing"])
def test_the_xsm_variant_runs_sgtest_under_each_module(tmp_path, module):
    """Patch 0004's hooks, built with XSM and run under SILO and FLASK.

    FLASK runs permissive (no policy) and enforcing, with Xen's policy plus
    sgkit's sg_op module: dom0's own sg_op calls are all allowed there.
    """
    outcome = run_smoke(LabSpec(out_root=tmp_path, xsm=module))
    assert outcome.report.ok(), (outcome.results / "summary.txt").read_text()
    checks = {r.test: r.status for r in outcome.report.results if r.domain == "host"}
    assert checks[f"xsm_{module}_active"] == "pass"
    assert outcome.report.meta["xsm"] == module
    dom0 = [r for r in outcome.report.results if r.domain == "dom0"]
    assert dom0 and all(r.status == "pass" for r in dom0)
    plain = xen_build.build("4.17")
    assert outcome.report.meta["xen_build_id"] != plain.manifest["build_id"]
