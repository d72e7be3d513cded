"""Build the guest modules in linux-driver/ against a kernel's headers.

The sources are copied into ``builds/linux-<release>/src`` (only files that
changed are rewritten, so kbuild stays incremental) together with the Linux
flavour of the public header, rendered from the same template Xen uses.
Nothing is written into the project tree.  When sources, header and kernel
are all unchanged since the last build, make is not run at all.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sgkit import progress
from sgkit.build import kernel_chroots
from sgkit.build.elf_checks import read_modinfo
from sgkit.build.kernels import KernelHeaders, find_headers
from sgkit.build.patch_series import render_file
from sgkit.build.trees import file_sha256, publish_dir
from sgkit.build.versions import DEFAULT_XEN
from sgkit.errors import KitError
from sgkit.paths import LINUX_DRIVER_DIR, builds_dir
from sgkit.procs import require, run

MODULES = ("sgtest", "sgnet", "sgnet-front", "sgnet-back", "sghostile")
# The sgnet link, in load order: the part both ends share (it exports what the
# drivers use), then the frontend and the backend drivers.
SGNET_MODULES = ("sgnet", "sgnet-front", "sgnet-back")
# Modules built in another module's directory of linux-driver/ (else: their own).
MODULE_DIRS = {"sgnet-front": "sgnet", "sgnet-back": "sgnet"}
# What the build's own modules export (kbuild's Module.symvers of the M= tree),
# kept next to the modules for the symbol check.
OWN_SYMVERS = "Module.symvers"
# Test tools for the lab only, never deployed to a host: sghostile plays a
# hostile sgnet peer (lab.net).
LAB_ONLY_MODULES = ("sghostile",)
GENERATED_HEADER = "generated/sg_op.h"


@dataclass(frozen=True)
class DriverBuild:
    headers: KernelHeaders
    out: Path
    modules: dict[str, Path]
    manifest: dict[str, Any]
    rebuilt: bool


def source_files(root: Path = LINUX_DRIVER_DIR) -> list[Path]:
    """The driver sources: the files git tracks (or would track) under linux-driver/."""
    try:
        proc = run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "."], cwd=root)
        files = [Path(line) for line in proc.stdout.splitlines() if line]
    except KitError:  # not a git checkout, or no git: every file that looks like a source
        files = [
            p.relative_to(root)
            for p in root.rglob("*")
            if (p.is_file() and p.suffix in {".c", ".h", ""}) or p.name in {"Kbuild", "Makefile"}
        ]
    return sorted(f for f in files if (root / f).is_file())


def headers_for(kernel: str | None = None, kdir: Path | None = None) -> KernelHeaders:
    """The host's headers (``--kdir``, a 6.1 release), or another suite's in its chroot."""
    if kdir is None and kernel and kernel_chroots.is_foreign(kernel):
        if not kernel_chroots.host_has_headers(kernel):
            return kernel_chroots.find_headers(kernel)
    return find_headers(kernel, kdir)


def make_warnings(log_text: str) -> list[str]:
    """The distinct warning lines of a kbuild log (compiler and modpost), in order."""
    found = re.findall(r"^.*\bwarning:.*$", log_text, re.M | re.I)
    return list(dict.fromkeys(line.strip() for line in found))


def build(
    kernel: str | None = None,
    kdir: Path | None = None,
    xen: str = DEFAULT_XEN,
    compile_only: bool = False,
    context: dict[str, Any] | None = None,
) -> DriverBuild:
    """Build the modules; ``compile_only`` is a check: any warning is an error (-Werror).

    ``context`` is the Xen version's patch context when the caller has it already.
    """
    headers = headers_for(kernel, kdir)
    if headers.root is None:
        require("make")
        require("gcc")
    workdir = builds_dir() / f"linux-{headers.release}"
    src, out = workdir / "src", workdir / "out"
    files = {rel: (LINUX_DRIVER_DIR / rel).read_bytes() for rel in source_files()}
    files[Path(GENERATED_HEADER)] = render_file(
        "xen/include/public/sg_op.h", xen, target="linux", context=context
    ).encode()
    digest = hashlib.sha256()
    for rel in sorted(files):
        digest.update(str(rel).encode() + b"\0" + files[rel] + b"\0")
    inputs = {
        "kernel_release": headers.release,
        "kdir": str(headers.kdir),
        "symvers_sha256": file_sha256(headers.symvers) if headers.symvers.is_file() else None,
        "sources_sha256": digest.hexdigest(),
    }
    if compile_only:
        inputs["werror"] = True
    manifest_path = out / "manifest.json"
    previous = json.loads(manifest_path.read_text()) if manifest_path.is_file() else None
    if previous and previous.get("inputs") == inputs and _outputs_intact(out, previous):
        _check_warnings(previous.get("warnings", []), compile_only, headers, workdir)
        progress.say(f"modules are up to date: {out}")
        mods = {name: out / f"{name}.ko" for name in MODULES}
        return DriverBuild(headers, out, mods, previous, rebuilt=False)

    _drop_stale_sources(src, set(files))
    for rel, data in files.items():
        target = src / rel
        if target.is_file() and target.read_bytes() == data:
            continue  # keep the mtime: kbuild rebuilds only what changed
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    log = workdir / "logs" / "make.log"
    flags = ["KCFLAGS=-Werror"] if compile_only else []
    jobs = f"-j{os.cpu_count() or 1}"
    fix = "read the log; compile errors point at linux-driver/"
    with progress.step(f"building {', '.join(MODULES)} for {headers.release}"):
        if headers.root is None:
            run(
                ["make", jobs, "-C", headers.kdir, f"M={src}", "modules", *flags],
                what=f"building modules against {headers.kdir}",
                log=log,
                fix=fix,
            )
        else:
            inside = "/" + str(headers.kdir.relative_to(headers.root))
            bind = kernel_chroots.BIND_POINT
            kernel_chroots.run_in_root(
                headers.root,
                workdir,
                ["make", jobs, "-C", inside, f"M={bind}/src", "modules", *flags],
                what=f"building modules against {inside} in {headers.root}",
                log=log,
                fix=fix,
            )
    warnings = make_warnings(log.read_text(errors="replace"))
    _check_warnings(warnings, compile_only, headers, workdir)
    staging = workdir / "out.new"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    mods = {}
    for name in MODULES:
        built = src / MODULE_DIRS.get(name, name) / f"{name}.ko"
        if not built.is_file():
            raise KitError(f"make succeeded but {built} is missing", f"read {log}")
        shutil.copy2(built, staging / built.name)
        mods[name] = out / built.name
    if (src / OWN_SYMVERS).is_file():
        shutil.copy2(src / OWN_SYMVERS, staging / OWN_SYMVERS)
    manifest = {
        "kernel_release": headers.release,
        "modules": {
            name: {
                "sha256": file_sha256(staging / f"{name}.ko"),
                "vermagic": read_modinfo(staging / f"{name}.ko").get("vermagic", [""])[0],
            }
            for name in MODULES
        },
        "inputs": inputs,
        "warnings": warnings,
    }
    publish_dir(staging, out, manifest)
    progress.say(f"modules built for {headers.release}: {out}")
    return DriverBuild(headers, out, mods, manifest, rebuilt=True)


def _check_warnings(
    warnings: list[str], compile_only: bool, headers: KernelHeaders, workdir: Path
) -> None:
    if not warnings:
        return
    if compile_only:
        raise KitError(
            f"the modules compile against {headers.release} with {len(warnings)} warnings:\n"
            + "\n".join("    " + w for w in warnings[:20]),
            f"fix them in linux-driver/ (full log: {workdir / 'logs' / 'make.log'})",
        )
    for line in warnings:
        progress.say(f"warning ({headers.release}): {line}")


def _drop_stale_sources(src: Path, wanted: set[Path]) -> None:
    """Remove sources deleted or renamed in linux-driver/ (kbuild would still see them)."""
    if not src.is_dir():
        return
    for path in src.rglob("*"):
        rel = path.relative_to(src)
        generated = path.name.endswith(".mod.c")  # kbuild's own
        is_source = path.suffix in {".c", ".h"} or path.name in {"Kbuild", "Makefile"}
        is_source = is_source and not generated
        if path.is_file() and is_source and rel not in wanted:
            path.unlink()
            for built in (path.with_suffix(".o"), path.parent / f".{path.stem}.o.cmd"):
                built.unlink(missing_ok=True)


def _outputs_intact(out: Path, manifest: dict[str, Any]) -> bool:
    for name in MODULES:
        ko = out / f"{name}.ko"
        if not ko.is_file() or file_sha256(ko) != manifest["modules"].get(name, {}).get("sha256"):
            return False
    return True
