"""Running external programs with errors that name the program and the fix."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sgkit.errors import KitError

# The Debian package that provides each program the kit runs.
PROGRAM_PACKAGES: dict[str, str] = {
    "apt-get": "apt",
    "apt-cache": "apt",
    "chroot": "coreutils",
    "unshare": "util-linux",
    "bison": "bison",
    "cpio": "cpio",
    "dpkg-deb": "dpkg",
    "dpkg-source": "dpkg-dev",
    "flex": "flex",
    "gcc": "gcc",
    "git": "git",
    "make": "make",
    "patch": "patch",
    "qemu-system-x86_64": "qemu-system-x86",
    "qemu-img": "qemu-utils",
    "sfdisk": "fdisk",
    "debootstrap": "debootstrap",
    "ssh-keygen": "openssh-client",
    "bash": "bash",
    "perl": "perl-base",
    "sh": "dash",
    "blkid": "util-linux",
    "dpkg-query": "dpkg",
    "losetup": "mount",
    "mkfs.ext4": "e2fsprogs",
    "mount": "mount",
    "sudo": "sudo",
    "tee": "coreutils",
    "truncate": "coreutils",
    "umount": "mount",
}


def require(program: str) -> str:
    """Return the path of ``program`` or raise naming the package that provides it."""
    found = shutil.which(program)
    if found:
        return found
    if os.sep in program:
        raise KitError(
            f"{program} does not exist or is not executable",
            "fix the path (SGKIT_QEMU and similar settings name programs by path)",
        )
    package = PROGRAM_PACKAGES.get(os.path.basename(program))
    fix = (
        f"run `invoke setup` (installs {package}), or `apt-get install {package}`"
        if package
        else "install it and make sure it is on PATH"
    )
    raise KitError(f"{program} is not installed (not found on PATH)", fix)


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    what: str | None = None,
    fix: str | None = None,
    log: Path | None = None,
    capture: bool = True,
    check: bool = True,
    timeout: float | None = None,
    input: str | bytes | None = None,
) -> subprocess.CompletedProcess[Any]:
    """Run a program; on failure raise a KitError naming it, its output tail and a fix.

    The one way the kit starts a program that runs to completion: a missing
    program names its Debian package, a timeout names the bound.  With
    ``log`` the combined output goes to that file (and its tail into the
    error); otherwise it is captured and returned.  ``check=False`` returns a
    failed run instead of raising.  ``input`` is the program's stdin (bytes
    make the whole run binary); without it stdin is inherited.
    """
    args = [str(a) for a in argv]
    require(args[0])
    full_env = None if env is None else {**os.environ, **env}
    description = what or " ".join(args[:3])
    text = not isinstance(input, bytes)
    common: dict[str, Any] = {"cwd": cwd, "env": full_env, "timeout": timeout, "text": text}
    if input is not None:
        common["input"] = input
    try:
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
            with log.open("w") as fh:
                proc = subprocess.run(args, stdout=fh, stderr=subprocess.STDOUT, **common)
            output = _tail(log.read_text(errors="replace"))
        elif capture:
            proc = subprocess.run(args, capture_output=True, **common)
            output = _tail(_text(proc.stdout) + _text(proc.stderr))
        else:
            proc = subprocess.run(args, **common)
            output = ""
    except subprocess.TimeoutExpired as e:
        raise KitError(
            f"{description} did not finish within {timeout:.0f}s",
            fix or "the machine may be overloaded; run it again, or look at what it waits for",
        ) from e
    if check and proc.returncode != 0:
        where = f" (full log: {log})" if log else ""
        raise KitError(
            f"{description} failed with exit status {proc.returncode}{where}\n{output}".rstrip(),
            fix,
        )
    return proc


def _text(data: str | bytes | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join("    " + line for line in text.strip().splitlines()[-lines:])
