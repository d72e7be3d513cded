"""Build the patched hypervisor out of tree, incrementally, and write its manifest.

    fetch (xen_sources) -> render (patch_series) -> apply (patch_apply) -> make

The work tree is a copy of the pristine tree with the series applied; the
objects live in a separate ``obj/`` directory (``make O=``).  A build whose
inputs (pristine tree, series, Kconfig fragment, work tree contents) are
unchanged since the last one runs no make at all; a changed file makes
make rebuild just what depends on it.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sgkit import progress
from sgkit.build.elf_checks import read_build_id
from sgkit.build.patch_apply import apply_series
from sgkit.build.patch_series import render_series
from sgkit.build.trees import file_sha256, newest_mtime, publish_dir
from sgkit.build.versions import load_context, series_of, xen_series
from sgkit.build.xen_sources import PristineTree, fetch, parse_spec
from sgkit.errors import KitError
from sgkit.paths import XEN_HYPERVISOR_DIR, builds_dir
from sgkit.procs import require, run

OUTPUTS = ("xen", "xen.gz", "xen-syms")
CONFIG_FRAGMENT = XEN_HYPERVISOR_DIR / "sgkit.config"
VARIANTS_DIR = XEN_HYPERVISOR_DIR / "variants"  # <name>.config, merged after the fragment
BUILD_PROGRAMS = ("make", "gcc", "flex", "bison", "python3")

# Xen records every command line and rebuilds what a changed one produced.  Its
# default PYTHON is python3's absolute path, which differs between a shell, a
# virtualenv and pyenv; naming it plainly keeps incremental builds incremental.
MAKE_VARS = ("PYTHON=python3",)


@dataclass(frozen=True)
class XenBuild:
    workdir: Path
    out: Path
    manifest: dict[str, Any]
    rebuilt: bool

    @property
    def xen(self) -> Path:
        return self.out / "xen"

    @property
    def xen_syms(self) -> Path:
        return self.out / "xen-syms"


def workdir_for(xen: str, pristine: PristineTree, variant: str | None = None) -> Path:
    suffix = f"-{variant}" if variant else ""
    return builds_dir() / f"xen-{series_of(xen)}-{pristine.source.key}{suffix}"


def variants() -> list[str]:
    return sorted(p.stem for p in VARIANTS_DIR.glob("*.config"))


def config_fragment(variant: str | None = None) -> str:
    """sgkit.config, followed by ``variants/<variant>.config`` when one is named."""
    fragment = CONFIG_FRAGMENT.read_text()
    if variant is None:
        return fragment
    path = VARIANTS_DIR / f"{variant}.config"
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", variant) or not path.is_file():
        raise KitError(
            f"unknown Xen build variant {variant!r}",
            f"use one of: {', '.join(variants()) or '(none)'} (xen-hypervisor/variants/)",
        )
    return fragment + path.read_text()


def build(
    xen: str,
    source_spec: str = "",
    jobs: int | None = None,
    variant: str | None = None,
    context: dict[str, Any] | None = None,
) -> XenBuild:
    """Fetch, render, apply and build; skip make when nothing changed.

    A ``variant`` (``xen-hypervisor/variants/<name>.config`` merged after
    sgkit.config) builds in a work directory of its own.  ``context`` is the
    version's patch context when the caller has it already.
    """
    context = context or load_context(xen)
    fragment = config_fragment(variant)
    for program in BUILD_PROGRAMS:
        require(program)
    with progress.step(f"fetching Xen source ({source_spec})"):
        pristine = fetch(parse_spec(source_spec, xen, context))
    if series_of(pristine.xen_version) != xen_series(xen, context):
        raise KitError(
            f"the source {source_spec or 'default'} is Xen {pristine.xen_version}, "
            f"not Xen {xen_series(xen, context)} ({xen})",
            f"pass --xen {series_of(pristine.xen_version)} or a {xen} source",
        )
    series = render_series(xen, context=context)
    workdir = workdir_for(xen, pristine, variant)
    src, obj, out = workdir / "src", workdir / "obj", workdir / "out"
    with progress.step(f"applying {len(series.patches)} patches to Xen {pristine.xen_version}"):
        applied = apply_series(series, pristine.path, pristine.tree_hash, src)
    if applied.up_to_date:
        progress.say("work tree already has this series")
    else:
        progress.say(f"work tree updated: {len(applied.changed)} files changed")

    inputs = {
        "xen_version": pristine.xen_version,
        "source": pristine.describe(),
        "series_digest": series.digest,
        "config_sha256": hashlib.sha256(fragment.encode()).hexdigest(),
        "compiler": _compiler_version(),
    }
    if variant:
        inputs["variant"] = variant
    manifest_path = out / "manifest.json"
    previous = json.loads(manifest_path.read_text()) if manifest_path.is_file() else None
    src_mtime = newest_mtime(src / "xen")
    if (
        previous
        and previous.get("inputs") == inputs
        and previous.get("src_newest_mtime", -1) >= src_mtime
        and all((out / name).is_file() for name in OUTPUTS)
        and _outputs_intact(out, previous)
    ):
        progress.say(f"Xen is up to date: {out}")
        return XenBuild(workdir, out, previous, rebuilt=False)

    _configure(src, obj, fragment, workdir / "logs")
    jobs = jobs or os.cpu_count() or 2
    log = workdir / "logs" / "make.log"
    with progress.step(f"make -j{jobs} (log: {log})"):
        _make_with_progress(src, obj, jobs, log)
    manifest = _install_outputs(obj, out, inputs, src_mtime)
    return XenBuild(workdir, out, manifest, rebuilt=True)


def _compiler_version() -> str:
    proc = run(["gcc", "--version"], check=False)
    return proc.stdout.splitlines()[0] if proc.stdout else "unknown"


def _outputs_intact(out: Path, manifest: dict[str, Any]) -> bool:
    return all(file_sha256(out / name) == manifest.get("outputs", {}).get(name) for name in OUTPUTS)


def _configure(src: Path, obj: Path, fragment: str, logs: Path) -> None:
    """defconfig once, then merge the fragment and check every line survived."""
    obj.mkdir(parents=True, exist_ok=True)
    config = obj / ".config"
    wanted = _parse_fragment(fragment)
    if config.is_file() and _config_matches(config.read_text(), wanted):
        return
    make = ["make", "-C", src / "xen", f"O={obj}", *MAKE_VARS]
    with progress.step("configuring Xen (defconfig + xen-hypervisor/*.config)"):
        run([*make, "defconfig"], what="make defconfig", log=logs / "defconfig.log")
        text = config.read_text()
        for name in wanted:
            text = re.sub(rf"^(# )?{name}(=.*| is not set)\n", "", text, flags=re.M)
        text += "".join(
            f"{n}={v}\n" if v != "n" else f"# {n} is not set\n" for n, v in wanted.items()
        )
        config.write_text(text)
        run([*make, "olddefconfig"], what="make olddefconfig", log=logs / "olddefconfig.log")
    final = config.read_text()
    lost = [n for n, v in wanted.items() if _config_value(final, n) != v]
    if lost:
        raise KitError(
            f"Kconfig dropped {', '.join(lost)} from the xen-hypervisor/ fragment (see {config})",
            "the symbol is unknown to this Xen or its dependencies are not met; "
            "is the patch series applied?",
        )


def _parse_fragment(fragment: str) -> dict[str, str]:
    wanted: dict[str, str] = {}
    for line in fragment.splitlines():
        if m := re.match(r"^(CONFIG_\w+)=(.*)$", line):
            wanted[m.group(1)] = m.group(2)
        elif m := re.match(r"^# (CONFIG_\w+) is not set$", line):
            wanted[m.group(1)] = "n"
    return wanted


def _config_value(config: str, name: str) -> str:
    if m := re.search(rf"^{name}=(.*)$", config, re.M):
        return m.group(1)
    return "n"


def _config_matches(config: str, wanted: dict[str, str]) -> bool:
    return all(_config_value(config, n) == v for n, v in wanted.items())


def _make_with_progress(src: Path, obj: Path, jobs: int, log: Path) -> None:
    """Run make, printing how far it got every 15 seconds."""
    stop = threading.Event()

    def report() -> None:
        while not stop.wait(15):
            try:
                lines = log.read_text(errors="replace").splitlines()
            except FileNotFoundError:
                continue
            compiled = [ln for ln in lines if ln.strip().startswith(("CC ", "AS ", "LD "))]
            last = compiled[-1].strip() if compiled else "starting"
            progress.say(f"  make: {len(compiled)} steps, last: {last}")

    thread = threading.Thread(target=report, daemon=True)
    thread.start()
    try:
        run(
            ["make", "-C", src / "xen", f"O={obj}", *MAKE_VARS, f"-j{jobs}"],
            what="building Xen",
            log=log,
            fix="read the log; a compile error in sg_op code points at patches/files/",
        )
    finally:
        stop.set()
        thread.join()


def _install_outputs(
    obj: Path, out: Path, inputs: dict[str, Any], src_mtime: float
) -> dict[str, Any]:
    staging = out.with_name("out.new")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    for name in OUTPUTS:
        if not (obj / name).is_file():
            raise KitError(f"make finished but {obj / name} is missing", "read the make log")
        shutil.copy2(obj / name, staging / name)
    build_id = read_build_id(staging / "xen-syms")
    with gzip.open(staging / "xen.gz") as fh:
        if not fh.read(4) == b"\x7fELF":
            raise KitError(f"{staging / 'xen.gz'} does not hold an ELF image")
    manifest = {
        "xen_version": inputs["xen_version"],
        "source_tree_sha256": inputs["source"]["tree_sha256"],
        "series_digest": inputs["series_digest"],
        "build_id": build_id,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "outputs": {name: file_sha256(staging / name) for name in OUTPUTS},
        "inputs": inputs,
        "src_newest_mtime": src_mtime,
    }
    publish_dir(staging, out, manifest)
    progress.say(f"Xen {inputs['xen_version']} built: build id {build_id} in {out}")
    return manifest


def load_manifest(out: Path) -> dict[str, Any]:
    path = out / "manifest.json"
    if not path.is_file():
        raise KitError(f"no hypervisor build at {out}", "run `invoke build` first")
    return json.loads(path.read_text())
