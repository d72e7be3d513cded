"""Booting the multi-domain lab: Xen, a Debian dom0 with xl, and PV domUs.

lab.test, lab.net and bench.net all boot the same machine: the built
hypervisor under QEMU, dom0 from the cached Debian base of
``sgkit.images.dom0_rootfs`` plus a small overlay holding
``tools/sgkit/images/guest/dom0-lab-init.sh``, the domU kernel and initramfs, the modules
and ``/etc/sgkit/lab.conf``.  dom0 creates the domUs with ``xl`` and copies
each domU's console log to the serial console between markers, so the host
reads every domain's output from the one serial log:

- dom0's own output is everything outside a marked section;
- ``SGKIT-GUEST-LOG-BEGIN name`` .. ``SGKIT-GUEST-LOG-END name`` is domU
  ``name``'s console;
- ``SGKIT-DOM0-BEFORE-*`` and ``SGKIT-DOM0-AFTER-*`` hold dom0 runs made
  before the domUs are created and after they are destroyed, and
  ``SGKIT-XL-DMESG-*`` the hypervisor's log.

``boot_lab`` packs the overlay, boots, splits the console and writes one log
per domain into the run's results directory; the callers own what goes into
the overlay and what the console means.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sgkit import progress
from sgkit.build.kernels import kernel_image
from sgkit.build.versions import SG_OP_ENABLE
from sgkit.images.dom0_rootfs import concatenate, pack_files
from sgkit.images.initramfs import guest_script
from sgkit.lab.qemu import BootResult, BootSpec, boot
from sgkit.lab.spec import LabParts, LabSpec
from sgkit.paths import builds_dir
from sgkit.report import protocol

XEN_ARGS = f"console=com1 com1=115200 dom0_mem=1536M,max:1536M noreboot {SG_OP_ENABLE}"
DOM0_KERNEL_ARGS = "console=hvc0 quiet rdinit=/init"
MEMORY_MB = 3072


@dataclass
class LabConsole:
    """The serial log of a lab run, cut into what each domain printed."""

    dom0: str  # every line outside a marked section
    guests: dict[str, str] = field(default_factory=dict)  # domU name -> its console
    dom0_before: str | None = None
    dom0_after: str | None = None
    xl_dmesg: str | None = None
    unterminated: list[str] = field(default_factory=list)  # sections cut short


def split_console(text: str) -> LabConsole:
    """Split a lab serial log into dom0's lines and the marked sections."""
    outside: list[str] = []
    sections: dict[tuple[str, str | None], list[str]] = {}
    current: tuple[str, str | None] | None = None
    for raw in text.splitlines():
        line = raw.rstrip("\r")
        found = protocol.block_edge(line)
        if found:
            key = (found["name"], found["label"])
            if found["edge"] == "BEGIN":
                current = key
                sections[key] = []
                continue
            if current == key:
                current = None
                continue
        if current is None:
            outside.append(line)
        else:
            sections[current].append(line)
    console = LabConsole(dom0="\n".join(outside) + "\n")
    for (kind, name), lines in sections.items():
        body = "\n".join(lines) + "\n"
        if kind == protocol.GUEST_LOG.name and name:
            console.guests[name] = body
        elif kind == protocol.DOM0_BEFORE.name:
            console.dom0_before = body
        elif kind == protocol.DOM0_AFTER.name:
            console.dom0_after = body
        elif kind == protocol.XL_DMESG.name:
            console.xl_dmesg = body
    if current is not None:
        kind, name = current
        kind = kind.removeprefix("SGKIT-")
        console.unterminated.append(f"{kind} {name}" if name else kind)
    return console


def lab_conf(settings: Mapping[str, str]) -> str:
    """``/etc/sgkit/lab.conf``: shell assignments that dom0-lab-init.sh sources."""
    for key in settings:
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", key):
            raise ValueError(f"bad lab.conf setting name {key!r}")
    return "".join(f"{key}={shlex.quote(value)}\n" for key, value in settings.items())


@contextmanager
def run_dir() -> Iterator[Path]:
    """A private directory for one run's boot files, removed after the boot.

    Directories left by an interrupted run (their process is gone) are
    removed on the way in.
    """
    lab = builds_dir() / "lab"
    lab.mkdir(parents=True, exist_ok=True)
    for stale in lab.glob("run-*"):
        pid = stale.name.split("-")[1]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(stale, ignore_errors=True)
    work = Path(tempfile.mkdtemp(dir=lab, prefix=f"run-{os.getpid()}-"))
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


@dataclass(frozen=True)
class LabBoot:
    """One boot of the lab: QEMU's result, the serial log and its split."""

    result: BootResult
    text: str
    console: LabConsole


def boot_lab(
    spec: LabSpec,
    parts: LabParts,
    *,
    work: Path,
    out: Path,
    domu_initrd: Path,
    settings: Mapping[str, str],
    files: Mapping[str, Path | bytes],
    modes: Mapping[str, int] | None = None,
    timeout_s: float = 900.0,
    label: str = "lab",
) -> LabBoot:
    """Boot Xen with dom0 = ``parts.base`` + an overlay, wait for the lab's end marker.

    The overlay holds dom0-lab-init.sh as ``/init``, the dom0 kernel again
    as the domUs' (``/lab/vmlinuz``), ``domu_initrd``, ``lab.conf`` from
    ``settings`` (and the spec's domU memory and timeout) and the caller's
    ``files``.  Xen's command line is ``XEN_ARGS`` and ``parts.xen_args``
    (``xsm=silo``, for example); ``parts.boot_modules`` follow dom0's (a
    FLASK policy).  The console goes to ``out/console.log``, one log per
    domain next to it.
    """
    if parts.base is None:
        raise ValueError("boot_lab needs the dom0 root: prepare(spec, dom0_root=True)")
    release = parts.release
    settings = {
        "DOMU_MEMORY": str(spec.domu_memory_mb),
        "DOMU_TIMEOUT": str(spec.domu_timeout_s),
        **settings,
    }
    with progress.step("packing the lab's dom0 overlay"):
        overlay = pack_files(
            {
                "init": guest_script("dom0-lab-init.sh"),
                "lab/lib.sh": guest_script("lib.sh"),
                "lab/vmlinuz": kernel_image(release),
                "lab/domU.cpio.gz": domu_initrd,
                "etc/sgkit/lab.conf": lab_conf(settings).encode(),
                **files,
            },
            work / "dom0-overlay.cpio.gz",
            modes={"init": 0o755, **(modes or {})},
        )
        initrd = concatenate([parts.base.archive, overlay], work / "dom0-lab.cpio.gz")
    boot_spec = BootSpec(
        xen=parts.xen_image,
        kernel=kernel_image(release),
        initrd=initrd,
        xen_args=f"{XEN_ARGS} {parts.xen_args}".strip(),
        kernel_args=DOM0_KERNEL_ARGS,
        memory_mb=MEMORY_MB,
        accel=spec.accel,
        icount=spec.icount,
        modules=parts.boot_modules,
    )
    result = boot(
        boot_spec,
        out / "console.log",
        timeout_s=timeout_s,
        done_marker=protocol.LAB_DONE.name,
        label=label,
    )
    text = result.log.read_text(errors="replace")
    console = split_console(text)
    write_logs(out, console)
    return LabBoot(result, text, console)


def write_logs(out: Path, console: LabConsole) -> None:
    (out / "dom0.log").write_text(console.dom0)
    for name, body in console.guests.items():
        (out / f"guest-{name}.log").write_text(body)
    if console.dom0_before is not None:
        (out / "dom0-before.log").write_text(console.dom0_before)
    if console.dom0_after is not None:
        (out / "dom0-after.log").write_text(console.dom0_after)
    if console.xl_dmesg is not None:
        (out / "xl-dmesg.log").write_text(console.xl_dmesg)
