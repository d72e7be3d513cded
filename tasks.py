"""sgkit tasks: thin wiring from `invoke` to the kit in tools/sgkit.

    invoke setup                 install what the kit needs (apt)
    invoke build                 fetch, render, apply, build Xen and modules, verify
    invoke lab.smoke             boot the built Xen in QEMU and query sg_op from dom0
    invoke lab.test              dom0 with xl + two PV domUs, sgtest in every domain
    invoke lab.net               sgnet links dom0<->sg-a<->sg-b, ping, iperf3, flood, destroy
    invoke bench.net             sgnet against netfront/netback in one boot: JSON, PNG, ratios
    invoke bench.compare -r A,B  whole bench.net runs side by side: do the ratios repeat?
    invoke deploy --host H       install the build on Xen lab hosts over SSH
    invoke test                  unit tests, then the real build and lab tests

Run `invoke --list` for all of them and `invoke --help TASK` for options.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from invoke import Collection, Context, Exit, task

from sgkit.build.versions import DEFAULT_XEN
from sgkit.errors import KitError
from sgkit.lab.multidomain import DEFAULT_SUITES
from sgkit.lab.spec import LabSpec

SOURCE_HELP = (
    "default: the version's own (debian for 4.17, tarball for 4.22, git for staging); "
    "debian, debian:VER, tarball, tarball:URL#sha256=HEX, git:URL#REF, local:PATH"
)
XEN_HELP = f"Xen version (default {DEFAULT_XEN})"
XEN_SOURCE_HELP = {"xen": XEN_HELP, "source": SOURCE_HELP}
BUILD_KERNEL_HELP = "kernel release (default 6.1.0-50-amd64; 6.12, trixie, sid: see driver.build)"
ACCEL_HELP = "tcg, kvm or auto (default: $SGKIT_ACCEL, else tcg)"
HYPERVISOR_HELP = "patched (the one built here) or stock (Debian's)"
XSM_HELP = (
    "boot the XSM build variant with this module: dummy, silo, flask (permissive)"
    " or flask-enforcing (Xen's policy + xen-hypervisor/flask/sg_op.te)"
)

# The options every lab boot takes (lab.smoke, lab.test, lab.net, bench.net),
# defined once: ``lab_task`` adds them to a task in place of its ``lab``
# parameter and hands the task a LabOptions, which makes the LabSpec.
LAB_HELP = {
    **XEN_SOURCE_HELP,
    "kernel": "dom0 and domU kernel release",
    "accel": ACCEL_HELP,
    "timeout": "seconds before the run counts as hung",
    "icount": "QEMU -icount under TCG: a shift 0-10 (virtual time counts guest instructions,"
    " sleep=off) or auto (default: off; docs/bench.md has what it does to bench.net)",
}


@dataclass(frozen=True)
class LabOptions:
    """The lab options as invoke parsed them ("" and 0: not given)."""

    xen: str = DEFAULT_XEN
    source: str = ""
    kernel: str = ""
    accel: str = ""
    timeout: int = 0
    icount: str = ""

    def spec(self, **more: Any) -> LabSpec:
        """The run's LabSpec: these options and ``more`` (hypervisor, xsm), checked, resolved."""
        return LabSpec.resolve(
            xen=self.xen,
            source=self.source,
            kernel=self.kernel or None,
            accel=self.accel or None,
            timeout_s=float(self.timeout) if self.timeout else None,
            icount=self.icount or None,
            **more,
        )


def lab_task(timeout: int, help: dict[str, str], timeout_help: str = "") -> Callable[..., Any]:
    """A lab task: invoke sees the lab options (default ``timeout``) where the body has
    ``lab``; the body gets them as one LabOptions.  ``help`` covers the body's own options."""

    def decorate(body: Callable[..., Any]) -> Any:
        own = list(inspect.signature(body).parameters.values())
        defaults = {**dataclasses.asdict(LabOptions()), "timeout": timeout}
        at = [p.name for p in own].index("lab")
        own[at : at + 1] = [
            inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=value)
            for name, value in defaults.items()
        ]

        @functools.wraps(body)
        def wrapper(c: Context, **kwargs: Any) -> Any:
            lab = LabOptions(**{name: kwargs.pop(name) for name in defaults})
            return body(c, lab=lab, **kwargs)

        wrapper.__signature__ = inspect.Signature(own)  # type: ignore[attr-defined]
        default = f" (default {timeout})" if timeout else ""
        lab_help = {**LAB_HELP, "timeout": timeout_help or LAB_HELP["timeout"] + default}
        return task(help={**lab_help, **help})(kit_errors(wrapper))

    return decorate


def kit_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Print a KitError as a clear message and exit non-zero, without a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except KitError as e:
            raise Exit(f"sgkit: error: {e}", code=2) from None

    return wrapper


@task(help={"kernel": "kernel release whose headers to install (default: the lab's)"})
@kit_errors
def setup(c: Context, kernel: str | None = None) -> None:
    """Install the system packages the kit needs (Debian/Ubuntu, via apt)."""
    from sgkit.build.prerequisites import setup as do_setup

    installed = do_setup(kernel)
    print("installed: " + (" ".join(installed) if installed else "nothing (all present)"))


# --- xen ---------------------------------------------------------------------


@task(help=XEN_SOURCE_HELP)
@kit_errors
def xen_fetch(c: Context, xen: str = DEFAULT_XEN, source: str = "") -> None:
    """Fetch and verify Xen source into the cache (a pristine tree)."""
    from sgkit.build.xen_sources import fetch, parse_spec

    tree = fetch(parse_spec(source, xen))
    print(json.dumps(tree.describe(), indent=2))


@task(help={**XEN_SOURCE_HELP, "jobs": "make -j (default: cpus)"})
@kit_errors
def xen_build(c: Context, xen: str = DEFAULT_XEN, source: str = "", jobs: int = 0) -> None:
    """Build the patched hypervisor out of tree (incremental)."""
    from sgkit.build import xen_build as xb

    built = xb.build(xen, source, jobs or None)
    print(f"{built.out}: build id {built.manifest['build_id']}")


# --- patches -----------------------------------------------------------------


@task(help={"xen": XEN_HELP, "out": "output directory"})
@kit_errors
def patches_render(c: Context, xen: str = DEFAULT_XEN, out: str = "") -> None:
    """Render the series for a Xen version into numbered patches."""
    from sgkit.build.patch_series import render_series
    from sgkit.paths import builds_dir

    series = render_series(xen)
    target = Path(out) if out else builds_dir() / f"patches-{series.xen}"
    for path in series.write(target):
        print(path)
    print(f"series digest {series.digest}")


@task(
    help={
        **XEN_SOURCE_HELP,
        "tree": "apply into this tree instead of the cache's work tree",
    }
)
@kit_errors
def patches_apply(c: Context, xen: str = DEFAULT_XEN, source: str = "", tree: str = "") -> None:
    """Apply the rendered series to a fresh copy of the pristine tree (atomic)."""
    from sgkit.build.patch_apply import apply_series
    from sgkit.build.patch_series import render_series
    from sgkit.build.xen_build import workdir_for
    from sgkit.build.xen_sources import fetch, parse_spec

    pristine = fetch(parse_spec(source, xen))
    target = Path(tree).resolve() if tree else workdir_for(xen, pristine) / "src"
    result = apply_series(render_series(xen), pristine.path, pristine.tree_hash, target)
    state = "already up to date" if result.up_to_date else f"{len(result.changed)} files changed"
    print(f"{target}: {state}")


@task(
    help={
        "xen": XEN_HELP,
        "out": "output directory",
        "author": "Name <email>",
        "source": SOURCE_HELP + "; its tree names the maintainers and the base commit",
        "rfc": "subject prefix [RFC PATCH]",
        "reroll": "the series' version, v2 and up: [PATCH vN n/m]",
        "no_cc": "no To:/Cc: from scripts/get_maintainer.pl (no source tree needed)",
    },
    auto_shortflags=False,
)
@kit_errors
def patches_export(
    c: Context,
    xen: str = DEFAULT_XEN,
    out: str = "",
    author: str = "",
    source: str = "",
    rfc: bool = False,
    reroll: int = 0,
    no_cc: bool = False,
) -> None:
    """Write the series as mails for xen-devel: prefixes, maintainers, base commit."""
    from sgkit.build.patch_export import export_series, subject_prefix, upstream_base
    from sgkit.build.patch_series import render_series
    from sgkit.build.versions import load_context
    from sgkit.build.xen_sources import fetch, parse_spec
    from sgkit.paths import results_dir

    prefix = subject_prefix(rfc, reroll)
    series = render_series(xen)
    spec = parse_spec(source, xen)
    base, note = upstream_base(spec.kind, spec.location, load_context(xen))
    tree = None if no_cc else fetch(spec).path
    target = Path(out) if out else results_dir() / f"mail-xen-{series.xen}"
    for path in export_series(
        series, target, author or None, prefix, tree=tree, base_commit=base, base_note=note
    ):
        print(path)


# --- driver, verify, build ---------------------------------------------------


@task(
    help={
        "kernel": "6.1.0-50-amd64 (default, host gcc); a trixie or sid release, "
        "e.g. 6.12.117+deb13-amd64, or trixie, sid, 6.12: built in that suite's root",
        "kdir": "kbuild directory",
        "compile-only": "a check: warnings are errors, the modules are not verified",
    }
)
@kit_errors
def driver_build(c: Context, kernel: str = "", kdir: str = "", compile_only: bool = False) -> None:
    """Build the guest modules in linux-driver/ against kernel headers, then check them."""
    from sgkit.build import driver_build as db
    from sgkit.build.verify import verify_modules

    built = db.build(kernel or None, Path(kdir) if kdir else None, compile_only=compile_only)
    if compile_only:
        print(f"compiled cleanly against {built.headers.release} (no warnings)")
    else:
        verify_modules(built)
    for name, path in built.modules.items():
        print(f"{name}: {path}")


@task
@kit_errors
def driver_lint(c: Context) -> None:
    """checkpatch.pl --strict and sparse on sgnet and sghostile; fails on any finding."""
    from sgkit.build import driver_lint as dl
    from sgkit.errors import KitError

    findings = dl.lint()
    for f in findings:
        print(f)
    if findings:
        raise KitError(
            f"{len(findings)} checkpatch/sparse findings in linux-driver/", "fix them there"
        )
    print(f"checkpatch --strict and sparse: clean ({', '.join(dl.LINT_DIRS)})")


@task(
    help={
        **XEN_SOURCE_HELP,
        "kernel": BUILD_KERNEL_HELP,
    }
)
@kit_errors
def verify(c: Context, xen: str = DEFAULT_XEN, source: str = "", kernel: str = "") -> None:
    """Check xen-syms and the modules with pyelftools."""
    from sgkit.build import driver_build as db
    from sgkit.build import xen_build as xb
    from sgkit.build.verify import verify as do_verify

    do_verify(xb.build(xen, source), db.build(kernel or None, xen=xen))


@task(
    help={
        **XEN_SOURCE_HELP,
        "kernel": BUILD_KERNEL_HELP,
        "kdir": "kbuild directory",
        "jobs": "make -j",
        "matrix": "build every supported Xen version; a version x step table",
    }
)
@kit_errors
def build(
    c: Context,
    xen: str = DEFAULT_XEN,
    source: str = "",
    kernel: str = "",
    kdir: str = "",
    jobs: int = 0,
    matrix: bool = False,
) -> None:
    """fetch, render, apply, xen.build, driver.build, verify."""
    from sgkit.build import driver_build as db
    from sgkit.build import xen_build as xb
    from sgkit.build.verify import verify as do_verify

    if matrix:
        from sgkit.build import matrix as mx
        from sgkit.paths import results_dir

        rows = mx.run_matrix(kernel=kernel or None)
        print(mx.table(rows))
        print(f"results: {mx.write_json(rows, results_dir() / 'build-matrix.json')}")
        if not all(r.ok for r in rows):
            raise Exit("sgkit: some versions did not build (table above)", code=1)
        return

    built = xb.build(xen, source, jobs or None)
    drivers = db.build(kernel or None, Path(kdir) if kdir else None, xen=xen)
    do_verify(built, drivers)
    state = "rebuilt" if built.rebuilt else "up to date"
    print(f"xen: {built.xen} ({state}, build id {built.manifest['build_id']})")
    for name, path in drivers.modules.items():
        print(f"{name}: {path}")


# --- lab -----------------------------------------------------------------------


@lab_task(
    timeout=600,
    help={
        "hypervisor": HYPERVISOR_HELP,
        "kernel": "dom0 kernel release",
        "limits": "per-domain limits on Xen's command line, e.g. max_regs=8,max_elems=4",
        "xsm": XSM_HELP,
    },
)
def lab_smoke(
    c: Context,
    hypervisor: str = "patched",
    lab: LabOptions = LabOptions(),
    limits: str = "",
    xsm: str = "",
) -> None:
    """Boot Xen + PV dom0 in QEMU, load sgtest, report the sg_op answer."""
    from sgkit.lab.smoke import answer_line, parse_limits, run_smoke
    from sgkit.report.publish import summary

    outcome = run_smoke(
        lab.spec(hypervisor=hypervisor, xsm=xsm or None), limits=parse_limits(limits)
    )
    print(summary(outcome.report))
    print(answer_line(hypervisor, outcome.query))
    print(f"results: {outcome.results}")
    if not outcome.report.ok():
        raise Exit("sgkit: the smoke run failed", code=1)


@lab_task(
    timeout=900,
    help={
        "suites": "sgtest suites to run in every domain, comma-separated",
        "hypervisor": HYPERVISOR_HELP,
        "seed": "sg_fuzz seed, to replay a run (default: a random one, printed)",
        "xsm": XSM_HELP + "; e.g. --suites sg_op,sg_xsm --xsm silo",
        "pvh": "domUs booted as PVH, comma-separated (default sg-b; '' for all PV)",
    },
)
def lab_test(
    c: Context,
    suites: str = DEFAULT_SUITES,
    hypervisor: str = "patched",
    lab: LabOptions = LabOptions(),
    seed: int = 0,
    xsm: str = "",
    pvh: str = "sg-b",
) -> None:
    """Boot Xen + a Debian dom0 with xl + a PV and a PVH domU; run sgtest in every domain."""
    from sgkit.lab.multidomain import run_lab_test

    spec = lab.spec(hypervisor=hypervisor, xsm=xsm or None)
    outcome = run_lab_test(spec, suites, seed=seed or None, pvh=[n for n in pvh.split(",") if n])
    print(outcome.text_summary)
    print(f"results: {outcome.results}")
    if not outcome.report.ok():
        raise Exit("sgkit: the lab test failed", code=1)


@lab_task(timeout=900, help={})
def lab_net(c: Context, lab: LabOptions = LabOptions()) -> None:
    """Boot the lab with sgnet links dom0<->sg-a<->sg-b; ping both ways over each."""
    from sgkit.lab.net import run_lab_net

    outcome = run_lab_net(lab.spec())
    print(outcome.text_summary)
    print(f"results: {outcome.results}")
    if not outcome.report.ok():
        raise Exit("sgkit: the lab.net run failed", code=1)


# --- bench -------------------------------------------------------------------


@lab_task(
    timeout=0,
    timeout_help="seconds for the whole boot (default: grows with --repeat and --seconds)",
    help={
        "seconds": "length of each iperf3 run",
        "repeat": "rounds in one boot, each test's drivers back to back: medians, spreads",
        "before": "also sgnet as it was before bulk return, late EOI and delayed batching",
        "ablation": "also sgnet with one mechanism off at a time (module parameters)",
        "variant": "also these sgnet variants, comma-separated (e.g. sgnet-one-copy)",
        "pin": "dom0's vCPUs on Xen's CPU 0, the domU's on CPU 1 (default off: Xen's choice;"
        " docs/bench.md, Repeatability)",
    },
)
def bench_net(
    c: Context,
    lab: LabOptions = LabOptions(),
    seconds: int = 4,
    repeat: int = 1,
    before: bool = False,
    ablation: bool = False,
    pin: bool = False,
    variant: str = "",
) -> None:
    """sgnet vs netfront/netback over dom0<->sg-a in one boot: bench.json, bench.png, ratios."""
    from sgkit.lab.bench import run_bench_net

    only = [name for name in variant.split(",") if name]
    outcome = run_bench_net(
        lab.spec(),
        seconds,
        repeat=repeat,
        before=before,
        ablation=ablation,
        pin=pin,
        only=only,
    )
    print(outcome.text_summary)
    print(f"results: {outcome.results}")


@task(
    iterable=["run"],
    help={
        "run": "a results/bench-net-* directory (or its bench.json); two or more, repeat the"
        " option or separate them with commas",
        "tolerance": "a ratio repeats when every run is within this fraction of the runs'"
        " median (default 0.15)",
    },
)
@kit_errors
def bench_compare(c: Context, run: list[str], tolerance: float = 0.15) -> None:
    """Whole bench.net runs side by side: each ratio's median per run, spread, repeats or not."""
    from sgkit.paths import results_dir
    from sgkit.report.bench_compare import compare_runs

    paths = [Path(p) for r in run for p in r.split(",") if p]
    out, _, text = compare_runs(paths, results_dir(), tolerance)
    print(text)
    print(f"results: {out}")


# --- deploy --------------------------------------------------------------------


@task(
    iterable=["host"],
    help={
        "host": "an SSH host (a ~/.ssh/config alias, [user@]host[:port]); repeatable",
        "reboot": "boot the new hypervisor once and check its build id",
        "run": "sgtest suites to run on each host afterwards, e.g. sg_op,sg_local; "
        "sg_cross adds two domUs; sgnet is sgnet's link test with a domU",
        "accept_new_host_key": "trust and record a host key not in ~/.ssh/known_hosts",
        **XEN_SOURCE_HELP,
        "kernel": "kernel release of the hosts' dom0 (modules are built for it)",
        "reboot_timeout": "seconds to wait for SSH after the reboot (then power-cycle)",
        "ssh_config": "ssh config file (default ~/.ssh/config)",
        "known_hosts": "known_hosts file (default ~/.ssh/known_hosts)",
        "power_cycle": "command that power-cycles a hung host ({host}: the host); all hosts",
        "power_cycle_timeout": "seconds to wait for SSH after a power cycle "
        "(default: --reboot-timeout)",
        "hosts_file": "per-host settings, e.g. power_cycle (default ~/.config/sgkit/hosts.toml)",
        "xen_args": "options added to the one-shot entry's Xen command line",
    },
)
@kit_errors
def deploy(
    c: Context,
    host: list[str],
    reboot: bool = False,
    run: str = "",
    accept_new_host_key: bool = False,
    xen: str = DEFAULT_XEN,
    source: str = "",
    kernel: str = "",
    reboot_timeout: int = 900,
    ssh_config: str = "",
    known_hosts: str = "",
    power_cycle: str = "",
    power_cycle_timeout: int = 0,
    hosts_file: str = "",
    xen_args: str = "",
) -> None:
    """Install the built hypervisor (as a one-shot GRUB entry) and modules on hosts."""
    from sgkit.deploy import hosts_file as hosts_toml
    from sgkit.deploy.rollout import Options, deploy_hosts, local_build, summary
    from sgkit.paths import results_dir

    if not host:
        raise Exit("sgkit: error: pass --host HOST (repeatable)", code=2)
    hosts = hosts_toml.load(Path(hosts_file) if hosts_file else None)
    build = local_build(xen, source, kernel or None)
    opts = Options(
        reboot=reboot,
        run_suites=run,
        accept_new_host_key=accept_new_host_key,
        reboot_timeout_s=float(reboot_timeout),
        power_cycle=power_cycle or None,
        power_cycle_timeout_s=float(power_cycle_timeout) or None,
        hosts=hosts,
        xen_args=xen_args,
        **({"ssh_config": Path(ssh_config)} if ssh_config else {}),
        **({"known_hosts": Path(known_hosts)} if known_hosts else {}),
    )
    outcomes, run_dir = deploy_hosts(host, build, opts, results_dir())
    print(summary(outcomes))
    print(f"results: {run_dir}")
    if not all(o.ok for o in outcomes):
        raise Exit("sgkit: the deploy failed on some hosts", code=1)


@task(
    positional=["action"],
    help={
        "action": "up (build the cached image if needed, boot, wait for SSH), "
        "reset (power-cycle it: system_reset) or down",
        "xen": XEN_HELP,
        "kernel": "dom0 kernel release",
        "accel": ACCEL_HELP,
        "timeout": "seconds to wait for the host's sshd",
    },
)
@kit_errors
def lab_host(
    c: Context,
    action: str,
    xen: str = DEFAULT_XEN,
    kernel: str = "",
    accel: str = "",
    timeout: int = 600,
) -> None:
    """A QEMU Xen machine that boots from its own disk through GRUB, reached by SSH."""
    from sgkit.build.kernels import DEFAULT_KERNEL
    from sgkit.lab import host_vm as lh

    if action == "up":
        state = lh.up(xen, kernel or DEFAULT_KERNEL, float(timeout), accel or None)
        accel_used = state.get("accel", "tcg")
        print(f"lab host up ({accel_used}): ssh -F {state['ssh_config']} {lh.HOST_ALIAS}")
        print(
            f"deploy to it: invoke deploy --host {lh.HOST_ALIAS} "
            f"--ssh-config {state['ssh_config']} --known-hosts {state['known_hosts']} "
            f"--hosts-file {state['hosts_file']}"
        )
        print(f"console: {state['console']}")
    elif action == "reset":
        lh.reset()
    elif action == "down":
        print("lab host stopped" if lh.down() else "no lab host was running")
    else:
        raise Exit(f"sgkit: error: unknown action {action!r}: use up, reset or down", code=2)


# --- tests ---------------------------------------------------------------------


@task(
    help={
        "unit_only": "run only the fast unit tests",
        "nightly": "also the nightly end-to-end runs (lab-host deploy, 4.22/staging, unstable)",
    }
)
def test(c: Context, unit_only: bool = False, nightly: bool = False) -> None:
    """Unit tests first, then the integration tests (real builds and boots)."""
    results = Path("results")
    results.mkdir(exist_ok=True)
    py = sys.executable
    c.run(f"{py} -m pytest -q tests/unit --junitxml={results}/junit-unit.xml", pty=False)
    if not unit_only:
        selected = "" if nightly else ' -m "not nightly"'
        c.run(
            f"{py} -m pytest -q tests/integration{selected} --durations=0"
            f" --junitxml={results}/junit-integration.xml",
            pty=False,
        )


ns = Collection(setup, build, verify, deploy, test)
ns.add_collection(Collection("xen", fetch=xen_fetch, build=xen_build))
ns.add_collection(
    Collection("patches", render=patches_render, apply=patches_apply, export=patches_export)
)
ns.add_collection(Collection("driver", build=driver_build, lint=driver_lint))
ns.add_collection(Collection("lab", smoke=lab_smoke, test=lab_test, net=lab_net, host=lab_host))
ns.add_collection(Collection("bench", net=bench_net, compare=bench_compare))
