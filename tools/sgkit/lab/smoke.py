"""The lab's first step: boot Xen with a PV dom0 that loads sgtest, and read the answer.

Two hypervisors can be booted with the same dom0 and module:

- ``patched``: the hypervisor ``invoke build`` made; sg_op must answer the
  query with the ABI version and the limits the series was rendered with.
- ``stock``: Debian's own Xen of the same version; sg_op does not exist and
  the hypercall must fail with -ENOSYS (every sgtest test then skips).

``xsm`` boots the patched hypervisor's ``xsm`` build variant (XSM with FLASK
and SILO, ``xen-hypervisor/variants/xsm.config``) with ``xsm=<module>``, so
that patch 0004's hooks run under that module; the console must show the
module starting.  FLASK runs permissive without a policy (every check is
made, none enforced).

Results: the console log, ``results.json``, ``junit.xml`` and ``summary.txt``
in a fresh directory under results/.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sgkit.build.kernels import kernel_image
from sgkit.errors import KitError
from sgkit.images.initramfs import build_initramfs, guest_script
from sgkit.lab.qemu import BootSpec, boot
from sgkit.lab.spec import XSM_MODULES, LabSpec, prepare
from sgkit.paths import builds_dir, results_dir
from sgkit.report import ktap, protocol, publish

ENOSYS = -38

# The query's name for each limit -> the Xen command-line option that sets it.
LIMIT_OPTIONS = {
    "max_regs": "sg_max_regs",
    "max_elems": "sg_max_elems",
    "max_pinned_pages": "sg_max_pinned",
    "max_bindings": "sg_max_bindings",
    "max_binds_per_addr": "sg_max_binds_per_addr",
}


def parse_limits(text: str) -> dict[str, int]:
    """``max_regs=8,max_elems=4`` -> {"max_regs": 8, "max_elems": 4}, checked."""
    limits: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, _, value = item.partition("=")
        if key not in LIMIT_OPTIONS or not value.isdigit():
            raise KitError(
                f"bad limit {item!r}",
                "use NAME=N with NAME one of " + ", ".join(LIMIT_OPTIONS),
            )
        limits[key] = int(value)
    return limits


_XEN_LIMITS_RE = re.compile(r"sg_op: ABI (\d+)\.(\d+), limits (.*)$", re.M)


@dataclass(frozen=True)
class SmokeOutcome:
    report: publish.RunReport
    results: Path
    query: dict[str, str] | None


def run_smoke(spec: LabSpec | None = None, limits: dict[str, int] | None = None) -> SmokeOutcome:
    """Boot and query; ``limits`` are set on Xen's command line and must come back."""
    spec = LabSpec.resolve(spec)
    limits = limits or {}
    unknown = set(limits) - set(LIMIT_OPTIONS)
    if unknown:
        raise KitError(f"unknown limits {sorted(unknown)}", "use " + ", ".join(LIMIT_OPTIONS))
    xsm = spec.xsm
    hypervisor = spec.hypervisor
    kind = f"{hypervisor}-xsm-{xsm}" if xsm else hypervisor
    parts = prepare(spec, dom0_root=False)
    meta = parts.meta
    out = publish.new_run_dir(spec.out_root or results_dir(), f"smoke-{kind}")
    initrd = build_initramfs(
        builds_dir() / "lab" / f"dom0-smoke-{parts.release}.cpio.gz",
        guest_script("dom0-smoke-init.sh"),
        {"sgtest": parts.modules["sgtest"]},
        {"sgtest": "suites=sg_op,sg_local,sg_hostile"},
    )
    options = " ".join(f"{LIMIT_OPTIONS[k]}={v}" for k, v in sorted(limits.items()))
    options = f"{options} {parts.xen_args}".strip()
    boot_spec = BootSpec(
        xen=parts.xen_image,
        kernel=kernel_image(parts.release),
        initrd=initrd,
        accel=spec.accel,
        icount=spec.icount,
        modules=parts.boot_modules,
    )
    if options:
        boot_spec = dataclasses.replace(boot_spec, xen_args=f"{boot_spec.xen_args} {options}")
        meta["xen_limits"] = limits
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    result = boot(
        boot_spec, out / "console.log", timeout_s=spec.timeout(600.0), label=f"smoke ({kind})"
    )
    text = result.log.read_text(errors="replace")
    docs = ktap.parse(text, domain="dom0")
    results = publish.results_from_ktap(docs, "dom0")
    query = protocol.query_of(text)
    results.append(_expectation(hypervisor, spec.context, query, text, limits))
    if xsm:
        results.append(xsm_check(xsm, text))
    meta.update(accel=result.accel, query=query, xen_console_limits=_xen_limits(text))
    report = publish.RunReport(
        name=f"smoke-{kind}",
        results=results,
        verdict=result.verdict,
        started=started,
        duration_s=result.duration_s,
        meta=meta,
    )
    text_summary = publish.summary(report) + "\n" + answer_line(hypervisor, query)
    publish.publish(report, out, text_summary, f"latest-smoke-{kind}")
    return SmokeOutcome(report, out, query)


def _expectation(
    hypervisor: str,
    context: Mapping[str, Any],
    query: dict[str, str] | None,
    console: str,
    limits: dict[str, int] | None = None,
) -> publish.Result:
    """The smoke's own check: did the hypervisor answer as this kind of Xen must?"""
    name = "sg_op_answers_query" if hypervisor == "patched" else "sg_op_absent_is_enosys"
    if query is None:
        return publish.Result("host", "smoke", name, "fail", "sgtest printed no sgtest.query line")
    rc = int(query.get("rc", "0"))
    if hypervisor == "stock":
        ok = rc == ENOSYS
        why = None if ok else f"expected rc={ENOSYS} from a Xen without sg_op, got rc={rc}"
        return publish.Result("host", "smoke", name, "pass" if ok else "fail", why)
    want_abi = (context["abi"]["major"] << 16) | context["abi"]["minor"]
    problems = []
    if rc != 0:
        problems.append(f"query returned rc={rc}")
    elif int(query.get("abi_version", "-1")) != want_abi:
        problems.append(f"abi_version {query.get('abi_version')} != {want_abi}")
    else:
        for key, want in {**context["limits"], **(limits or {})}.items():
            if int(query.get(key, "-1")) != want:
                source = "the command line" if key in (limits or {}) else "the series"
                problems.append(f"{key}={query.get(key)} but {source} sets {want}")
    if "sg_op: ABI" not in console:
        problems.append("Xen did not print its sg_op limits at boot")
    status = "fail" if problems else "pass"
    return publish.Result("host", "smoke", name, status, "; ".join(problems) or None)


def xsm_check(xsm: str, console: str) -> publish.Result:
    """The XSM module asked for must have started (its own console line)."""
    line = XSM_MODULES[xsm][1]
    ok = line in console
    why = None if ok else f"Xen did not print {line!r}: is xsm={xsm} built in and accepted?"
    return publish.Result("host", "smoke", f"xsm_{xsm}_active", "pass" if ok else "fail", why)


def answer_line(hypervisor: str, query: dict[str, str] | None) -> str:
    if query is None:
        return "sg_op: no answer (sgtest did not report a query)"
    rc = int(query.get("rc", "0"))
    if rc != 0:
        return f"sg_op: the {hypervisor} hypervisor answered rc={rc}" + (
            " (-ENOSYS: no such hypercall)" if rc == ENOSYS else ""
        )
    abi = int(query["abi_version"])
    limits = ", ".join(
        f"{k}={query[k]}"
        for k in ("max_regs", "max_elems", "max_pinned_pages", "max_bindings", "max_binds_per_addr")
        if k in query
    )
    return (
        f"sg_op: the {hypervisor} hypervisor answered from dom0: "
        f"ABI {abi >> 16}.{abi & 0xFFFF}; limits {limits}"
    )


def _xen_limits(console: str) -> str | None:
    m = _XEN_LIMITS_RE.search(console)
    return m.group(0).strip() if m else None
