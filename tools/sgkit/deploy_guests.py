"""``deploy --run`` suites that need domUs (sg_cross) on a Xen lab host.

The deploying machine builds the domU initramfs the emulated lab uses
(busybox, ``tools/guest/domU-init.sh``, the deployed sgtest.ko), uploads it
with ``tools/guest/deploy-domus.sh`` to a private directory under /run on the
host, and runs that script there: it creates ``sg-a`` and ``sg-b`` with the
host's own ``xl`` and its running dom0 kernel (``/boot/vmlinuz-$(uname -r)``,
which is the modules' kernel: the host check made sure), runs sgtest in all
three domains, destroys the domUs and leaves the logs.  They come back as
results: dom0's KTAP, each guest's console and KTAP, ``xl dmesg``, and host
checks (each domU finished, nothing left in ``xl list``).
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from sgkit import ktap
from sgkit.initramfs import build_initramfs, guest_script
from sgkit.reports import Result, results_from_ktap
from sgkit.ssh_hosts import check, quote
from sgkit.ssh_hosts import run as ssh_run

DOMUS = ("sg-a", "sg-b")
DOMU_MEMORY_MB = 128
DOMU_TIMEOUT_S = 300
WORK = "/run/sgkit-deploy"
CROSS_SUITES = frozenset({"sg_cross"})

_DOMU = re.compile(r"SGKIT-DOMU (?P<name>\S+) state=(?P<state>\S+) seconds=(?P<seconds>\d+)")
_STEP = re.compile(r"SGKIT-STEP (?P<what>\S+) rc=(?P<rc>-?\d+)")
_LEFT = re.compile(r"SGKIT-DOMAINS-LEFT count=(?P<count>\d+) ?(?P<names>.*)")


def needs_domus(suites: str) -> bool:
    return bool(CROSS_SUITES & set(suites.split(",")))


def domus_conf(suites: str, kernel_release: str, sgtest: str, marker: str) -> str:
    """The settings deploy-domus.sh reads (shell assignments)."""
    conf = {
        "DOMUS": " ".join(DOMUS),
        "DOMU_MEMORY": str(DOMU_MEMORY_MB),
        "DOMU_TIMEOUT": str(DOMU_TIMEOUT_S),
        "KERNEL": f"/boot/vmlinuz-{kernel_release}",
        "SGTEST": sgtest,
        "SGTEST_ARGS": f"suites={suites} cross_self=dom0",
        "CROSS_AFTER_ARGS": "suites=sg_cross_after cross_self=dom0",
        "MARKER": marker,
    }
    return "".join(f'{key}="{value}"\n' for key, value in conf.items())


@dataclass
class GuestRun:
    results: list[Result] = field(default_factory=list)
    logs: dict[str, str] = field(default_factory=dict)  # results file name -> text


def checks(output: str, guest_logs: dict[str, str]) -> list[Result]:
    """The host-side checks of one run, from the script's output and the guests' consoles."""

    def result(test: str, ok: bool, why: str) -> Result:
        return Result("host", "deploy-domus", test, "pass" if ok else "fail", None if ok else why)

    failed = [f"{m['what']} rc={m['rc']}" for m in _STEP.finditer(output) if m["rc"] != "0"]
    out = [result("dom0_setup", not failed, "steps failed: " + ", ".join(failed))]
    states = {m["name"]: (m["state"], m["seconds"]) for m in _DOMU.finditer(output)}
    for name in DOMUS:
        state, seconds = states.get(name, ("unreported", "0"))
        log = guest_logs.get(name, "")
        why = f"dom0 saw it end as {state!r} after {seconds}s"
        if "SGKIT-DONE" not in log:
            why += "; its console has no SGKIT-DONE"
        out.append(result(f"{name}_finished", state == "done" and "SGKIT-DONE" in log, why))
    left = _LEFT.search(output)
    if left is None:
        out.append(result("no_domain_left", False, "the script printed no SGKIT-DOMAINS-LEFT"))
    else:
        names = left["names"].strip() or "nothing"
        out.append(result("no_domain_left", left["count"] == "0", f"xl list still shows {names}"))
    return out


def run_with_domus(
    client: paramiko.SSHClient,
    sgtest_local: Path,
    sgtest_remote: str,
    kernel_release: str,
    suites: str,
    host: str,
    say: Callable[[str], None],
) -> GuestRun:
    """Run ``suites`` in dom0 and two domUs on the host; results and logs."""
    marker = f"sgkit-run-{time.time_ns()}"
    with tempfile.TemporaryDirectory(prefix="sgkit-deploy-domu-") as tmp:
        initrd = build_initramfs(
            Path(tmp) / "domU.cpio.gz",
            guest_script("domU-init.sh"),
            {"sgtest": sgtest_local},
            {"sgtest": f"suites={suites}"},
        )
        check(client, f"rm -rf {WORK} && mkdir -p {WORK}")
        with client.open_sftp() as sftp:
            sftp.put(str(initrd), f"{WORK}/domU.cpio.gz")
            sftp.put(str(guest_script("deploy-domus.sh")), f"{WORK}/deploy-domus.sh")
            with sftp.open(f"{WORK}/domus.conf", "w") as fh:
                fh.write(domus_conf(suites, kernel_release, sgtest_remote, marker))
    say(f"sgtest suites={suites} in dom0 and domUs {', '.join(DOMUS)}")
    done = ssh_run(client, f"sh {WORK}/deploy-domus.sh {WORK} 2>&1", timeout=DOMU_TIMEOUT_S + 900)
    run = GuestRun()
    run.logs["domus.log"] = done.stdout
    guest_logs = {}
    for name in DOMUS:
        text = ssh_run(client, f"cat {quote(f'{WORK}/console/guest-{name}.log')}").stdout
        guest_logs[name] = text.replace("\r", "").replace("\0", "")
        run.logs[f"guest-{name}.log"] = guest_logs[name]
    dom0 = ssh_run(client, f"cat {WORK}/dom0-dmesg.log").stdout
    run.logs["dom0-dmesg.log"] = dom0
    run.logs["xl-dmesg.log"] = ssh_run(client, f"cat {WORK}/xl-dmesg.log").stdout
    run.results += results_from_ktap(ktap.parse(dom0, domain=host), host)
    for name, text in guest_logs.items():
        run.results += results_from_ktap(ktap.parse(text, domain=name), name)
    run.results += checks(done.stdout, guest_logs)
    if "SGKIT-DOMUS-DONE" not in done.stdout:
        tail = done.stdout.strip()[-300:] or "no output"
        run.results.append(
            Result(
                "host", "deploy-domus", "script_finished", "error", f"status {done.status}: {tail}"
            )
        )
    return run
