"""The guest modules for other Debian kernels, each built in a root of its own suite.

Debian 13's 6.12 (trixie's current linux-headers-amd64): every module
(sgtest, sgnet, sghostile) is built for real with trixie's gcc-14 and
checked against that kernel's Module.symvers.  Debian unstable's newest
kernel: a compile-only check, where any warning fails; unstable moves under
us (7.0 is already gone from it), so that check runs nightly (``invoke test
--nightly``), not in ``./kit test``.  Cold, each makes its root
(debootstrap, about a minute and a half with the downloads); warm, both are
cache reads.
"""

from __future__ import annotations

import os

import pytest

from sgkit.build import driver_build
from sgkit.build.elf_checks import check_module, read_modinfo
from sgkit.build.verify import verify_modules
from tests.integration.conftest import invoke

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="a trixie or sid root needs root (debootstrap, chroot)"
)


def test_modules_for_trixie_6_12_build_and_verify():
    built = driver_build.build("trixie")
    release = built.headers.release
    assert release.startswith("6.12.") and release.endswith("+deb13-amd64")
    assert built.headers.root is not None and built.manifest["warnings"] == []
    # sgtest, sgnet and its two drivers, sghostile
    assert set(built.modules) == set(driver_build.MODULES)
    assert len(verify_modules(built)) == len(driver_build.MODULES)
    own = built.out / driver_build.OWN_SYMVERS
    for name, ko in built.modules.items():
        # sgnet-front and sgnet-back link against what sgnet.ko exports
        mod = check_module(ko, release, built.headers.symvers, own_symvers=own)
        assert mod.name == name.replace("-", "_") and mod.vermagic.split()[0] == release
        assert mod.undefined and mod.versions  # modversions CRCs matched the kernel's
    # The same release asked for by its series is the same build, not a new one.
    again = driver_build.build("6.12")
    assert again.headers == built.headers and not again.rebuilt


@pytest.mark.nightly
def test_modules_compile_cleanly_against_sid():
    proc = invoke("driver.build", "--kernel", "sid", "--compile-only")
    assert proc.returncode == 0, proc.stderr
    assert "compiled cleanly against " in proc.stdout
    release = proc.stdout.split("compiled cleanly against ", 1)[1].split()[0]
    assert release.endswith("+deb14-amd64")
    ko = driver_build.build("sid", compile_only=True).modules["sgnet"]
    assert read_modinfo(ko)["vermagic"][0].split()[0] == release
