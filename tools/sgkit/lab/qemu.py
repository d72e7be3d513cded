"""Boot Xen and a PV dom0 in QEMU, watching the serial console live.

QEMU loads Xen as a multiboot kernel and the dom0 kernel and initramfs as
multiboot modules.  The serial console is written to a log file as it comes
and fed to a ConsoleWatcher: the run ends when the guest prints its done
marker, when the console shows a crash (Xen panic, dom0 oops), when QEMU
exits, or at the timeout; the verdict names which, with the log.

Acceleration: TCG by default ($SGKIT_ACCEL or --accel: tcg, kvm, auto).  KVM
is used only when asked for and usable for a nested hypervisor (a /dev/kvm we
can open and nested virtualisation enabled in kvm_intel or kvm_amd).
"""

from __future__ import annotations

import ctypes
import os
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from sgkit import progress
from sgkit.build.versions import SG_OP_ENABLE
from sgkit.errors import KitError
from sgkit.procs import require
from sgkit.report import protocol
from sgkit.report.console_log import ConsoleWatcher, Verdict


def qemu_binary() -> str:
    """qemu-system-x86_64, or the QEMU build named by $SGKIT_QEMU."""
    return os.environ.get("SGKIT_QEMU") or "qemu-system-x86_64"


@dataclass(frozen=True)
class BootSpec:
    xen: Path  # the uncompressed multiboot ELF
    kernel: Path
    initrd: Path
    xen_args: str = f"console=com1 com1=115200 dom0_mem=768M,max:768M noreboot {SG_OP_ENABLE}"
    kernel_args: str = "console=hvc0 quiet rdinit=/init"
    memory_mb: int = 1536
    cpus: int = 2
    accel: str | None = None  # tcg | kvm | auto; None: $SGKIT_ACCEL, else tcg
    modules: tuple[Path, ...] = ()  # more multiboot modules after dom0's (a FLASK policy)
    icount: str | None = None  # TCG only: "auto" or a shift 0-10 (icount_args)


@dataclass(frozen=True)
class BootResult:
    verdict: Verdict
    log: Path
    duration_s: float
    accel: str
    qemu_exit: int | None


def kvm_usable() -> bool:
    """True only for a /dev/kvm that can run a nested hypervisor such as Xen."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    for module in ("kvm_intel", "kvm_amd"):
        nested = Path(f"/sys/module/{module}/parameters/nested")
        if nested.is_file() and nested.read_text().strip() in {"Y", "1"}:
            return True
    return False


def choose_accel(requested: str | None) -> str:
    requested = requested or os.environ.get("SGKIT_ACCEL") or "tcg"
    if requested == "auto":
        return "kvm" if kvm_usable() else "tcg"
    if requested == "kvm" and not kvm_usable():
        raise KitError(
            "KVM was requested but /dev/kvm cannot run a nested hypervisor here",
            "use --accel tcg (the default), or enable nested virtualisation "
            "(kvm_intel nested=1 / kvm_amd nested=1)",
        )
    if requested not in {"tcg", "kvm"}:
        raise KitError(f"unknown accelerator {requested!r}", "use tcg, kvm or auto")
    return requested


def cpu_model(accel: str) -> str:
    """The CPU QEMU offers Xen: the host's under KVM; under TCG one with SVM but not ``max``."""
    return "host" if accel == "kvm" else "qemu64,+svm"


# QEMU's largest -icount shift (MAX_ICOUNT_SHIFT): one instruction per 2^10 ns.
ICOUNT_MAX_SHIFT = 10


def check_icount(value: str) -> str:
    """``value`` as an icount setting ("auto" or a shift 0-10), or a clear error."""
    value = value.strip()
    if value == "auto" or (value.isdigit() and int(value) <= ICOUNT_MAX_SHIFT):
        return value
    raise KitError(
        f"bad --icount {value!r}",
        f"use a shift 0-{ICOUNT_MAX_SHIFT} (one guest instruction per 2^N ns of virtual time,"
        " deterministic) or auto (virtual time kept near real time)",
    )


def icount_args(icount: str | None, accel: str) -> list[str]:
    """QEMU's -icount for a lab setting: a fixed shift with ``sleep=off`` (virtual time counts
    instructions only, and jumps over idle time: the host's speed and load do not show in the
    guest's clock), or ``shift=auto`` (virtual time follows real time)."""
    if not icount:
        return []
    value = check_icount(icount)
    if accel != "tcg":
        raise KitError(
            f"--icount needs TCG, not {accel}", "drop --icount or use --accel tcg (the default)"
        )
    return ["-icount", "shift=auto" if value == "auto" else f"shift={value},sleep=off"]


def qemu_argv(spec: BootSpec, accel: str) -> list[str]:
    for path in (spec.xen, spec.kernel, spec.initrd, *spec.modules):
        if not path.is_file():
            raise KitError(f"boot file {path} is missing", "run `invoke build` first")
        if "," in str(path) or " " in str(path):
            raise KitError(
                f"QEMU cannot take {path} as a multiboot module: the path has a comma or space",
                "set SGKIT_CACHE_DIR to a directory without commas or spaces",
            )
    cpu = cpu_model(accel)
    return [
        qemu_binary(),
        "-accel", accel,
        "-cpu", cpu,
        "-smp", str(spec.cpus),
        "-m", str(spec.memory_mb),
        "-nographic", "-no-reboot", "-monitor", "none", "-serial", "stdio",
        "-kernel", str(spec.xen),
        "-append", spec.xen_args,
        "-initrd", ",".join([f"{spec.kernel} {spec.kernel_args}", str(spec.initrd),
                             *map(str, spec.modules)]),
        *icount_args(spec.icount, accel),
    ]  # fmt: skip


def boot(
    spec: BootSpec,
    log: Path,
    timeout_s: float = 600.0,
    done_marker: str = protocol.DONE.name,
    label: str = "lab",
) -> BootResult:
    """Boot and watch; always returns with QEMU stopped."""
    require(qemu_binary())
    accel = choose_accel(spec.accel)
    argv = qemu_argv(spec, accel)
    log.parent.mkdir(parents=True, exist_ok=True)
    watcher = ConsoleWatcher(done_marker=done_marker)
    start = time.monotonic()
    progress.say(f"{label}: booting Xen under QEMU ({accel}), console -> {log}")
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    verdict: Verdict | None = None
    ended_at: float | None = None
    last_report = start
    with log.open("w", errors="replace") as fh:
        fh.write(f"# {' '.join(argv)}\n")
        while True:
            now = time.monotonic()
            if ended_at is not None and now >= ended_at:
                break
            if now - start > timeout_s:
                verdict = Verdict(
                    "hang", None, None, f"no end after {timeout_s:.0f}s (timeout); see {log}"
                )
                break
            if now - last_report >= 15:
                progress.say(f"{label}: {watcher.lines} console lines after {now - start:.0f}s")
                last_report = now
            events = sel.select(timeout=0.5)
            if events:
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    break  # QEMU closed the console: it exited
                text = chunk.decode(errors="replace").replace("\r\n", "\n").replace("\r", "")
                fh.write(text)
                fh.flush()
                watcher.feed(text)
                if ended_at is None and (watcher.verdict is not None or watcher.done):
                    # A crash keeps printing its backtrace; a clean end powers off.
                    ended_at = time.monotonic() + (3.0 if watcher.verdict else 10.0)
            elif proc.poll() is not None:
                break
        exit_code = _stop(proc)
    duration = time.monotonic() - start
    if verdict is None:
        verdict = _final_verdict(watcher, exit_code, log)
    progress.say(f"{label}: {verdict.kind} after {duration:.1f}s: {verdict.reason}")
    return BootResult(verdict, log, duration, accel, exit_code)


def _final_verdict(watcher: ConsoleWatcher, exit_code: int | None, log: Path) -> Verdict:
    if watcher.verdict is not None:
        return watcher.verdict
    if watcher.done:
        return Verdict("ok", None, None, "the guest finished and the machine stopped")
    if exit_code not in (0, None):
        return Verdict("qemu_error", None, None, f"QEMU exited with status {exit_code}; see {log}")
    return Verdict(
        "incomplete", None, None, f"the machine stopped before the guest finished; see {log}"
    )


def _die_with_parent() -> None:
    """In the child: SIGKILL when the kit dies, so a killed run leaves no QEMU behind."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def _stop(proc: subprocess.Popen[bytes]) -> int | None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=5)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        return None
    return proc.returncode
