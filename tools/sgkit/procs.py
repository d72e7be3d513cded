"""Running external programs with errors that name the program and the fix."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from sgkit.errors import KitError

# The Debian package that provides each program the kit runs.
PROGRAM_PACKAGES: dict[str, str] = {
    "apt-get": "apt",
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
) -> subprocess.CompletedProcess[str]:
    """Run a program; on failure raise a KitError naming it, its output tail and a fix.

    With ``log`` the combined output goes to that file (and its tail into the
    error); otherwise it is captured and returned.
    """
    args = [str(a) for a in argv]
    require(args[0])
    full_env = None if env is None else {**os.environ, **env}
    description = what or " ".join(args[:3])
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("w") as fh:
            proc = subprocess.run(
                args, cwd=cwd, env=full_env, stdout=fh, stderr=subprocess.STDOUT, text=True
            )
        output = _tail(log.read_text(errors="replace"))
    elif capture:
        proc = subprocess.run(args, cwd=cwd, env=full_env, capture_output=True, text=True)
        output = _tail((proc.stdout or "") + (proc.stderr or ""))
    else:
        proc = subprocess.run(args, cwd=cwd, env=full_env, text=True)
        output = ""
    if proc.returncode != 0:
        where = f" (full log: {log})" if log else ""
        raise KitError(
            f"{description} failed with exit status {proc.returncode}{where}\n{output}".rstrip(),
            fix,
        )
    return proc


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join("    " + line for line in text.strip().splitlines()[-lines:])
