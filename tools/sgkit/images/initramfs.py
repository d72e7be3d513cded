"""Initramfs images for the lab's domains: busybox, an /init, and sgkit's modules.

Images are newc cpio archives (what the kernel unpacks), gzip-compressed,
built reproducibly: owners are root, timestamps fixed, entries sorted.
"""

from __future__ import annotations

import gzip
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from sgkit.build.debian_packages import unpacked
from sgkit.errors import KitError
from sgkit.paths import GUEST_DIR
from sgkit.procs import require, run


def busybox() -> Path:
    """Debian's static busybox, unpacked in the cache (never installed on the host)."""
    path = unpacked("busybox-static") / "bin" / "busybox"
    if not path.is_file():
        raise KitError(f"busybox-static has no {path}")
    return path


def build_initramfs(
    out: Path,
    init_script: Path,
    modules: Mapping[str, Path],
    module_args: Mapping[str, str] | None = None,
    extra_files: Mapping[str, Path] | None = None,
) -> Path:
    """Write a gzip'd newc cpio to ``out`` with /init, busybox and the modules."""
    require("cpio")
    module_args = module_args or {}
    with tempfile.TemporaryDirectory(prefix="sgkit-initramfs-") as tmp:
        root = Path(tmp) / "root"
        for d in ("bin", "dev", "proc", "sys", "run", "tmp", "etc/sgkit", "lib/sgkit"):
            (root / d).mkdir(parents=True, exist_ok=True)
        shutil.copy2(busybox(), root / "bin" / "busybox")
        shutil.copyfile(init_script, root / "init")
        (root / "init").chmod(0o755)
        # What every guest script sources (the busybox preamble, the module loop).
        shutil.copyfile(guest_script("lib.sh"), root / "lib" / "sgkit" / "lib.sh")
        lines = []
        for name, ko in modules.items():
            shutil.copyfile(ko, root / "lib" / "sgkit" / f"{name}.ko")
            lines.append(f"{name} {module_args.get(name, '')}".rstrip())
        (root / "etc" / "sgkit" / "modules").write_text("\n".join(lines) + "\n")
        for dest, src in (extra_files or {}).items():
            target = root / dest.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
        entries = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
        proc = run(
            ["cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0", "--reproducible"],
            cwd=root,
            input=("\n".join([".", *entries]) + "\n").encode(),
            what=f"cpio of {out.name}",
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_name(out.name + ".tmp")
    with gzip.GzipFile(tmp_out, "wb", compresslevel=1, mtime=0) as gz:
        gz.write(proc.stdout)
    tmp_out.replace(out)
    return out


def guest_script(name: str) -> Path:
    path = GUEST_DIR / name
    if not path.is_file():
        raise KitError(f"guest program {path} is missing")
    return path
