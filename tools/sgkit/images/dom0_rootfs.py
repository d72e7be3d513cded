"""The lab's dom0 root: Debian with the xl toolstack, packed as an initramfs.

The root is built in two parts that the kernel unpacks one after the other
(it accepts gzip'd newc cpio archives concatenated into one initrd file):

- the **base**: ``debootstrap --variant=minbase`` of the suite the Xen
  source comes from, with the toolstack (``xen-utils-4.17``: the same Xen
  version as the hypervisor) and the few kernel modules dom0 needs.  It is
  big (about 90 MB) and slow to make (about a minute), so it is cached under
  ``builds/lab/dom0-rootfs-<key>.cpio.gz``, keyed on the package list, the
  toolstack version, the kernel release and the module list.
- the **overlay**: the small, changing files (the dom0 /init, sgtest, the
  domU kernel and initramfs), packed fresh for every run.

debootstrap runs in a staging directory next to the cache entry; only a
complete, packed archive is renamed into place, so an interrupted build never
leaves half a root in the cache.  Anything debootstrap left mounted in the
staging directory is unmounted before it is removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sgkit import progress
from sgkit.build.debian_suites import mirror
from sgkit.build.debootstrap import debootstrap, staging_dir
from sgkit.build.elf_checks import read_modinfo
from sgkit.build.kernels import kernel_modules
from sgkit.build.versions import load_context, series_of
from sgkit.errors import KitError
from sgkit.paths import builds_dir
from sgkit.procs import require, run

# Bump when the way the base is made changes (invalidates every cached base).
RECIPE = 1
# Packages besides the toolstack; debootstrap adds their dependencies.
EXTRA_PACKAGES = (
    "xenstore-utils",
    "iproute2",
    "kmod",
    "busybox",
    "ethtool",  # ethtool -S of sgnet in lab.net
    "iputils-ping",
    "iperf3",  # TCP/UDP transfers over sgnet in lab.net (the domUs get it too)
)
# Kernel modules dom0 loads (with their dependencies), by module name.
DOM0_MODULES = (
    "xen-evtchn",
    "xen-gntdev",
    "xen-gntalloc",
    "xen-privcmd",
    "xenfs",
    "xen-netback",
    "xen-blkback",
)
# Trimmed from the base: apt's caches, documentation, translations.
TRIM = (
    "var/cache/apt",
    "var/lib/apt/lists",
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "usr/share/lintian",
    "usr/share/zoneinfo",
)


@dataclass(frozen=True)
class Toolstack:
    package: str  # e.g. xen-utils-4.17
    version: str  # the Debian version wanted (the hypervisor's)
    suite: str  # the Debian suite to bootstrap


@dataclass(frozen=True)
class Dom0Base:
    archive: Path  # the cached gzip'd cpio
    key: str
    manifest: dict[str, object]


def toolstack_for(xen: str, context: Mapping[str, Any] | None = None) -> Toolstack:
    """The toolstack package and version matching the hypervisor of ``xen``.

    ``context`` is the version's patch context when the caller has it already.
    """
    context = context or load_context(xen)
    debian = context.get("sources", {}).get("debian", {})
    tools = context.get("toolstack", {})
    package = tools.get("package") or f"xen-utils-{series_of(xen)}"
    version = tools.get("version") or debian.get("version")
    suite = tools.get("suite") or debian.get("suite") or "bookworm"
    if not version:
        raise KitError(f"the patch context for Xen {xen} names no toolstack version")
    return Toolstack(package, version, suite)


def base_key(toolstack: Toolstack, release: str) -> str:
    recipe = {
        "recipe": RECIPE,
        "suite": toolstack.suite,
        "packages": sorted([toolstack.package, *EXTRA_PACKAGES]),
        "toolstack": f"{toolstack.package}={toolstack.version}",
        "kernel": release,
        "modules": sorted(DOM0_MODULES),
        "trim": sorted(TRIM),
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def base_rootfs(xen: str, release: str, context: Mapping[str, Any] | None = None) -> Dom0Base:
    """The cached dom0 base root for this Xen and kernel, built on first use."""
    toolstack = toolstack_for(xen, context)
    key = base_key(toolstack, release)
    lab = builds_dir() / "lab"
    archive = lab / f"dom0-rootfs-{key}.cpio.gz"
    manifest_path = archive.with_suffix("").with_suffix(".json")
    if archive.is_file() and manifest_path.is_file():
        return Dom0Base(archive, key, json.loads(manifest_path.read_text()))
    if os.geteuid() != 0:
        raise KitError(
            "building the lab's dom0 root needs root (debootstrap creates device "
            "nodes and chroots)",
            "run `invoke lab.test` as root once to fill the cache "
            f"({archive}); later runs only read it",
        )
    if shutil.which("debootstrap") is None:
        raise KitError(
            "debootstrap is not installed", "run `invoke setup` (or apt-get install debootstrap)"
        )
    require("cpio")
    with staging_dir(lab, ".dom0-rootfs-staging-") as staging:
        root = staging / "root"
        debootstrap(
            root,
            toolstack.suite,
            [toolstack.package, *EXTRA_PACKAGES],
            lab / f"dom0-rootfs-{key}.debootstrap.log",
            "the dom0 root",
        )
        installed = _installed_version(root, toolstack.package)
        _check_toolstack(toolstack, installed)
        _trim(root)
        modules = _install_modules(root, release, DOM0_MODULES)
        tmp_archive = staging / "rootfs.cpio.gz"
        with progress.step("packing the dom0 root (gzip -1 cpio)"):
            pack_cpio(root, tmp_archive)
        manifest: dict[str, object] = {
            "key": key,
            "suite": toolstack.suite,
            "mirror": mirror(),
            "toolstack": f"{toolstack.package}={installed}",
            "kernel": release,
            "modules": modules,
            "size": tmp_archive.stat().st_size,
        }
        manifest_tmp = staging / "manifest.json"
        manifest_tmp.write_text(json.dumps(manifest, indent=2) + "\n")
        tmp_archive.replace(archive)
        manifest_tmp.replace(manifest_path)
    progress.say(f"dom0 root: {archive} ({archive.stat().st_size >> 20} MB)")
    return Dom0Base(archive, key, manifest)


def _installed_version(root: Path, package: str) -> str:
    status = root / "var" / "lib" / "dpkg" / "status"
    for stanza in status.read_text(errors="replace").split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in stanza.splitlines() if ": " in line and line[0] != " "
        )
        if fields.get("Package") == package and "installed" in fields.get("Status", ""):
            return fields.get("Version", "")
    raise KitError(f"debootstrap did not install {package}")


def _check_toolstack(toolstack: Toolstack, installed: str) -> None:
    """The toolstack must be the hypervisor's Xen series; say so if not the exact version."""
    if series_of(installed) != series_of(toolstack.version):
        raise KitError(
            f"the dom0 toolstack {toolstack.package} is {installed}, but the hypervisor "
            f"is Xen {toolstack.version}",
            f"use a mirror whose {toolstack.suite} carries {toolstack.version} "
            "(SGKIT_DEBIAN_MIRROR, e.g. a snapshot.debian.org URL)",
        )
    if installed != toolstack.version:
        progress.say(
            f"warning: dom0 toolstack {toolstack.package} is {installed}, "
            f"the hypervisor source is {toolstack.version} (same series)"
        )


def _trim(root: Path) -> None:
    for rel in TRIM:
        target = root / rel
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
            target.mkdir()  # some tools expect the directory to exist
    for leftover in (root / "var" / "log").glob("*.log"):
        leftover.unlink()


def module_closure(tree: Path, names: tuple[str, ...]) -> list[Path]:
    """The .ko files for ``names`` and everything they depend on, relative to ``tree``."""
    index: dict[str, Path] = {}
    for ko in (tree / "kernel").rglob("*.ko*"):
        index[ko.name.split(".ko")[0].replace("-", "_")] = ko
    wanted = [n.replace("-", "_") for n in names]
    seen: dict[str, Path] = {}
    while wanted:
        name = wanted.pop()
        if name in seen:
            continue
        if name not in index:
            raise KitError(f"kernel module {name} is not in {tree}")
        seen[name] = index[name]
        depends = ",".join(read_modinfo(index[name]).get("depends", []))
        wanted += [d.strip().replace("-", "_") for d in depends.split(",") if d.strip()]
    return sorted(p.relative_to(tree) for p in seen.values())


def _install_modules(root: Path, release: str, names: tuple[str, ...]) -> list[str]:
    tree = kernel_modules(release)
    files = module_closure(tree, names)
    target = root / "lib" / "modules" / release  # /lib is a symlink to usr/lib: fine
    for rel in files:
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(tree / rel, target / rel)
    for extra in ("modules.builtin", "modules.builtin.modinfo", "modules.order"):
        if (tree / extra).is_file():
            shutil.copy2(tree / extra, target / extra)
    # The root's own depmod (kmod is in the base), so the host needs no kmod.
    run(["chroot", root, "/sbin/depmod", release], what=f"depmod {release} in the dom0 root")
    return [str(rel) for rel in files]


def pack_cpio(root: Path, out: Path) -> None:
    """``root`` as a gzip -1 newc cpio (owner root, sorted, reproducible)."""
    require("cpio")
    script = (
        "set -o pipefail; find . -mindepth 1 -print0 | LC_ALL=C sort -z | "
        "cpio --quiet --null -o -H newc -R 0:0 --reproducible | gzip -1 -n > "
        + shlex.quote(str(out))
    )
    run(["bash", "-c", script], cwd=root, what=f"packing {root} as cpio")


def pack_files(
    files: Mapping[str, Path | bytes], out: Path, modes: Mapping[str, int] | None = None
) -> Path:
    """A small gzip'd cpio of ``files`` (archive path -> source file or content)."""
    modes = modes or {}
    with tempfile.TemporaryDirectory(prefix="sgkit-overlay-") as tmp:
        root = Path(tmp)
        for dest, src in files.items():
            target = root / dest.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(src, bytes):
                target.write_bytes(src)
            else:
                shutil.copyfile(src, target)
            target.chmod(modes.get(dest, 0o644))
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp_out = out.with_name(out.name + ".tmp")
        pack_cpio(root, tmp_out)
        tmp_out.replace(out)
    return out


def concatenate(parts: list[Path], out: Path) -> Path:
    """One initrd file from several gzip'd cpio archives (the kernel unpacks each in turn)."""
    tmp_out = out.with_name(out.name + ".tmp")
    with tmp_out.open("wb") as dst:
        for part in parts:
            with part.open("rb") as src:
                shutil.copyfileobj(src, dst, 1 << 20)
    tmp_out.replace(out)
    return out
