"""Debian roots made with debootstrap, written once for everything that makes one.

The kernels' build roots (``sgkit.build.kernel_chroots``), the lab's dom0
root (``sgkit.images.dom0_rootfs``) and the lab host's disk
(``sgkit.lab.host_vm``) are each a debootstrap into a staging directory
next to the cache entry; only a complete result is moved into place.  Here:
the debootstrap itself (packages cached per suite), the staging directory
(removed afterwards, unmounting first what debootstrap left mounted) and
the sweep of the staging trees of builds that were interrupted.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sgkit import progress
from sgkit.build.debian_suites import mirror
from sgkit.errors import KitError
from sgkit.paths import downloads_dir
from sgkit.procs import run


def debootstrap(
    root: Path,
    suite: str,
    include: Sequence[str],
    log: Path,
    what: str,
    takes: str = "about a minute",
) -> None:
    """A minbase ``suite`` root in ``root`` with ``include``; the output goes to ``log``."""
    cache = downloads_dir() / "debootstrap" / suite
    cache.mkdir(parents=True, exist_ok=True)
    packages = ",".join(include)
    with progress.step(f"debootstrap {suite} with {packages} ({takes}; log {log})"):
        run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={packages}",
                f"--cache-dir={cache}",
                suite,
                str(root),
                mirror(),
            ],
            what=f"debootstrap of {what}",
            log=log,
            fix=f"check network access to {mirror()} (or set SGKIT_DEBIAN_MIRROR); "
            "the full log names the failing package",
        )


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve()) + "/"
    found = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            point = line.split()[4].encode().decode("unicode_escape")
            if point.startswith(prefix):
                found.append(point)
    return sorted(found, key=len, reverse=True)


def remove_tree(path: Path) -> None:
    """Remove a staging tree, unmounting first whatever debootstrap left mounted in it."""
    if not path.exists():
        return
    for point in _mounts_under(path):
        run(["umount", "-l", point], check=False)
    left = _mounts_under(path)
    if left:
        raise KitError(
            f"{path} still has mounts ({', '.join(left)}); not removing it",
            f"unmount them (umount -l) and remove {path} by hand",
        )
    shutil.rmtree(path, ignore_errors=True)


def remove_stale_staging(base: Path, prefix: str) -> None:
    """Remove ``base/<prefix><pid>-*`` trees whose process is gone (interrupted builds)."""
    for stale in base.glob(f"{prefix}*"):
        pid = stale.name[len(prefix) :].split("-")[0]
        if pid.isdigit() and Path(f"/proc/{pid}").exists():
            continue  # another build is running
        progress.say(f"removing an interrupted build: {stale}")
        remove_tree(stale)


@contextmanager
def staging_dir(base: Path, prefix: str) -> Iterator[Path]:
    """A fresh ``base/<prefix><pid>-*`` directory, once interrupted builds' are swept away;
    removed on the way out unless the caller has moved it into place."""
    base.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(base, prefix)
    staging = Path(tempfile.mkdtemp(dir=base, prefix=f"{prefix}{os.getpid()}-"))
    try:
        yield staging
    finally:
        remove_tree(staging)
