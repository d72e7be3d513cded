"""Check the built artifacts with pyelftools (``invoke verify``, also the end of a build)."""

from __future__ import annotations

from pathlib import Path

from sgkit import progress
from sgkit.build.driver_build import OWN_SYMVERS, DriverBuild
from sgkit.build.elf_checks import check_module, check_xen_syms
from sgkit.build.xen_build import XenBuild


def verify(xen: XenBuild, drivers: DriverBuild) -> list[str]:
    """Raise a KitError naming the artifact on the first problem; return what was checked."""
    checked = []
    syms = check_xen_syms(xen.xen_syms, expected_build_id=xen.manifest["build_id"])
    callers = ", ".join(f"{name} ({n} sites)" for name, n in syms.callers.items())
    checked.append(
        f"{syms.path}: {syms.handler} at {syms.handler_addr:#x} is called from {callers}; "
        f"build id {syms.build_id} matches the manifest"
    )
    checked += _check_modules(drivers)
    for line in checked:
        progress.say(f"verified {line}")
    return checked


def verify_modules(drivers: DriverBuild) -> list[str]:
    """The module checks alone: vermagic and symbols against that kernel's Module.symvers."""
    checked = _check_modules(drivers)
    for line in checked:
        progress.say(f"verified {line}")
    return checked


def _check_modules(drivers: DriverBuild) -> list[str]:
    checked = []
    # sgnet-front and sgnet-back use what sgnet exports: the build's own symvers.
    own = drivers.out / OWN_SYMVERS
    for _name, ko in drivers.modules.items():
        mod = check_module(
            Path(ko),
            drivers.headers.release,
            drivers.headers.symvers,
            own_symvers=own if own.is_file() else None,
        )
        checked.append(
            f"{mod.path}: vermagic {mod.kernel_release}, "
            f"{len(mod.undefined)} undefined symbols all exported by the kernel"
            + (" or by the modules built with it (sgnet.ko)" if own.is_file() else "")
        )
    return checked
