"""The guest kernel: its release, its headers for building modules, its image for booting.

The default is Debian 12's 6.1 kernel for amd64 (DEFAULT_KERNEL): the flavour
with CONFIG_XEN_PV and CONFIG_XEN_DOM0 built in, so it boots as a PV dom0 and
as a PV domU.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sgkit.build.debian_packages import unpacked
from sgkit.errors import KitError

DEFAULT_KERNEL = "6.1.0-50-amd64"


@dataclass(frozen=True)
class KernelHeaders:
    release: str  # e.g. 6.1.0-50-amd64
    kdir: Path  # the kbuild directory (/lib/modules/KVER/build), as seen from here
    root: Path | None = None  # the chroot to build in (kernel_chroots), None: this host

    @property
    def symvers(self) -> Path:
        return self.kdir / "Module.symvers"


def headers_package(release: str) -> str:
    return f"linux-headers-{release}"


def find_headers(kernel: str | None = None, kdir: Path | None = None) -> KernelHeaders:
    """Headers by release (``--kernel``) or by directory (``--kdir``)."""
    if kdir is not None:
        kdir = kdir.expanduser().resolve()
        release = _release_of(kdir)
        if kernel and kernel != release:
            raise KitError(f"{kdir} holds headers for {release}, not {kernel}")
        return KernelHeaders(release, kdir)
    release = kernel or DEFAULT_KERNEL
    kdir = Path("/lib/modules") / release / "build"
    if not (kdir / "Makefile").is_file():
        raise KitError(
            f"kernel headers for {release} are not installed ({kdir} is missing)",
            f"run `invoke setup --kernel {release}` or "
            f"`apt-get install {headers_package(release)}`; or pass --kdir PATH",
        )
    return KernelHeaders(_release_of(kdir), kdir)


def _release_of(kdir: Path) -> str:
    uts = kdir / "include" / "generated" / "utsrelease.h"
    if not uts.is_file():
        raise KitError(
            f"{kdir} is not a prepared kernel build directory (no {uts.name})",
            "point --kdir at /lib/modules/KVER/build of an installed headers package",
        )
    m = re.search(r'UTS_RELEASE\s+"([^"]+)"', uts.read_text())
    if not m:
        raise KitError(f"cannot read the kernel release from {uts}")
    return m.group(1)


def kernel_image(release: str) -> Path:
    """vmlinuz for ``release`` from Debian's linux-image package, unpacked in the cache."""
    root = unpacked(f"linux-image-{release}")
    image = root / "boot" / f"vmlinuz-{release}"
    if not image.is_file():
        raise KitError(f"linux-image-{release} has no boot/vmlinuz-{release}")
    return image


def kernel_modules(release: str) -> Path:
    """The /lib/modules/RELEASE tree of the unpacked linux-image package."""
    root = unpacked(f"linux-image-{release}")
    for base in (root / "lib" / "modules", root / "usr" / "lib" / "modules"):
        if (base / release).is_dir():
            return base / release
    raise KitError(f"linux-image-{release} has no modules directory")
