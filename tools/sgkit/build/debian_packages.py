"""Binary Debian packages the lab needs but the host must not install.

The dom0 kernel, a static busybox and Debian's stock hypervisor are fetched
with ``apt-get download`` (apt checks them against the signed archive) and
unpacked into the cache with ``dpkg-deb -x``; nothing is installed on the
host.  Unpacking goes to a staging directory renamed into place, so an
interrupted run never leaves a half-unpacked package behind.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from sgkit import progress
from sgkit.build.debian_suites import suite_index
from sgkit.errors import KitError
from sgkit.paths import downloads_dir
from sgkit.procs import require, run


def unpacked(package: str, version: str | None = None) -> Path:
    """The root of ``package`` (at ``version``) unpacked in the cache."""
    spec = f"{package}={version}" if version else package
    root = downloads_dir() / "unpacked" / spec.replace("=", "_").replace(":", "%")
    if (root / ".sgkit-complete").is_file():
        return root
    deb = download(package, version)
    require("dpkg-deb")
    root.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root.parent, prefix=".unpack-") as tmp:
        staging = Path(tmp) / "root"
        with progress.step(f"unpacking {deb.name}"):
            run(["dpkg-deb", "-x", deb, staging], what=f"dpkg-deb -x {deb.name}")
        (staging / ".sgkit-complete").write_text(deb.name + "\n")
        if root.exists():
            shutil.rmtree(root)
        staging.rename(root)
    return root


def download(package: str, version: str | None = None, suite: str | None = None) -> Path:
    """The .deb for ``package`` in the cache, downloaded with apt-get if needed.

    With ``suite`` (e.g. trixie) apt uses the kit's own index of that suite
    (``debian_suites``) instead of the host's sources.
    """
    spec = f"{package}={version}" if version else package
    debs = downloads_dir() / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    found = _cached(debs, package, version)
    if found:
        return found
    require("apt-get")
    options = suite_index(suite).options() if suite else []
    with tempfile.TemporaryDirectory(dir=debs, prefix=".apt-") as tmp:
        with progress.step(f"apt-get download {spec}"):
            proc = run(["apt-get", *options, "download", spec], cwd=Path(tmp), check=False)
        if proc.returncode != 0:
            raise KitError(
                f"apt-get could not download {spec}: {proc.stderr.strip()[-600:]}",
                "run `invoke setup` (apt-get update); check the name with "
                f"`apt-cache policy {package}`",
            )
        files = list(Path(tmp).glob("*.deb"))
        if len(files) != 1:
            raise KitError(f"apt-get download {spec} left {len(files)} .deb files")
        target = debs / files[0].name
        files[0].replace(target)
    return target


def _cached(debs: Path, package: str, version: str | None) -> Path | None:
    if version:
        plain = version.split(":", 1)[-1]
        hits = list(debs.glob(f"{package}_{plain.replace('+', '?')}_*.deb"))
        hits += list(debs.glob(f"{package}_*%3a{plain.replace('+', '?')}_*.deb"))
    else:
        hits = sorted(debs.glob(f"{package}_*.deb"))
    return hits[-1] if hits else None
