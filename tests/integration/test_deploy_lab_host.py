"""End to end: deploy to the lab host over SSH, reboot into the build, then a broken one.

The lab host boots from its own disk through GRUB (``invoke lab.host up``).
The test deploys the hypervisor built here with --reboot and checks the
running build id; runs the deploy again (nothing to do); then deploys a
"hypervisor" that is not one and checks that the host fell back to the
default entry and that the deploy says so.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

import pytest

from sgkit import lab_host
from sgkit.deploy import LocalBuild, Options, deploy_hosts, local_build
from sgkit.deploy_plan import Artifacts
from sgkit.kernels import DEFAULT_KERNEL
from sgkit.xen_versions import DEFAULT_XEN

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab host image needs root")


@pytest.fixture(scope="module")
def host():
    state = lab_host.up(DEFAULT_XEN, DEFAULT_KERNEL, timeout_s=900)
    yield state
    lab_host.down()


def _opts(state, run_suites: str = "") -> Options:
    return Options(
        reboot=True,
        run_suites=run_suites,
        ssh_config=Path(state["ssh_config"]),
        known_hosts=Path(state["known_hosts"]),
        reboot_timeout_s=900,
    )


def _broken(tmp_path: Path, good: LocalBuild) -> LocalBuild:
    xen = tmp_path / "xen.gz"
    xen.write_bytes(gzip.compress(b"this is not a hypervisor\n" * 100))
    art = Artifacts(
        build_id="0badc0de" * 5,
        xen_version=good.artifacts.xen_version,
        xen_gz_sha256=hashlib.sha256(xen.read_bytes()).hexdigest(),
        kernel_release=good.artifacts.kernel_release,
        modules=good.artifacts.modules,
    )
    return LocalBuild(art, xen, good.modules)


def test_deploy_reboot_build_id_then_broken_falls_back(host, tmp_path):
    build = local_build(DEFAULT_XEN, "debian", None)
    results = tmp_path / "results"

    [first], run_dir = deploy_hosts([lab_host.HOST_ALIAS], build, _opts(host), results)
    assert first.ok, first.error
    assert first.running_build_id == build.artifacts.build_id
    assert (run_dir / lab_host.HOST_ALIAS / "junit.xml").is_file()

    # Again, with the conformance suites run there: nothing to install, no
    # reboot, KTAP back.
    suites = "sg_op,sg_local"
    [again], run_dir = deploy_hosts([lab_host.HOST_ALIAS], build, _opts(host, suites), results)
    assert again.ok, again.error
    assert any(s.test == "install" and s.status == "skip" for s in again.steps)
    assert not any(s.test == "reboot" and s.status == "pass" for s in again.steps)
    for suite in suites.split(","):
        ran = [s for s in again.steps if s.suite == suite]
        assert ran and all(s.status == "pass" for s in ran), ran
    assert "sg_op" in (run_dir / lab_host.HOST_ALIAS / "dom0-dmesg.log").read_text()

    [bad], _ = deploy_hosts([lab_host.HOST_ALIAS], _broken(tmp_path, build), _opts(host), results)
    assert not bad.ok
    assert "fell back" in bad.left and "fell back" in (bad.error or "")
    assert bad.running_build_id not in (None, build.artifacts.build_id, "0badc0de" * 5)
