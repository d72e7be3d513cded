"""``deploy --run`` suites that need domUs (sg_cross) on a Xen lab host.

The deploying machine builds the domU initramfs the emulated lab uses
(busybox, ``tools/sgkit/images/guest/domU-init.sh``, the deployed sgtest.ko), uploads it
with ``tools/sgkit/images/guest/deploy-domus.sh`` to a private directory under /run on the
host, and runs that script there: it creates ``sg-a`` and ``sg-b`` with the
host's own ``xl`` and its running dom0 kernel (``/boot/vmlinuz-$(uname -r)``,
which is the modules' kernel: the host check made sure), runs sgtest in all
three domains, destroys the domUs and leaves the logs.  They come back as
results: dom0's KTAP, each guest's console and KTAP, ``xl dmesg``, and host
checks (each domU finished, nothing left in ``xl list``).

``sgnet`` in ``--run`` is not an sgtest suite: it adds sgnet's link test,
a link dom0<->sg-a (``NET_CONF``, point-to-point on a link-local /30 so it
cannot clash with a lab network), configured and pinged from both ends with
``tools/sgkit/images/guest/sgnet-lab.sh``, and dom0's end losing carrier when sg-a dies.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from sgkit.build.driver_build import SGNET_MODULES
from sgkit.deploy.ssh_hosts import check, quote
from sgkit.deploy.ssh_hosts import run as ssh_run
from sgkit.images.initramfs import build_initramfs, guest_script
from sgkit.report import checks, ktap, protocol
from sgkit.report.publish import Result, results_from_ktap

DOMUS = ("sg-a", "sg-b")
DOMU_MEMORY_MB = 128
DOMU_TIMEOUT_S = 300
WORK = "/run/sgkit-deploy"
CROSS_SUITES = frozenset({"sg_cross"})
NET = "sgnet"  # the link test's name in --run
NET_CONF = """\
link 0 sg-a 0
addr dom0 0 169.254.77.1/30 169.254.77.2
addr sg-a 0 169.254.77.2/30 169.254.77.1
"""


def split_run(run: str) -> tuple[str, bool]:
    """``--run`` as (sgtest suites, whether the sgnet link test runs)."""
    names = [n for n in run.split(",") if n]
    return ",".join(n for n in names if n != NET), NET in names


def needs_domus(run: str) -> bool:
    suites, net = split_run(run)
    return net or bool(CROSS_SUITES & set(suites.split(",")))


def flood_args(suites: str, net: bool) -> str:
    """sgtest's extra arguments for every domain of one run, dom0 and domUs alike.

    sg_cross's bucket flood holds every binding sg-a may make until it is
    destroyed; the sgnet link in sg-a needs some, so with sgnet it is skipped.
    """
    return " cross_flood=0" if net and CROSS_SUITES & set(suites.split(",")) else ""


def domus_conf(suites: str, kernel_release: str, sgtest: str, marker: str, sgnet: str = "") -> str:
    """The settings deploy-domus.sh reads (shell assignments); ``sgnet``: sgnet.ko on the
    host, its frontend and backend drivers beside it (deploy-domus.sh loads all three), or
    none."""
    cross = bool(CROSS_SUITES & set(suites.split(",")))
    flood = flood_args(suites, bool(sgnet))
    conf = {
        "DOMUS": " ".join(DOMUS),
        "DOMU_MEMORY": str(DOMU_MEMORY_MB),
        "DOMU_TIMEOUT": str(DOMU_TIMEOUT_S),
        "KERNEL": f"/boot/vmlinuz-{kernel_release}",
        "SGTEST": sgtest,
        "SGTEST_ARGS": f"suites={suites} cross_self=dom0{flood}" if suites else "",
        "CROSS_AFTER_ARGS": "suites=sg_cross_after cross_self=dom0" if cross else "",
        "SGNET": sgnet,
        "MARKER": marker,
    }
    return "".join(f'{key}="{value}"\n' for key, value in conf.items())


def net_checks(output: str, guest_logs: dict[str, str]) -> list[Result]:
    """The sgnet link test's results: both ends up with carrier, pings both ways, carrier lost."""

    def result(test: str, ok: bool, why: str) -> Result:
        return checks.host_result(NET, test, ok, why)

    texts = {"dom0": output, "sg-a": guest_logs.get("sg-a", "")}
    out = []
    for domain, text in texts.items():
        up = [m for m in protocol.NET.iter(text) if m["dom"] == domain]
        ok = bool(up) and up[-1]["state"] == "up" and up[-1]["carrier"] == "1"
        why = (
            f"{domain}: if={up[-1]['ifc']} state={up[-1]['state']} carrier={up[-1]['carrier']}"
            if up
            else f"{domain} reported no {protocol.NET.name} line"
        )
        out.append(result(f"link_up_{domain}", ok, why))
        peer = "sg-a" if domain == "dom0" else "dom0"
        pings = [m["rc"] for m in protocol.PING.iter(text) if m["src"] == domain]
        why = f"ping from {domain} exited {pings[-1]}" if pings else f"{domain} reported no ping"
        out.append(result(f"ping_{domain}_to_{peer}", pings[-1:] == ["0"], why))
    after = protocol.NET_AFTER.first(output)
    why = (
        f"dom0's {after['ifc']} carrier={after['carrier']} after sg-a was destroyed"
        if after
        else f"dom0 reported no {protocol.NET_AFTER.name} line"
    )
    out.append(result("dom0_carrier_lost_on_destroy", bool(after) and after["carrier"] == "0", why))
    return out


@dataclass
class GuestRun:
    results: list[Result] = field(default_factory=list)
    logs: dict[str, str] = field(default_factory=dict)  # results file name -> text


def domu_checks(output: str, guest_logs: dict[str, str]) -> list[Result]:
    """The host-side checks of one run, from the script's output and the guests' consoles."""
    suite = "deploy-domus"
    return [
        checks.dom0_setup(suite, checks.failed_steps(output)),
        *checks.domus_finished(suite, DOMUS, checks.domu_states(output), guest_logs),
        checks.no_domain_left(suite, output),
    ]


@dataclass(frozen=True)
class Modules:
    """The deployed modules: the built files here, their paths on the host."""

    local: dict[str, Path]
    remote: dict[str, str]


def run_with_domus(
    client: paramiko.SSHClient,
    modules: Modules,
    kernel_release: str,
    run: str,
    host: str,
    say: Callable[[str], None],
) -> GuestRun:
    """Run ``run`` (sgtest suites, maybe ``sgnet``) in dom0 and two domUs on the host."""
    suites, net = split_run(run)
    marker = f"sgkit-run-{time.time_ns()}"
    domu_modules = {"sgtest": modules.local["sgtest"]} if suites else {}
    extra: dict[str, Path] = {}
    if net:
        # sgnet.ko, then its frontend and backend drivers (load order).
        domu_modules.update({name: modules.local[name] for name in SGNET_MODULES})
        extra["lib/sgkit/sgnet-lab.sh"] = guest_script("sgnet-lab.sh")
    with tempfile.TemporaryDirectory(prefix="sgkit-deploy-domu-") as tmp:
        if net:
            extra["etc/sgkit/net.conf"] = Path(tmp) / "net.conf"
            extra["etc/sgkit/net.conf"].write_text(NET_CONF)
        initrd = build_initramfs(
            Path(tmp) / "domU.cpio.gz",
            guest_script("domU-init.sh"),
            domu_modules,
            {"sgtest": f"suites={suites}{flood_args(suites, net)}"},
            extra,
        )
        check(client, f"rm -rf {WORK} && mkdir -p {WORK}")
        conf = domus_conf(
            suites,
            kernel_release,
            modules.remote["sgtest"],
            marker,
            modules.remote["sgnet"] if net else "",
        )
        with client.open_sftp() as sftp:
            sftp.put(str(initrd), f"{WORK}/domU.cpio.gz")
            for script in ("deploy-domus.sh", "lib.sh", "sgnet-lab.sh", "sgnet-connect.sh"):
                sftp.put(str(guest_script(script)), f"{WORK}/{script}")
            with sftp.open(f"{WORK}/domus.conf", "w") as fh:
                fh.write(conf)
            with sftp.open(f"{WORK}/net.conf", "w") as fh:
                fh.write(NET_CONF)
    what = [f"sgtest suites={suites}"] if suites else []
    what += ["an sgnet link dom0<->sg-a"] if net else []
    say(f"{' and '.join(what)} in dom0 and domUs {', '.join(DOMUS)}")
    done = ssh_run(client, f"sh {WORK}/deploy-domus.sh {WORK} 2>&1", timeout=DOMU_TIMEOUT_S + 900)
    result = GuestRun()
    result.logs["domus.log"] = done.stdout
    guest_logs = {}
    for name in DOMUS:
        text = ssh_run(client, f"cat {quote(f'{WORK}/console/guest-{name}.log')}").stdout
        guest_logs[name] = text.replace("\r", "").replace("\0", "")
        result.logs[f"guest-{name}.log"] = guest_logs[name]
    dom0 = ssh_run(client, f"cat {WORK}/dom0-dmesg.log").stdout
    result.logs["dom0-dmesg.log"] = dom0
    result.logs["xl-dmesg.log"] = ssh_run(client, f"cat {WORK}/xl-dmesg.log").stdout
    result.results += results_from_ktap(ktap.parse(dom0, domain=host), host)
    for name, text in guest_logs.items():
        result.results += results_from_ktap(ktap.parse(text, domain=name), name)
    result.results += domu_checks(done.stdout, guest_logs)
    if net:
        result.results += net_checks(done.stdout, guest_logs)
    if not protocol.DOMUS_DONE.seen(done.stdout):
        tail = done.stdout.strip()[-300:] or "no output"
        result.results.append(
            Result(
                "host", "deploy-domus", "script_finished", "error", f"status {done.status}: {tail}"
            )
        )
    return result
