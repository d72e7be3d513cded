"""Install what the kit needs on a Debian or Ubuntu host (``invoke setup``).

Everything goes through apt: the build tools for the hypervisor, QEMU for
the emulated lab, kernel headers for the guest modules, and a deb-src entry
so that ``apt-get source`` can fetch Xen.  Other systems get an error that
names the packages.  Running it again changes nothing.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from sgkit import progress
from sgkit.build.kernel_chroots import is_foreign
from sgkit.build.kernels import DEFAULT_KERNEL, headers_package
from sgkit.errors import KitError
from sgkit.procs import run

# Package -> why the kit needs it.
PACKAGES: dict[str, str] = {
    "build-essential": "gcc and make for Xen and the modules",
    "flex": "Xen's Kconfig",
    "bison": "Xen's Kconfig",
    "python3": "Xen's build scripts",
    "patch": "applying the rendered series",
    "dpkg-dev": "dpkg-source, to unpack Debian's xen source package",
    "git": "git sources and patch export",
    "cpio": "initramfs images for the lab",
    "debootstrap": "the lab's Debian dom0 root; trixie/sid roots to build modules for 6.12 and 7.x",
    "debian-archive-keyring": "verifies the trixie and sid archives (kernel headers, compilers)",
    "qemu-system-x86": "the emulated lab",
    "ca-certificates": "https downloads",
    "qemu-utils": "qemu-img: copy-on-write overlays of the lab host's disk",
    "fdisk": "sfdisk: the lab host's partition table",
    "openssh-client": "ssh-keygen for deploy's SSH tests",
    "openssh-server": "a throwaway sshd for deploy's SSH tests",
    "checkpolicy": "compiles the FLASK policy for --xsm flask-enforcing",
    "m4": "the FLASK policy's macros",
    "sparse": "the kernel's semantic checker, run on the drivers (driver.lint)",
    "perl": "checkpatch.pl, run on the drivers (driver.lint)",
}

DEB_SRC_FILE = Path("/etc/apt/sources.list.d/sgkit-deb-src.sources")


def required_packages(kernel: str | None = None) -> list[str]:
    """The host's packages; another suite's kernel (6.12, sid) brings its own in a chroot."""
    if kernel and is_foreign(kernel):
        return list(PACKAGES)
    return [*PACKAGES, headers_package(kernel or DEFAULT_KERNEL)]


def is_debian_like() -> bool:
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return False
    fields = dict(
        line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#")
    )
    ids = {fields.get("ID", "").strip('"')} | set(fields.get("ID_LIKE", "").strip('"').split())
    return bool(ids & {"debian", "ubuntu"}) and shutil.which("apt-get") is not None


def _sudo() -> list[str]:
    if os.geteuid() == 0:
        return []
    if shutil.which("sudo"):
        return ["sudo", "-n"]
    raise KitError(
        "installing packages needs root, and sudo is not available",
        "run `invoke setup` as root, or install: " + " ".join(required_packages()),
    )


def missing_packages(packages: list[str]) -> list[str]:
    missing = []
    for pkg in packages:
        proc = run(["dpkg-query", "-W", "-f=${Status}", pkg], check=False)
        if "install ok installed" not in proc.stdout:
            missing.append(pkg)
    return missing


def has_deb_src() -> bool:
    """True if some apt source already offers source packages."""
    files = [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*")]
    for f in files:
        try:
            text = f.read_text()
        except OSError:
            continue
        if f.suffix == ".sources":
            if any(
                line.strip().startswith("Types:") and "deb-src" in line
                for line in text.splitlines()
            ):
                return True
        elif any(line.strip().startswith("deb-src ") for line in text.splitlines()):
            return True
    return False


def deb_src_entry() -> str:
    """A deb-src stanza mirroring the host's Debian main archive."""
    codename = _os_field("VERSION_CODENAME") or "bookworm"
    return (
        "# Added by sgkit (invoke setup): source packages for apt-get source.\n"
        "Types: deb-src\n"
        "URIs: http://deb.debian.org/debian\n"
        f"Suites: {codename} {codename}-updates\n"
        "Components: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    )


def _os_field(name: str) -> str | None:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith(name + "="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return None


def setup(kernel: str | None = None) -> list[str]:
    """Install what is missing; returns the packages installed."""
    packages = required_packages(kernel)
    if not is_debian_like():
        raise KitError(
            "this is not a Debian or Ubuntu system with apt-get",
            "install these (or their equivalents) yourself: " + " ".join(packages),
        )
    sudo = _sudo()
    need_update = False
    if not has_deb_src() and _os_field("ID") == "debian":
        progress.say(f"adding a deb-src entry: {DEB_SRC_FILE}")
        _write_root_file(sudo, DEB_SRC_FILE, deb_src_entry())
        need_update = True
    missing = missing_packages(packages)
    if not missing and not need_update:
        progress.say("all packages the kit needs are installed")
        return []
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with progress.step("apt-get update"):
        _apt(sudo, ["apt-get", "update", "-q"], env)
    if missing:
        with progress.step(f"apt-get install {' '.join(missing)}"):
            _apt(
                sudo,
                ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
                env,
            )
    return missing


def _apt(sudo: list[str], argv: list[str], env: dict[str, str]) -> None:
    proc = run([*sudo, *argv], env=env, check=False)
    if proc.returncode != 0:
        raise KitError(
            f"{' '.join(argv[:2])} failed:\n{proc.stderr.strip()[-1500:]}",
            "check the network and apt sources; a kernel release that is not in the "
            "archive needs --kernel with one that is (apt-cache search linux-headers)",
        )


def _write_root_file(sudo: list[str], path: Path, text: str) -> None:
    if not sudo:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        tmp.replace(path)
        return
    run([*sudo, "tee", path], input=text)
