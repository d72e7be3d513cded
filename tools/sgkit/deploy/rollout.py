"""``invoke deploy``: install the built hypervisor and modules on Xen lab hosts over SSH.

Per host, in a thread of its own: connect (ssh_hosts), probe and check
(host_checks), plan against what is already there (deploy_plan), upload
with sha256 checked on the host, install the hypervisor as an extra GRUB
entry (the old default stays the default), the modules under
/lib/modules/KVER/extra/sgkit plus depmod, and with ``--reboot`` boot the new
entry once (``grub-reboot``) and check the running build id.  A boot that
fails comes back on the old default; the report says which hypervisor runs.
A host that does not come back within ``--reboot-timeout`` is power-cycled
with its ``power_cycle`` command (host_config) and then comes back on the
old default, because the one-shot entry is used up.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from sgkit import progress
from sgkit.build.versions import series_of
from sgkit.deploy import guests, hosts_file, ssh_hosts
from sgkit.deploy.host_probe import PROBE, STATE_FILE, HostFacts, parse_probe, problems
from sgkit.deploy.plan import (
    GRUB_SNIPPET,
    Artifacts,
    Plan,
    entry_xen_args,
    grub_script,
    kernel_args_from_cmdline,
    make_plan,
    safe_args,
)
from sgkit.deploy.power_cycle import power_cycle
from sgkit.deploy.ssh_hosts import check, quote
from sgkit.deploy.ssh_hosts import run as ssh_run
from sgkit.errors import KitError
from sgkit.report import ktap
from sgkit.report.publish import (
    Result,
    RunReport,
    new_run_dir,
    results_from_ktap,
    write_json,
    write_junit,
)

# depmod reads every module of the kernel on the host: minutes under emulation.
DEPMOD_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class Options:
    reboot: bool = False
    run_suites: str = ""  # sgtest suites to run on the host afterwards (comma-separated)
    accept_new_host_key: bool = False
    reboot_timeout_s: float = 900.0
    # The wait after a power cycle (firmware POST can take minutes); None: reboot_timeout_s.
    power_cycle_timeout_s: float | None = None
    connect_timeout_s: float = 15.0
    known_hosts: Path = ssh_hosts.DEFAULT_KNOWN_HOSTS
    ssh_config: Path | None = ssh_hosts.DEFAULT_CONFIG
    power_cycle: str | None = None  # for every host; else each host's from the hosts file
    hosts: hosts_file.HostsConfig = field(default_factory=hosts_file.HostsConfig)
    xen_args: str = ""  # added to the one-shot entry's Xen command line

    def power_cycle_for(self, host: str) -> str | None:
        template = self.power_cycle or self.hosts.settings_for(host).power_cycle
        return hosts_file.power_cycle_command(template, host) if template else None


@dataclass(frozen=True)
class LocalBuild:
    artifacts: Artifacts
    xen_gz: Path
    modules: dict[str, Path]


@dataclass
class HostOutcome:
    host: str
    ok: bool = False
    error: str | None = None
    left: str = "nothing changed"  # the state the host was left in
    steps: list[Result] = field(default_factory=list)
    running_build_id: str | None = None
    duration_s: float = 0.0
    logs: dict[str, str] = field(default_factory=dict)  # file name -> text, for results


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def local_build(xen: str, source: str, kernel: str | None) -> LocalBuild:
    """The hypervisor and modules to deploy (built first if out of date)."""
    from sgkit.build import driver_build, xen_build

    built = xen_build.build(xen, source)
    drivers = driver_build.build(kernel, xen=xen)
    deployed = {
        name: path
        for name, path in drivers.modules.items()
        if name not in driver_build.LAB_ONLY_MODULES
    }
    manifest = built.manifest
    art = Artifacts(
        build_id=manifest["build_id"],
        xen_version=manifest["xen_version"],
        xen_gz_sha256=manifest["outputs"]["xen.gz"],
        kernel_release=drivers.headers.release,
        modules={name: sha256_of(path) for name, path in deployed.items()},
    )
    return LocalBuild(art, built.out / "xen.gz", deployed)


class _Host:
    """One host's deploy; every step lands in ``outcome.steps``."""

    def __init__(
        self,
        alias: str,
        build: LocalBuild,
        opts: Options,
        say: Callable[[str], None],
        cancel: threading.Event | None = None,
    ) -> None:
        self.alias = alias
        self.cancel = cancel or threading.Event()
        self.build = build
        self.art = dataclasses.replace(build.artifacts, extra_xen_args=opts.xen_args)
        self.opts = opts
        self.say = say
        self.outcome = HostOutcome(alias)
        self.client: paramiko.SSHClient | None = None

    def step(self, name: str, status: str, reason: str | None = None) -> None:
        self.outcome.steps.append(Result(self.alias, "deploy", name, status, reason))

    def checkpoint(self) -> None:
        """Stop between steps when the run was interrupted (Ctrl-C in the main thread)."""
        if self.cancel.is_set():
            raise KitError("interrupted", "run the deploy again: it picks up where it stopped")

    # --- connection ---------------------------------------------------------

    def connect(self) -> paramiko.SSHClient:
        spec = ssh_hosts.resolve(self.alias, self.opts.ssh_config)
        self.say(f"connecting to {spec.describe()}")
        self.client = ssh_hosts.connect(
            spec,
            accept_new=self.opts.accept_new_host_key,
            known_hosts=self.opts.known_hosts,
            config_path=self.opts.ssh_config,
            timeout=self.opts.connect_timeout_s,
        )
        return self.client

    def probe(self) -> HostFacts:
        assert self.client is not None
        return parse_probe(ssh_run(self.client, PROBE, timeout=60).stdout)

    # --- the deploy ---------------------------------------------------------

    def run(self) -> HostOutcome:
        start = time.monotonic()
        try:
            self._run()
        except KitError as e:
            self.outcome.error = str(e)
            self.step("deploy", "fail", str(e).splitlines()[0])
        finally:
            if self.client is not None:
                self.client.close()
            self.outcome.duration_s = time.monotonic() - start
        return self.outcome

    def _run(self) -> None:
        self.connect()
        self.step("connect", "pass")
        facts = self.probe()
        found = problems(facts, series_of(self.art.xen_version), self.art.kernel_release)
        if found:
            self.step("host-check", "fail", "; ".join(found))
            raise KitError(
                "the host does not fit the build: " + "; ".join(found),
                "deal with each problem named above, then deploy again; "
                "nothing was changed on the host",
            )
        self.step("host-check", "pass")
        self.checkpoint()
        self.outcome.running_build_id = facts.running_build_id
        plan = self._plan(facts)
        for note in plan.notes:
            self.say(note)
        if not plan.changes_anything:
            self.step("install", "skip", "already installed")
            self.outcome.left = f"build {self.art.build_id[:16]} already installed"
        else:
            self._install(plan, facts)
        self.checkpoint()
        if plan.reboot:
            self._reboot_and_verify(facts)
        elif facts.running_build_id == self.art.build_id:
            self.step("build-id", "pass", "the host runs this build")
        else:
            self.step("reboot", "skip", "no --reboot: the new entry boots once on request")
        if self.opts.run_suites:
            self.checkpoint()
            self._run_suites()
        self.outcome.ok = not any(r.status in ("fail", "error") for r in self.outcome.steps)
        if not self.outcome.ok:
            self.outcome.error = "some sgtest results failed on the host (see results)"

    def _plan(self, facts: HostFacts) -> Plan:
        assert self.client is not None
        paths = [self.art.xen_path] + [self.art.module_path(n) for n in self.art.modules]
        out = ssh_run(self.client, f"sha256sum {quote(*paths)} 2>/dev/null").stdout
        remote = {p: s for s, _, p in (ln.partition("  ") for ln in out.splitlines()) if p}
        grub_cfg = facts.tools.get("grub.cfg", "/boot/grub/grub.cfg")
        entry = ssh_run(self.client, f"grep -qF -e {quote(self.art.menu_marker)} {quote(grub_cfg)}")
        return make_plan(
            self.art, remote, entry.status == 0, facts.running_build_id, self.opts.reboot
        )

    def _upload(self, local: Path, remote: str, sha: str) -> None:
        """Upload to a temporary name, check sha256 there, then rename into place."""
        assert self.client is not None
        part = f"{remote}.sgkit-part"
        directory = remote.rsplit("/", 1)[0]
        check(self.client, f"mkdir -p {quote(directory)}")
        with self.client.open_sftp() as sftp:
            sftp.put(str(local), part)
        got = check(self.client, f"sha256sum {quote(part)}").split()[0]
        if got != sha:
            ssh_run(self.client, f"rm -f {quote(part)}")
            raise KitError(f"{remote}: sha256 on the host is {got}, expected {sha}")
        check(self.client, f"sync {quote(part)} 2>/dev/null; mv -f {quote(part)} {quote(remote)}")

    def _install(self, plan: Plan, facts: HostFacts) -> None:
        assert self.client is not None
        art = self.art
        started = time.monotonic()
        if plan.upload_xen:
            self.say(f"uploading xen.gz -> {art.xen_path}")
            self._upload(self.build.xen_gz, art.xen_path, art.xen_gz_sha256)
            self.outcome.left = f"{art.xen_path} uploaded; boot entries unchanged"
        for name in plan.upload_modules:
            self.checkpoint()
            self.say(f"uploading {name}.ko")
            self._upload(self.build.modules[name], art.module_path(name), art.modules[name])
        took = f"uploads {time.monotonic() - started:.0f}s"
        if plan.upload_modules:
            # depmod reads every module of the kernel: minutes on a slow or
            # emulated host, so it gets the bound of the other whole-tree steps.
            started = time.monotonic()
            check(self.client, f"depmod -a {quote(art.kernel_release)}", timeout=DEPMOD_TIMEOUT_S)
            took += f", depmod {time.monotonic() - started:.0f}s"
        self.step(
            "upload", "pass", f"xen: {plan.upload_xen}, modules: {plan.upload_modules} ({took})"
        )
        if plan.write_entry:
            self._write_grub_entry(facts)
        state = {
            "build_id": art.build_id,
            "xen": art.xen_path,
            "xen_sha256": art.xen_gz_sha256,
            "entry": art.entry_id,
            "extra_xen_args": art.extra_xen_args,
            "kernel_release": art.kernel_release,
            "modules": art.modules,
            "installed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        self._write_remote(STATE_FILE, json.dumps(state, indent=2) + "\n", 0o644)
        self.step("install", "pass", f"GRUB entry {art.entry_id}; default unchanged")
        self.outcome.left = (
            f"build {art.build_id[:16]} installed as GRUB entry {art.entry_id}; "
            "the default entry is unchanged"
        )

    def _write_remote(self, path: str, text: str, mode: int) -> None:
        assert self.client is not None
        tmp = f"{path}.sgkit-part"
        with self.client.open_sftp() as sftp:
            with sftp.open(tmp, "w") as fh:
                fh.write(text)
            sftp.chmod(tmp, mode)
        check(self.client, f"mv -f {quote(tmp)} {quote(path)}")

    def _write_grub_entry(self, facts: HostFacts) -> None:
        assert self.client is not None
        earlier = (facts.state or {}).get("extra_xen_args", "")
        xen_cmdline = entry_xen_args(
            check(self.client, "xl info | sed -n 's/^xen_commandline *: //p'"),
            self.art.extra_xen_args,
            earlier if isinstance(earlier, str) else "",
        )
        cmdline = kernel_args_from_cmdline(check(self.client, "cat /proc/cmdline"))
        try:
            script = grub_script(self.art, safe_args(xen_cmdline), safe_args(cmdline))
        except ValueError as e:
            raise KitError(f"cannot copy the running boot arguments into a GRUB entry: {e}") from e
        self._write_remote(GRUB_SNIPPET, script, 0o755)
        started = time.monotonic()
        done = ssh_run(self.client, "update-grub 2>&1", timeout=300)
        took = time.monotonic() - started
        if done.status != 0 or self.art.menu_marker not in check(
            self.client, "cat /boot/grub/grub.cfg"
        ):
            # Put GRUB back as it was before failing.
            ssh_run(self.client, f"rm -f {GRUB_SNIPPET}; update-grub", timeout=300)
            raise KitError(
                f"update-grub did not produce the entry {self.art.entry_id}: "
                f"{done.stdout.strip()[-600:]}",
                f"the GRUB snippet was removed again; {self.art.xen_path} stays on the host",
            )
        self.say(
            f"GRUB entry {self.art.entry_id} added (default unchanged; update-grub {took:.0f}s)"
        )

    def _disarm_one_shot(self) -> None:
        """Interrupted before the reboot: do not leave a one-shot boot armed."""
        if self.client is not None:
            try:
                ssh_run(self.client, "grub-editenv - unset next_entry", timeout=10)
            except (KitError, OSError):
                pass

    def _reboot_and_verify(self, facts: HostFacts) -> None:
        assert self.client is not None
        art = self.art
        boot_id = check(self.client, "cat /proc/sys/kernel/random/boot_id").strip()
        check(self.client, f"grub-reboot {quote(art.entry_id)}")
        if self.cancel.is_set():
            self._disarm_one_shot()
            self.checkpoint()
        self.outcome.left = f"one-shot boot of {art.entry_id} armed; default unchanged"
        command = self.opts.power_cycle_for(self.alias)
        self.say(f"rebooting into {art.entry_id} once")
        if command:
            self.say(f"if it is not back in {self.opts.reboot_timeout_s:.0f}s: {command}")
        ssh_run(self.client, "nohup sh -c 'sleep 2; reboot' >/dev/null 2>&1 &", timeout=15)
        self.client.close()
        self.client = None
        power_cycled = False
        if not self._wait_for_new_boot(boot_id):
            self._power_cycle(command)
            power_cycled = True
            after_s = self.opts.power_cycle_timeout_s or self.opts.reboot_timeout_s
            if not self._wait_for_new_boot(boot_id, "after the power cycle", after_s):
                self.outcome.left = "power-cycled; the host did not come back (check its console)"
                raise KitError(
                    f"the host did not come back within {after_s:.0f}s "
                    f"after the power cycle ({command})",
                    "look at the host's console; the one-shot entry is used up, so a "
                    "working host boots its old default",
                )
        after = self.probe()
        self.outcome.running_build_id = after.running_build_id
        if after.running_build_id == art.build_id:
            self.step("build-id", "pass", f"running {art.build_id}")
            self.outcome.left = f"running build {art.build_id[:16]} (one-shot entry)"
            return
        self._report_fallback(facts.running_build_id, after.running_build_id, power_cycled)

    def _report_fallback(self, before: str | None, now: str | None, power_cycled: bool) -> None:
        art = self.art
        running = now or "unknown"
        self.step("build-id", "fail", f"running {running}, not {art.build_id}")
        if power_cycled:
            self.outcome.left = (
                f"booted fallback after power cycle: the new hypervisor hung; the host runs "
                f"the default entry (build id {running}; before: {before or 'unknown'})"
            )
            raise KitError(
                f"build {art.build_id[:16]} did not come up within "
                f"{self.opts.reboot_timeout_s:.0f}s; after the power cycle the host booted "
                f"the fallback (default entry, build id {running})",
                "look at the host's serial console for why the new hypervisor hung",
            )
        self.outcome.left = (
            f"the new hypervisor did not come up: the host fell back to the default "
            f"entry (build id {running}; before: {before or 'unknown'})"
        )
        raise KitError(
            f"after the reboot the host runs build id {now}, "
            f"not {art.build_id}: the one-shot boot failed and the host fell back",
            "look at the host's serial console or `xl dmesg`",
        )

    def _power_cycle(self, command: str | None) -> None:
        """The host is not back: power-cycle it with its command, or stop saying how."""
        waited = f"{self.opts.reboot_timeout_s:.0f}s"
        self.step("reboot", "fail", f"no SSH after {waited}")
        if not command:
            self.outcome.left = (
                f"one-shot boot of {self.art.entry_id} used; the host does not answer "
                "(hung?); the default entry is unchanged"
            )
            raise KitError(
                f"the host did not come back within {waited}",
                "power-cycle it (the one-shot entry is used up, so it boots the old "
                "default); to let deploy do that, give --power-cycle CMD or power_cycle "
                "in the hosts file (docs/deploy.md)",
            )
        self.say(f"no SSH after {waited}: power-cycling: {command}")
        try:
            output = power_cycle(command, self.alias)
        except KitError:
            self.step("power-cycle", "fail", command)
            self.outcome.left = (
                f"one-shot boot of {self.art.entry_id} used; the host does not answer "
                "and its power-cycle command failed"
            )
            raise
        self.step("power-cycle", "pass", command + (f": {output[-200:]}" if output else ""))

    def _run_suites(self) -> None:
        """insmod sgtest with the suites on the host; its KTAP comes back as results."""
        assert self.client is not None
        suites = self.opts.run_suites
        if not all(c.isalnum() or c in "_," for c in suites):
            raise KitError(f"--run {suites!r}: suites are names separated by commas")
        ko = self.art.module_path("sgtest")
        if guests.needs_domus(suites):
            modules = guests.Modules(
                dict(self.build.modules),
                {name: self.art.module_path(name) for name in self.build.modules},
            )
            run = guests.run_with_domus(
                self.client, modules, self.art.kernel_release, suites, self.alias, self.say
            )
            self.outcome.steps.extend(run.results)
            self.outcome.logs.update(run.logs)
            self.say(f"sgtest: {len(run.results)} results from dom0 and the domUs")
            return
        marker = f"sgkit-run-{time.time_ns()}"
        self.say(f"running sgtest suites={suites}")
        script = (
            f"rmmod sgtest 2>/dev/null; echo {marker} > /dev/kmsg; "
            f"insmod {quote(ko)} suites={suites}; rc=$?; rmmod sgtest 2>/dev/null; "
            f"dmesg | sed -n '/{marker}/,$p'; exit $rc"
        )
        done = ssh_run(self.client, script, timeout=1800)
        self.outcome.logs["dom0-dmesg.log"] = done.stdout
        self.outcome.logs["xl-dmesg.log"] = ssh_run(self.client, "xl dmesg").stdout
        found = results_from_ktap(ktap.parse(done.stdout, domain=self.alias), self.alias)
        if not found:
            why = (done.stderr or done.stdout).strip()[-300:] or "no KTAP in dmesg"
            self.step("sgtest", "error", f"insmod status {done.status}: {why}")
        self.outcome.steps.extend(found)
        self.say(f"sgtest: {len(found)} results")

    def _wait_for_new_boot(
        self, old_boot_id: str, when: str = "after reboot", timeout_s: float | None = None
    ) -> bool:
        """Until SSH answers with a boot id other than ``old_boot_id``; False at the timeout."""
        deadline = time.monotonic() + (timeout_s or self.opts.reboot_timeout_s)
        start = time.monotonic()
        last_say = start
        while time.monotonic() < deadline:
            self.checkpoint_waiting()
            time.sleep(5)
            try:
                client = self.connect_quiet()
            except KitError:
                if time.monotonic() - last_say >= 30:
                    self.say(f"waiting for SSH {when} ({time.monotonic() - start:.0f}s)")
                    last_say = time.monotonic()
                continue
            boot_id = ssh_run(client, "cat /proc/sys/kernel/random/boot_id").stdout.strip()
            if boot_id and boot_id != old_boot_id:
                self.client = client
                self.say(f"back after {time.monotonic() - start:.0f}s")
                self.step("reboot", "pass", f"back {when} in {time.monotonic() - start:.0f}s")
                return True
            client.close()  # still the old boot, shutting down
        return False

    def checkpoint_waiting(self) -> None:
        """Interrupted while the host reboots: nothing to undo, stop waiting."""
        if self.cancel.is_set():
            self.outcome.left = (
                f"rebooted into the one-shot entry {self.art.entry_id}; interrupted while "
                "waiting for it (the default entry is unchanged)"
            )
            raise KitError(
                "interrupted while waiting for the host to come back",
                "check the host; the one-shot entry is used up, so it boots the old default",
            )

    def connect_quiet(self) -> paramiko.SSHClient:
        spec = ssh_hosts.resolve(self.alias, self.opts.ssh_config)
        return ssh_hosts.connect(
            spec,
            accept_new=False,
            known_hosts=self.opts.known_hosts,
            config_path=self.opts.ssh_config,
            timeout=self.opts.connect_timeout_s,
        )


_print_lock = threading.Lock()


def _sayer(host: str, width: int) -> Callable[[str], None]:
    def say(message: str) -> None:
        with _print_lock:
            progress.say(f"{host:<{width}} | {message}")

    return say


def deploy_hosts(
    hosts: list[str], build: LocalBuild, opts: Options, results_root: Path
) -> tuple[list[HostOutcome], Path]:
    """Deploy to every host in parallel; one host's failure does not stop the others."""
    if not hosts:
        raise KitError("no hosts given", "pass --host HOST (repeatable)")
    try:
        safe_args(opts.xen_args)
    except ValueError as e:
        raise KitError(f"--xen-args {opts.xen_args!r}: {e}", "give plain Xen options") from e
    run_dir = new_run_dir(results_root, "deploy")
    width = max(len(h) for h in hosts)
    cancel = threading.Event()
    workers = [_Host(h, build, opts, _sayer(h, width), cancel) for h in hosts]
    with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        futures = [pool.submit(w.run) for w in workers]
        try:
            outcomes = [f.result() for f in futures]
        except KeyboardInterrupt:
            progress.say("interrupted: letting each host finish its current step safely")
            cancel.set()
            outcomes = [f.result() for f in futures]
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for outcome in outcomes:
        report = RunReport(
            name=f"deploy-{outcome.host}",
            results=outcome.steps,
            verdict=None,
            started=started,
            duration_s=outcome.duration_s,
            meta={
                "host": outcome.host,
                "build_id": build.artifacts.build_id,
                "running_build_id": outcome.running_build_id,
                "left": outcome.left,
                "error": outcome.error,
            },
        )
        out = run_dir / _safe_name(outcome.host)
        out.mkdir(parents=True, exist_ok=True)
        write_json(report, out / "results.json")
        write_junit(report, out / "junit.xml")
        (out / "summary.txt").write_text(summary_line(outcome) + "\n")
        for name, text in outcome.logs.items():
            (out / name).write_text(text)
    return outcomes, run_dir


def _safe_name(host: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in host)


def summary_line(outcome: HostOutcome) -> str:
    state = "OK" if outcome.ok else "FAILED"
    line = f"{outcome.host}: {state}; left: {outcome.left}"
    if outcome.error:
        line += "\n  " + outcome.error.replace("\n", "\n  ")
    return line


def summary(outcomes: list[HostOutcome]) -> str:
    failed = [o for o in outcomes if not o.ok]
    head = f"deploy: {len(outcomes) - len(failed)} of {len(outcomes)} hosts ok"
    return "\n".join([head, *(summary_line(o) for o in outcomes)])
