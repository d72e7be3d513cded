"""Kernels of other Debian suites: their headers and compiler in a cached chroot.

Debian 13's 6.12 headers need gcc-14 and unstable's need its own compiler;
the host (Debian 12, gcc-12) has neither.  So the modules for those kernels
are built inside a minimal root of the kernel's suite:

- ``debootstrap --variant=minbase`` of the suite with the compiler the
  headers depend on, make, and the libraries linux-kbuild links against;
- the kernel's own packages (``linux-headers-REL``, its ``-common``,
  ``linux-kbuild-*``...: every ``linux-*`` dependency carrying the kernel's
  ABI name) unpacked into it with ``dpkg-deb -x``, without dpkg, so that
  nothing pulls in a kernel image.

The root lives in ``builds/toolchains/<release>-<key>``, the key being a
hash of the suite, the mirror, the package names and the kernel packages'
versions; it is made once (about a minute) and then only read.  The build
runs as ``make`` inside it, in a private mount namespace where the work
directory is bind-mounted at ``/sgkit`` and /proc is mounted (objtool reads
it), so nothing stays mounted afterwards.  Making and entering a chroot
needs root.

``--kernel`` accepts a release (``6.12.117+deb13-amd64``: ``+deb13`` names
trixie, ``+deb14`` unstable), a suite (``trixie``, ``sid``: its current
``linux-headers-amd64``) or a series (``6.12``: the suite that carries it).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from sgkit import progress
from sgkit.build.debian_packages import download
from sgkit.build.debian_suites import (
    memo,
    mirror,
    package_names,
    parse_depends,
    show,
    suite_index,
)
from sgkit.build.debootstrap import debootstrap, staging_dir
from sgkit.build.kernels import KernelHeaders
from sgkit.errors import KitError
from sgkit.paths import builds_dir
from sgkit.procs import require, run

# Debian release number in a kernel's ABI name (+debNN) -> the suite to take it from.
SUITE_OF_TAG = {"13": "trixie", "14": "sid"}
SUITES = tuple(SUITE_OF_TAG.values())
# Bump when the way a root is made changes (invalidates every cached root).
RECIPE = 1
BASE_PACKAGES = ("make",)
# Dependencies never installed in the root: the image (the headers accept it
# as an alternative to nothing we need) and Debian's kernel maintainer scripts.
SKIPPED = re.compile(r"^linux-image-|^linux-base$")
TRIM = ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "var/cache/apt")
KEEP_PER_SUITE = 2  # roots of older releases of a suite beyond this are removed
BIND_POINT = "/sgkit"
CHROOT_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class KernelPackages:
    suite: str
    release: str
    unpacked: dict[str, str]  # linux-* packages unpacked into the root: name -> version
    toolchain: tuple[str, ...]  # what debootstrap installs (compiler, make, libraries)

    def key(self, mirror_url: str) -> str:
        recipe = {
            "recipe": RECIPE,
            "suite": self.suite,
            "mirror": mirror_url,
            "unpacked": self.unpacked,
            "toolchain": sorted(self.toolchain),
            "trim": sorted(TRIM),
        }
        return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def abi_of(release: str) -> tuple[str, str] | None:
    """'6.12.117+deb13-amd64' -> ('6.12.117+deb13', 'amd64'); None without a +debNN tag."""
    m = re.fullmatch(r"(\d+\.\d+(?:\.\d+)?[^-]*\+deb(\d+)[.\d]*)-([a-z0-9-]+)", release)
    return (m.group(1), m.group(3)) if m else None


def suite_of_release(release: str) -> str | None:
    """The suite a release's packages come from, by its +debNN tag; None for host-style ones."""
    m = re.search(r"\+deb(\d+)", release)
    return SUITE_OF_TAG.get(m.group(1)) if m else None


def is_foreign(kernel: str) -> bool:
    """True if ``kernel`` names a suite, a series or a +debNN release: the chroot route."""
    if kernel in SUITES or re.fullmatch(r"\d+\.\d+", kernel):
        return True
    return bool(re.search(r"\+deb\d+", kernel))


def host_has_headers(release: str, os_release: Path = Path("/etc/os-release")) -> bool:
    """True on a host of the release's own Debian version with its headers installed."""
    m = re.search(r"\+deb(\d+)", release)
    try:
        text = os_release.read_text()
    except OSError:
        return False
    same = bool(m) and re.search(rf'^VERSION_ID="?{m.group(1)}"?$', text, re.M) is not None
    return same and (Path("/lib/modules") / release / "build" / "Makefile").is_file()


def kernel_packages(
    suite: str, release: str, lookup: Callable[[str], dict[str, str] | None]
) -> KernelPackages:
    """What a root for ``release`` needs, read from the suite's control fields via ``lookup``.

    The kernel's packages are ``linux-headers-REL`` and, transitively, its
    dependencies whose name carries the ABI (``6.12.117+deb13``); every other
    dependency (the compiler, kbuild's libraries) is installed by debootstrap.
    """
    abi = abi_of(release)
    if abi is None:
        raise KitError(f"{release} is not a Debian kernel release with a +debNN tag")
    first = f"linux-headers-{release}"
    unpacked: dict[str, str] = {}
    toolchain = set(BASE_PACKAGES)
    todo = [first]
    while todo:
        name = todo.pop()
        if name in unpacked:
            continue
        fields = lookup(name)
        if fields is None:
            raise KitError(
                f"{suite} has no package {name}",
                f"pick a release {suite} carries (`invoke driver.build --kernel {suite}` "
                "takes its current one)",
            )
        unpacked[name] = fields.get("Version", "")
        for group in _depends(fields):
            wanted = [n for n in group if not SKIPPED.search(n)]
            if not wanted:
                continue
            if abi[0] in wanted[0]:
                todo.append(wanted[0])
            else:
                toolchain.add(wanted[0])
    return KernelPackages(suite, release, dict(sorted(unpacked.items())), tuple(sorted(toolchain)))


def _depends(fields: dict[str, str]) -> list[list[str]]:
    value = ", ".join(v for k, v in fields.items() if k in ("Pre-Depends", "Depends") and v)
    return parse_depends(value)


def resolve(kernel: str) -> tuple[str, str]:
    """``--kernel`` as (suite, release), looked up in the suites' indexes."""
    if kernel in SUITES:
        return kernel, _current_release(kernel)
    if re.fullmatch(r"\d+\.\d+", kernel):
        found = {}
        for suite in SUITES:
            found[suite] = _current_release(suite)
            if found[suite].startswith(kernel + "."):
                return suite, found[suite]
        have = ", ".join(f"{suite} has {release}" for suite, release in found.items())
        raise KitError(
            f"no Debian suite the kit knows carries Linux {kernel} ({have})",
            "pass --kernel with one of those (or the suite's name: " + ", ".join(SUITES) + ")",
        )
    suite = suite_of_release(kernel)
    if suite is None or abi_of(kernel) is None:
        tags = ", ".join(f"+deb{tag} ({suite})" for tag, suite in SUITE_OF_TAG.items())
        raise KitError(
            f"cannot tell which Debian suite kernel {kernel!r} comes from",
            f"give a release with a tag the kit knows ({tags}), a suite "
            f"({', '.join(SUITES)}), a series such as 6.12, or --kdir PATH",
        )
    index = suite_index(suite)
    if not memo(index, f"has {kernel}", lambda: show(index, f"linux-headers-{kernel}") is not None):
        flavour = abi_of(kernel)[1]  # type: ignore[index]
        releases = [
            n.removeprefix("linux-headers-") for n in package_names(index, "linux-headers-")
        ]
        known = [r for r in releases if (abi_of(r) or ("", ""))[1] == flavour]
        raise KitError(
            f"{suite} has no headers for {kernel} (no linux-headers-{kernel})",
            f"use one it has: {', '.join(known) or 'none'}; or --kernel {suite} for its current",
        )
    return suite, kernel


def _current_release(suite: str) -> str:
    index = suite_index(suite)
    fields = memo(index, "linux-headers-amd64", lambda: show(index, "linux-headers-amd64"))
    for group in _depends(fields or {}):
        m = re.fullmatch(r"linux-headers-(.+-amd64)", group[0])
        if m:
            return m.group(1)
    raise KitError(f"{suite}'s linux-headers-amd64 names no headers package")


def find_headers(kernel: str) -> KernelHeaders:
    """Headers for ``kernel`` inside its suite's root, made (as root) on first use."""
    if os.geteuid() != 0:
        raise KitError(
            f"modules for {kernel} are built in a chroot of its Debian suite, which needs root",
            "run the command as root (CI does); or build on a machine of that suite with "
            "its linux-headers package installed and pass --kdir",
        )
    suite, release = resolve(kernel)
    index = suite_index(suite)
    found = memo(
        index,
        f"packages {release}",
        lambda: asdict(kernel_packages(suite, release, lambda name: show(index, name))),
    )
    packages = KernelPackages(
        found["suite"], found["release"], found["unpacked"], tuple(found["toolchain"])
    )
    root = toolchain_root(packages)
    kdir = root / "usr" / "src" / f"linux-headers-{release}"
    return KernelHeaders(release, kdir, root=root)


def toolchain_root(packages: KernelPackages) -> Path:
    """The cached root for these packages (``builds/toolchains/<release>-<key>/root``)."""
    key = packages.key(mirror())
    base = builds_dir() / "toolchains"
    final = base / f"{packages.release}-{key}"
    if (final / "manifest.json").is_file():
        return final / "root"
    if os.geteuid() != 0:
        raise KitError(
            f"building modules for {packages.release} needs a {packages.suite} root with its "
            "compiler, and making one needs root (debootstrap, chroot)",
            "run the command as root (CI does); or build on a "
            f"{packages.suite} machine with linux-headers-{packages.release} and pass --kdir",
        )
    require("debootstrap")
    require("dpkg-deb")
    with staging_dir(base, ".staging-") as staging:
        root = staging / "root"
        debootstrap(
            root,
            packages.suite,
            packages.toolchain,
            base / f"{packages.release}-{key}.debootstrap.log",
            f"a {packages.suite} root for kernel modules",
        )
        for name, version in packages.unpacked.items():
            _unpack_into(root, download(name, version, suite=packages.suite), staging / "deb")
        for rel in TRIM:
            shutil.rmtree(root / rel, ignore_errors=True)
        (root / BIND_POINT.lstrip("/")).mkdir(exist_ok=True)
        kdir = root / "usr" / "src" / f"linux-headers-{packages.release}"
        if not (kdir / "Makefile").is_file():
            raise KitError(f"the unpacked packages have no {kdir.relative_to(root)}/Makefile")
        manifest = {
            "suite": packages.suite,
            "release": packages.release,
            "mirror": mirror(),
            "unpacked": packages.unpacked,
            "toolchain": _installed_versions(root, packages.toolchain),
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        if (final / "manifest.json").is_file():  # another run made it meanwhile
            return final / "root"
        shutil.rmtree(final, ignore_errors=True)  # an incomplete one (no manifest)
        staging.rename(final)
    _prune(base, packages)
    progress.say(f"{packages.suite} root for {packages.release}: {final}")
    return final / "root"


def _unpack_into(root: Path, deb: Path, scratch: Path) -> None:
    """Unpack ``deb`` and copy its /usr into the root (merged /usr: nothing else allowed)."""
    shutil.rmtree(scratch, ignore_errors=True)
    run(["dpkg-deb", "-x", deb, scratch], what=f"dpkg-deb -x {deb.name}")
    others = sorted(p.name for p in scratch.iterdir() if p.name != "usr")
    if others:
        raise KitError(f"{deb.name} has files outside /usr ({', '.join(others)})")
    shutil.copytree(scratch / "usr", root / "usr", symlinks=True, dirs_exist_ok=True)
    shutil.rmtree(scratch)


def _installed_versions(root: Path, names: tuple[str, ...]) -> dict[str, str]:
    status = (root / "var" / "lib" / "dpkg" / "status").read_text(errors="replace")
    versions = {}
    for stanza in status.split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in stanza.splitlines() if ": " in line and line[0] != " "
        )
        if fields.get("Package") in names:
            versions[fields["Package"]] = fields.get("Version", "")
    return dict(sorted(versions.items()))


def _prune(base: Path, packages: KernelPackages) -> None:
    """Keep the newest KEEP_PER_SUITE roots of this suite."""
    roots = []
    for manifest in base.glob("*/manifest.json"):
        try:
            suite = json.loads(manifest.read_text()).get("suite")
        except (OSError, ValueError):
            continue
        if suite == packages.suite:
            roots.append(manifest)
    roots.sort(key=lambda m: m.stat().st_mtime, reverse=True)
    for manifest in roots[KEEP_PER_SUITE:]:
        progress.say(f"removing an older {packages.suite} root: {manifest.parent}")
        shutil.rmtree(manifest.parent, ignore_errors=True)


def chroot_argv(root: Path, workdir: Path, argv: list[str]) -> list[str]:
    """Run ``argv`` inside ``root`` with ``workdir`` at /sgkit, in a private mount namespace."""
    script = (
        'r=$1; mount --bind "$2" "$r' + BIND_POINT + '"; mount -t proc proc "$r/proc"; '
        'shift 2; exec chroot "$r" "$@"'
    )
    return [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "--",
        "sh",
        "-ec",
        script,
        "sgkit-chroot",
        str(root),
        str(workdir),
        *argv,
    ]


def run_in_root(
    root: Path, workdir: Path, argv: list[str], *, what: str, log: Path, fix: str
) -> None:
    """Run ``argv`` inside the root (see chroot_argv), its output in ``log``."""
    if os.geteuid() != 0:
        raise KitError("building in a chroot needs root", "run the command as root (CI does)")
    require("mount")
    require("chroot")
    env = {"PATH": CHROOT_PATH, "LC_ALL": "C", "MAKEFLAGS": "", "MFLAGS": ""}
    run(chroot_argv(root, workdir, argv), env=env, what=what, log=log, fix=fix)
