"""The lab with several domains: Xen, a Debian dom0 with xl, and PV domUs.

``run_lab_test`` boots the lab of ``sgkit.lab.boot`` (the built hypervisor,
the Debian dom0 with xl, PV domUs with a busybox initramfs) with sgtest in
every domain.  dom0 creates the domUs, runs sgtest itself, and copies each
domU's console to the serial log between markers; the host reads every
domain's KTAP from there.  dom0 also runs sgtest's sg_op suite before the
domUs are created and after they are destroyed (``SGKIT-DOM0-BEFORE-*``,
``SGKIT-DOM0-AFTER-*``), read only for the counters: dom0's usage and,
when the hypervisor reports it, the global ``sgtest.global`` line.

With ``sg_cross`` in the suites, every domain learns its role from sgtest's
``cross_self`` parameter (``dom0`` here, the domU's name from domU-init.sh),
the domains meet in xenstore under ``/sgtest`` (see docs/lab.md), and dom0
runs ``sg_cross_after`` once the domUs are destroyed; its KTAP is dom0's.
With ``sg_reset``, each HVM (PVH) domU leaves registrations and a binding
and dom0 runs ``sg_reset_after`` before destroying them: it soft-resets
them and checks their sg_op state is gone, dropped in several continued
steps (its KTAP is dom0's too).

Results go to ``results/lab-test-<stamp>/``: the console log, each domain's
log, ``results.json``, ``junit.xml`` and ``summary.txt``, with host-side
checks (each domU finished, free memory returned exactly, every domain
answered the sg_op query) next to the tests the domains reported.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sgkit import progress
from sgkit.errors import KitError
from sgkit.images.initramfs import build_initramfs, guest_script
from sgkit.lab.boot import LabConsole, boot_lab, run_dir
from sgkit.lab.smoke import ENOSYS, xsm_check
from sgkit.lab.spec import LabSpec, prepare
from sgkit.paths import results_dir
from sgkit.report import checks, ktap, protocol, publish
from sgkit.report.checks import domu_states, failed_steps, free_memory

DEFAULT_DOMUS = ("sg-a", "sg-b")
# The domUs that boot as PVH: the HVM side of sg_op (p2m lookups, the HVM
# hypercall path) runs in sg-b while sg-a stays PV, and sg_cross crosses
# the two.  Under TCG Xen has SVM but no HAP, so PVH runs on shadow paging.
DEFAULT_PVH = ("sg-b",)
DEFAULT_SUITES = "sg_op,sg_local,sg_hostile,sg_fuzz,sg_xsm,sg_cross"
# What sgtest's sg_xsm expects of each XSM module (its cross_xsm parameter):
# SILO keeps the domUs apart, and so does the enforcing FLASK policy
# (xen-hypervisor/flask/sg_op.te), with -EACCES; permissive FLASK checks but
# refuses nothing and dummy allows, so domUs reach each other under both.
# Under FLASK enforcing free memory came back 1 MB short (1502 MB before the
# domUs, 1501 after, in the first enforcing lab run), most likely FLASK's
# access vector cache keeping in Xen's heap what the domUs' first checks
# allocated; sg_op's own counters came back exactly.
MEMORY_SLACK_MB = {"flask-enforcing": 1}
CROSS_XSM = {"silo": "silo", "flask": "dummy", "dummy": "dummy", "flask-enforcing": "flask"}
COUNTER_SUITES = "sg_op"  # the dom0 runs before and after the domUs
USAGE_KEYS = ("regs", "pinned_pages", "bindings")


def _global_text(counters: dict[str, int] | None) -> str:
    if counters is None:
        return "not reported"
    return " ".join(f"{key}={counters[key]}" for key in protocol.GLOBAL_KEYS)


@dataclass(frozen=True)
class LabOutcome:
    report: publish.RunReport
    results: Path
    text_summary: str


def run_lab_test(
    spec: LabSpec | None = None,
    suites: str = DEFAULT_SUITES,
    domus: Sequence[str] = DEFAULT_DOMUS,
    seed: int | None = None,
    pvh: Sequence[str] = DEFAULT_PVH,
) -> LabOutcome:
    """Boot the lab, run sgtest ``suites`` in dom0 and every domU, and report.

    ``seed`` drives sg_fuzz in every domain; without one a random seed is
    chosen, and the summary prints it so that ``--seed`` replays the run.
    ``pvh`` names the domUs booted as PVH (those of them in ``domus``; the
    others are PV); a host check reads each domU's guest type back.
    ``spec.xsm`` boots the patched hypervisor's ``xsm`` build variant with
    that module (``silo``, ``flask``: permissive, ``flask-enforcing`` or
    ``dummy``) and tells sgtest (``cross_xsm``) what sg_xsm should see.
    """
    spec = LabSpec.resolve(spec)
    hypervisor, xsm = spec.hypervisor, spec.xsm
    if seed is None:
        seed = secrets.randbits(63) or 1
    if not 0 < seed < 2**64:
        raise KitError(f"bad fuzz seed {seed}", "give a seed between 1 and 2**64-1")
    if not re.fullmatch(r"[A-Za-z0-9_,]+", suites):
        raise KitError(f"bad suite list {suites!r}", "give suite names separated by commas")
    for name in domus:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name) or name == "dom0":
            raise KitError(f"bad domU name {name!r}", "use lower-case letters, digits and -")
    pvh = [name for name in domus if name in pvh]
    parts = prepare(spec)
    release = parts.release
    meta: dict[str, Any] = {**parts.meta, "suites": suites, "seed": seed}
    out = publish.new_run_dir(spec.out_root or results_dir(), "lab-test")
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    sgtest = parts.modules["sgtest"]
    with run_dir() as work:
        domu_initrd, conf, files = _lab_files(
            work, release, sgtest, suites, domus, seed, CROSS_XSM[xsm] if xsm else ""
        )
        lab = boot_lab(
            spec,
            parts,
            work=work,
            out=out,
            domu_initrd=domu_initrd,
            settings={**conf, "DOMU_PVH": " ".join(pvh)},
            files=files,
            timeout_s=spec.timeout(900.0),
            label=f"lab.test ({hypervisor}{f', xsm={xsm}' if xsm else ''}, "
            f"dom0 + {len(domus)} domUs)",
        )
    result, text, console = lab.result, lab.text, lab.console

    results: list[publish.Result] = []
    queries: dict[str, dict[str, str] | None] = {}
    for domain, body in [("dom0", console.dom0), *console.guests.items()]:
        results += publish.results_from_ktap(ktap.parse(body, domain=domain), domain)
        queries[domain] = protocol.query_of(body)
    dom0_after = protocol.query_of(console.dom0_after) if console.dom0_after else None
    global_counters = (
        protocol.global_of(console.dom0_before),
        protocol.global_of(console.dom0_after),
    )
    memory = free_memory(text)
    states = domu_states(text)
    failed = failed_steps(console.dom0)
    expect_rc = 0 if hypervisor == "patched" else ENOSYS
    results += host_checks(
        console,
        domus,
        queries,
        memory,
        states,
        failed,
        expect_rc,
        "sg_op" in suites.split(","),
        MEMORY_SLACK_MB.get(xsm or "", 0),
    )
    results.append(global_check(*global_counters))
    results += guest_type_checks(domus, pvh, console.guests)
    if xsm:
        results.append(xsm_check(xsm, text))
    meta.update(
        accel=result.accel,
        domus=list(domus),
        pvh=pvh,
        queries=queries,
        dom0_query_after=dom0_after,
        global_counters={"before": global_counters[0], "after": global_counters[1]},
        free_memory_mb=None if memory is None else {"before": memory[0], "after": memory[1]},
        domu_states={k: {"state": s, "seconds": n} for k, (s, n) in states.items()},
    )
    report = publish.RunReport(
        name="lab-test",
        results=results,
        verdict=result.verdict,
        started=started,
        duration_s=result.duration_s,
        meta=meta,
    )
    text_summary = summarize(
        report, queries, dom0_after, memory, global_counters, MEMORY_SLACK_MB.get(xsm or "", 0)
    )
    if pvh:
        text_summary += f"\n  PVH domUs: {' '.join(pvh)} (the others PV)"
    if "sg_fuzz" in suites.split(","):
        again = f"invoke lab.test --seed {seed}"
        if suites != DEFAULT_SUITES:
            again += f" --suites {suites}"
        text_summary += f"\n  sg_fuzz seed {seed}: replay with `{again}`"
    publish.publish(report, out, text_summary, "latest-lab-test")
    return LabOutcome(report, out, text_summary)


def _lab_files(
    work: Path,
    release: str,
    sgtest: Path,
    suites: str,
    domus: Sequence[str],
    seed: int,
    cross_xsm: str = "",
) -> tuple[Path, dict[str, str], dict[str, Path | bytes]]:
    """The domU initramfs, lab.conf's sgtest settings and dom0's extra files."""
    common = f"suites={suites} seed={seed}" + (f" cross_xsm={cross_xsm}" if cross_xsm else "")
    with progress.step("packing the lab's domU initramfs"):
        domu = build_initramfs(
            work / "domU.cpio.gz",
            guest_script("domU-init.sh"),
            {"sgtest": sgtest},
            {"sgtest": common},
        )
    dom0_args = f"{common} cross_self=dom0"
    cross = "sg_cross" in suites.split(",")
    reset = "sg_reset" in suites.split(",")
    if cross and reset:
        raise KitError(
            f"--suites {suites}: sg_reset soft-resets sg-b, which drops the state "
            "sg_cross leaves in it for the destroy check (sg_cross_after)",
            "run them in separate lab runs, e.g. --suites sg_op,sg_reset",
        )
    conf = {
        "DOMUS": " ".join(domus),
        "SGTEST_ARGS": dom0_args,
        "COUNTER_ARGS": f"suites={COUNTER_SUITES}",
        "CROSS_AFTER_ARGS": "suites=sg_cross_after cross_self=dom0" if cross else "",
        "RESET_AFTER_ARGS": "suites=sg_reset_after cross_self=dom0" if reset else "",
    }
    files: dict[str, Path | bytes] = {
        "lab/sgtest.ko": sgtest,
        "etc/sgkit/modules": f"sgtest {dom0_args}\n".encode(),
    }
    return domu, conf, files


def host_checks(
    console: LabConsole,
    domus: Sequence[str],
    queries: dict[str, dict[str, str] | None],
    memory: tuple[int, int] | None,
    states: dict[str, tuple[str, int]],
    failed: list[str],
    expect_rc: int = 0,
    query_suite: bool = True,
    memory_slack_mb: int = 0,
) -> list[publish.Result]:
    """What the host checks itself, as Results of domain "host", suite "lab".

    ``expect_rc`` is the query's answer every domain must print: 0 from the
    patched hypervisor, -38 (-ENOSYS) from a stock one.  The query line comes
    from the sg_op suite: without it (``query_suite`` False) those checks skip.
    ``memory_slack_mb`` lets free memory come back that much short (FLASK
    enforcing: see ``MEMORY_SLACK_MB``); sg_op's own leak check is
    ``global_counters_returned``, which stays exact.
    """
    out = [
        checks.dom0_setup("lab", failed),
        *checks.domus_finished("lab", domus, states, console.guests),
        checks.free_memory_returned("lab", memory, memory_slack_mb),
        checks.no_domain_left("lab", console.dom0),
    ]
    for domain in ["dom0", *domus]:
        if not query_suite:
            why = "sg_op is not among the suites, and only it prints the query"
            out.append(publish.Result("host", "lab", f"{domain}_query_printed", "skip", why))
            continue
        query = queries.get(domain)
        if query is None:
            why = f"{domain} printed no sgtest.query line"
        else:
            rc = query.get("rc", "?")
            why = f"{domain}'s query answered rc={rc}, expected rc={expect_rc}"
        ok = query is not None and query.get("rc") == str(expect_rc)
        out.append(checks.host_result("lab", f"{domain}_query_printed", ok, why))
    return out + checks.sections_complete("lab", console.unterminated)


def guest_type_checks(
    domus: Sequence[str], pvh: Sequence[str], guests: dict[str, str]
) -> list[publish.Result]:
    """Host checks: each domU says (SGKIT-INIT guest=) it runs as the type it was created."""
    out = []
    for name in domus:
        want = "PVH" if name in pvh else "PV"
        init = protocol.INIT.first(guests.get(name, ""))
        got = init["guest"] if init else None
        why = f"{name} was created as {want} but reported guest={got}"
        out.append(checks.host_result("lab", f"{name}_guest_type", got == want, why))
    return out


def global_check(before: dict[str, int] | None, after: dict[str, int] | None) -> publish.Result:
    """Host check: the hypervisor-wide counters after the domUs equal those before.

    Skipped, saying so, when dom0's sgtest did not print them (``sgtest.global``).
    """
    name = "global_counters_returned"
    if before is None or after is None:
        missing = [w for w, c in (("before", before), ("after", after)) if c is None]
        why = "sgtest.global not reported " + " and ".join(missing) + " the domUs"
        return publish.Result("host", "lab", name, "skip", why)
    if before == after:
        return publish.Result("host", "lab", name, "pass")
    why = f"before the domUs: {_global_text(before)}; after: {_global_text(after)}"
    return publish.Result("host", "lab", name, "fail", why)


def _usage(query: dict[str, str] | None) -> str:
    if query is None:
        return "no answer"
    if query.get("rc", "0") != "0":
        return f"rc={query['rc']}"
    return " ".join(f"{key}={query.get(key, '?')}" for key in USAGE_KEYS)


def summarize(
    report: publish.RunReport,
    queries: dict[str, dict[str, str] | None],
    dom0_after: dict[str, str] | None,
    memory: tuple[int, int] | None,
    global_counters: tuple[dict[str, int] | None, dict[str, int] | None] = (None, None),
    memory_slack_mb: int = 0,
) -> str:
    lines = [publish.summary(report)]
    if memory is not None:
        short = memory[0] - memory[1]
        state = (
            "returned exactly"
            if not short
            else f"{short} MB short, within the {memory_slack_mb} MB allowed"
            if 0 < short <= memory_slack_mb
            else "NOT returned"
        )
        lines.append(
            f"  free memory (xl info): before={memory[0]} MB after={memory[1]} MB ({state})"
        )
    for domain, query in queries.items():
        lines.append(f"  sg_op usage {domain}: {_usage(query)}")
    if queries.get("dom0") is not None or dom0_after is not None:
        lines.append(
            f"  sg_op usage dom0 before domUs: {_usage(queries.get('dom0'))}; "
            f"after they were destroyed: {_usage(dom0_after)}"
        )
    before, after = global_counters
    lines.append(
        f"  hypervisor counters (sgtest.global) before domUs: {_global_text(before)}; "
        f"after they were destroyed: {_global_text(after)}"
    )
    return "\n".join(lines)
