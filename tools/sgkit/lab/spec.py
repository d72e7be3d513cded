"""One lab run's request: what to boot and how, built once and handed down whole.

kunit_tool's request-object pattern: the task turns its options into one
frozen ``LabSpec``; ``LabSpec.resolve`` checks it and loads the Xen
version's patch context once (``sgkit.build.versions.load_context``), and
smoke, lab.test, lab.net and bench.net take the spec instead of a list of
parameters.  What only one run has (lab.test's suites, lab.net's links,
bench.net's rounds) stays a parameter of that run.

``prepare`` builds what every lab boot needs from a spec: the guest modules
for the kernel, the hypervisor (the one built here, or Debian's stock one)
and, for the multi-domain lab, the cached dom0 root; with the facts about
them that every run records.
"""

from __future__ import annotations

import dataclasses
import gzip
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sgkit import progress
from sgkit.build import driver_build, xen_build
from sgkit.build.debian_packages import unpacked
from sgkit.build.versions import DEFAULT_XEN, load_context
from sgkit.errors import KitError
from sgkit.images.dom0_rootfs import Dom0Base, base_rootfs
from sgkit.lab.qemu import check_icount, choose_accel, icount_args, qemu_binary
from sgkit.paths import builds_dir
from sgkit.procs import require

HYPERVISORS = ("patched", "stock")

# The XSM modules the xsm variant can boot -> Xen options and the console
# line that shows the module started (FLASK's is at info level).
XSM_MODULES = {
    "dummy": ("xsm=dummy", "XSM Framework v"),
    "silo": ("xsm=silo", "Initialising XSM SILO mode"),
    "flask": (
        "xsm=flask flask=permissive loglvl=all",
        "Flask:  Access controls disabled until policy is loaded.",
    ),
    # Xen's own policy plus xen-hypervisor/flask/sg_op.te, loaded as a boot
    # module (sgkit.build.flask_policy); the line shows it loaded (info level:
    # loglvl=all).
    "flask-enforcing": (
        "xsm=flask flask=enforcing loglvl=all",
        "Flask:  Starting in enforcing mode.",
    ),
}


def xsm_boot_modules(xsm: str | None, built: xen_build.XenBuild) -> tuple[Path, ...]:
    """The boot modules an XSM module needs: the enforcing FLASK policy, built here."""
    if xsm != "flask-enforcing":
        return ()
    from sgkit.build.flask_policy import build_policy

    with progress.step("building the FLASK policy (Xen's + sg_op.te)"):
        return (build_policy(built.workdir / "src", built.out / "xenpolicy"),)


@dataclass(frozen=True)
class LabSpec:
    """What one lab run boots and how long it may take.

    ``timeout_s`` None means the run's own default (smoke 600 s, lab.test
    and lab.net 900 s, bench.net grows with its rounds).  ``context`` is the
    Xen version's patch context, filled by ``resolve``.
    """

    xen: str = DEFAULT_XEN
    source: str = ""  # --source; "" is the version's own
    kernel: str | None = None  # dom0 and domU kernel release; None is the lab's
    accel: str | None = None  # tcg, kvm or auto; None is $SGKIT_ACCEL, else tcg
    icount: str | None = None  # QEMU -icount (TCG): a shift 0-10 (sleep=off) or auto
    timeout_s: float | None = None
    hypervisor: str = "patched"  # or "stock": Debian's, without sg_op
    xsm: str | None = None  # boot the xsm build variant with this XSM module (XSM_MODULES)
    domu_memory_mb: int = 128
    domu_timeout_s: int = 300  # dom0 gives up on a domU after this
    out_root: Path | None = None  # results/ unless given
    context: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def resolve(cls, spec: LabSpec | None = None, **options: Any) -> LabSpec:
        """``spec`` (or a new one from ``options``), checked, with its context loaded."""
        if spec is None:
            spec = cls(**options)
        elif options:  # a changed spec: its context is loaded again
            spec = dataclasses.replace(spec, **{"context": {}, **options})
        if spec.hypervisor not in HYPERVISORS:
            raise KitError(f"unknown hypervisor {spec.hypervisor!r}", "use patched or stock")
        if spec.xsm is not None and spec.xsm not in XSM_MODULES:
            raise KitError(f"unknown XSM module {spec.xsm!r}", "use " + ", ".join(XSM_MODULES))
        if spec.xsm is not None and spec.hypervisor != "patched":
            raise KitError("--xsm needs the patched hypervisor", "drop --hypervisor stock")
        if spec.icount is not None:
            icount = check_icount(spec.icount)
            if icount != spec.icount:
                spec = dataclasses.replace(spec, icount=icount)
        if spec.context:
            return spec
        return dataclasses.replace(spec, context=load_context(spec.xen))

    def timeout(self, default: float) -> float:
        return default if self.timeout_s is None else self.timeout_s


@dataclass(frozen=True)
class LabParts:
    """What a lab boot runs: the hypervisor image, the kernel's modules, dom0's root."""

    xen_image: Path
    release: str  # the kernel release the modules are built for
    modules: Mapping[str, Path]  # sgtest, sgnet, sgnet-front, sgnet-back, sghostile -> .ko
    base: Dom0Base | None  # the multi-domain lab's dom0 root
    meta: dict[str, Any]  # recorded in results.json
    xen_args: str = ""  # added to Xen's command line (the XSM module's options)
    boot_modules: tuple[Path, ...] = ()  # multiboot modules after dom0's (a FLASK policy)


def prepare(spec: LabSpec, dom0_root: bool = True) -> LabParts:
    """Build (or find cached) the modules, the hypervisor and, with ``dom0_root``, dom0's root."""
    # What the boot needs from this machine, named before minutes of building.
    require(qemu_binary())
    icount_args(spec.icount, choose_accel(spec.accel))  # --icount needs TCG
    drivers = driver_build.build(kernel=spec.kernel, xen=spec.xen, context=spec.context)
    release = drivers.headers.release
    meta: dict[str, Any] = {"hypervisor": spec.hypervisor, "kernel": release}
    if spec.icount:
        meta["icount"] = spec.icount
    xen_args, boot_modules = "", ()
    if spec.xsm:
        meta["xsm"] = spec.xsm
        xen_args = XSM_MODULES[spec.xsm][0]
    if spec.hypervisor == "patched":
        variant = "xsm" if spec.xsm else None
        built = xen_build.build(spec.xen, spec.source, variant=variant, context=spec.context)
        boot_modules = xsm_boot_modules(spec.xsm, built)
        xen_image = built.xen
        meta["xen_build_id"] = built.manifest["build_id"]
        meta["xen_version"] = built.manifest["xen_version"]
    else:
        xen_image = stock_xen(spec)
        meta["xen_version"] = spec.context["sources"]["stock"]["version"]
    base = None
    if dom0_root:
        base = base_rootfs(spec.xen, release, spec.context)
        meta["dom0_root"] = {"archive": str(base.archive), **base.manifest}
    return LabParts(xen_image, release, drivers.modules, base, meta, xen_args, boot_modules)


def stock_xen(spec: LabSpec) -> Path:
    """Debian's hypervisor for this Xen version, uncompressed for QEMU's multiboot loader."""
    stock = spec.context.get("sources", {}).get("stock")
    if not stock:
        raise KitError(f"no stock Debian hypervisor is known for Xen {spec.xen}")
    root = unpacked(stock["package"], stock["version"])
    image = root / stock["file"]
    target = builds_dir() / "lab" / f"xen-stock-{stock['version']}"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        with gzip.open(image) as src, tmp.open("wb") as dst:
            shutil.copyfileobj(src, dst)
        tmp.replace(target)
    return target
