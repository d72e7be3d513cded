"""Pure logic of invoke deploy: ssh config, host probe parsing, checks, plans, GRUB text."""

from __future__ import annotations

import subprocess
from dataclasses import replace

import pytest

from sgkit.deploy import guests, hosts_file
from sgkit.deploy.host_probe import parse_df, parse_probe, problems
from sgkit.deploy.plan import (
    Artifacts,
    entry_xen_args,
    grub_script,
    kernel_args_from_cmdline,
    make_plan,
    safe_args,
)
from sgkit.deploy.power_cycle import power_cycle
from sgkit.deploy.rollout import HostOutcome, Options, summary
from sgkit.deploy.ssh_hosts import resolve
from sgkit.errors import KitError
from sgkit.images.initramfs import guest_script

BUILD_ID = "4517c7f7a9b049c3db322d50979c93411be92cad"
KVER = "6.1.0-50-amd64"


def artifacts() -> Artifacts:
    return Artifacts(
        build_id=BUILD_ID,
        xen_version="4.17.5",
        xen_gz_sha256="aa" * 32,
        kernel_release=KVER,
        modules={"sgtest": "bb" * 32, "sgnet": "cc" * 32},
    )


# --- ssh config ------------------------------------------------------------------

SSH_CONFIG = """\
Host lab1
    HostName 10.0.0.5
    User labadmin
    Port 2222
    IdentityFile ~/.ssh/lab_key
    ProxyJump bastion

Host bastion
    HostName bastion.example.org
    User jump

Host *.lab
    User root
    Port 2200
"""


@pytest.fixture
def ssh_config(tmp_path):
    path = tmp_path / "config"
    path.write_text(SSH_CONFIG)
    return path


def test_resolve_reads_every_field(ssh_config):
    spec = resolve("lab1", ssh_config)
    assert (spec.hostname, spec.user, spec.port) == ("10.0.0.5", "labadmin", 2222)
    assert spec.proxy_jump == "bastion"
    assert spec.identity_files[0].endswith("/.ssh/lab_key")
    assert "via bastion" in spec.describe()


def test_resolve_wildcards_and_command_line_overrides(ssh_config):
    spec = resolve("box.lab", ssh_config)
    assert (spec.hostname, spec.user, spec.port, spec.proxy_jump) == ("box.lab", "root", 2200, None)
    spec = resolve("admin@box.lab:2022", ssh_config)
    assert (spec.user, spec.port) == ("admin", 2022)


def test_resolve_without_a_config(tmp_path):
    spec = resolve("root@127.0.0.1:10022", tmp_path / "missing")
    assert (spec.hostname, spec.user, spec.port) == ("127.0.0.1", "root", 10022)


# --- the probe -------------------------------------------------------------------

PROBE_OUTPUT = f"""\
== os-release
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
ID=debian
VERSION_CODENAME=bookworm
== uname
{KVER}
== xl-info
host                   : lab1
release                : {KVER}
xen_major              : 4
xen_minor              : 17
xen_extra              : .5
xen_version            : 4.17.5
xen_commandline        : placeholder dom0_mem=2G,max:2G
== df
Filesystem     1024-blocks    Used Available Capacity Mounted on
/dev/vda1           480000   90000    390000      19% /boot
/dev/vda2         10000000 4000000   6000000      40% /
== tools
grub-reboot /usr/sbin/grub-reboot
grub-editenv /usr/bin/grub-editenv
update-grub /usr/sbin/update-grub
depmod /usr/sbin/depmod
sha256sum /usr/bin/sha256sum
grub.cfg /boot/grub/grub.cfg
== buildid

== dmesg-buildid
build-id: 0123456789abcdef0123456789abcdef01234567
== state
{{"build_id": "{BUILD_ID}"}}
== id
0
"""


def test_parse_probe_reads_every_section():
    facts = parse_probe(PROBE_OUTPUT)
    assert facts.os_release["ID"] == "debian"
    assert facts.kernel_release == KVER
    assert facts.xen_series == "4.17"
    assert facts.xl_info["xen_commandline"] == "placeholder dom0_mem=2G,max:2G"
    assert facts.free_kb == {"/boot": 390000, "/lib/modules": 6000000}
    assert facts.boot_loader == "grub"
    assert facts.running_build_id == "0123456789abcdef0123456789abcdef01234567"
    assert facts.state == {"build_id": BUILD_ID}
    assert facts.uid == 0
    assert problems(facts, "4.17", KVER) == []


def test_sysfs_build_id_wins_over_dmesg():
    text = PROBE_OUTPUT.replace("== buildid\n", f"== buildid\n{BUILD_ID}\n")
    assert parse_probe(text).running_build_id == BUILD_ID


def test_a_host_without_xen_is_refused():
    text = (
        PROBE_OUTPUT.split("== xl-info")[0] + "== xl-info\nsh: xl: not found\nxl-info-failed 127\n"
    )
    facts = parse_probe(text + "== id\n0\n")
    found = problems(facts, "4.17", KVER)
    assert any("`xl info` failed" in p for p in found)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("ID=debian", "ID=fedora", "not a Debian-like system"),
        ("xen_minor              : 17", "xen_minor              : 18", "the build is Xen 4.17"),
        (f"== uname\n{KVER}", "== uname\n6.1.0-99-amd64", "built for 6.1.0-50-amd64"),
        ("   390000      19% /boot", "     2000      99% /boot", "/boot has 1 MiB free"),
        ("update-grub /usr/sbin/update-grub\n", "", "no GRUB with update-grub"),
        ("== id\n0", "== id\n1000", "not root"),
    ],
)
def test_each_misfit_is_named(old, new, expected):
    assert old in PROBE_OUTPUT
    facts = parse_probe(PROBE_OUTPUT.replace(old, new))
    found = problems(facts, "4.17", KVER)
    assert len(found) == 1 and expected in found[0], found


def test_a_host_on_another_xen_is_told_which_build_it_needs():
    debian13 = PROBE_OUTPUT.replace(
        "xen_minor              : 17\nxen_extra              : .5\nxen_version            : 4.17.5",
        "xen_minor              : 20\nxen_extra              : .4\nxen_version            : 4.20.4",
    )
    [found] = problems(parse_probe(debian13), "4.17", KVER)
    assert "the host runs Xen 4.20.4, the build is Xen 4.17" in found
    assert "no patch context for Xen 4.20 yet" in found and "contexts/4.20.toml" in found
    [found] = problems(parse_probe(PROBE_OUTPUT), "4.22", KVER)
    assert "build and deploy with --xen 4.17" in found


def test_ubuntu_counts_as_debian_like():
    facts = parse_probe(PROBE_OUTPUT.replace("ID=debian", "ID=ubuntu\nID_LIKE=debian"))
    assert problems(facts, "4.17", KVER) == []


def test_df_failure_is_reported():
    assert parse_df(["df: /boot: No such file or directory"]) == {}
    facts = parse_probe(PROBE_OUTPUT.replace("/dev/vda1", "df: x\n").replace("/dev/vda2", "y"))
    assert any("free space" in p for p in problems(facts, "4.17", KVER))


# --- plans -----------------------------------------------------------------------


def test_fresh_host_gets_everything():
    plan = make_plan(artifacts(), {}, entry_present=False, running_build_id=None, want_reboot=True)
    assert plan.upload_xen and plan.write_entry and plan.reboot
    assert plan.upload_modules == ["sgnet", "sgtest"]


def test_second_run_is_a_no_op():
    art = artifacts()
    remote = {art.xen_path: art.xen_gz_sha256} | {
        art.module_path(n): s for n, s in art.modules.items()
    }
    plan = make_plan(art, remote, entry_present=True, running_build_id=BUILD_ID, want_reboot=True)
    assert not plan.changes_anything and not plan.reboot
    assert any("already runs" in n for n in plan.notes)


def test_installed_but_not_running_reboots_without_uploading():
    art = artifacts()
    remote = {art.xen_path: art.xen_gz_sha256} | {
        art.module_path(n): s for n, s in art.modules.items()
    }
    plan = make_plan(art, remote, entry_present=True, running_build_id="ff" * 20, want_reboot=True)
    assert not plan.changes_anything and plan.reboot


def test_a_changed_file_on_the_host_is_uploaded_again():
    art = artifacts()
    remote = {art.xen_path: "00" * 32, art.module_path("sgtest"): art.modules["sgtest"]}
    plan = make_plan(art, remote, entry_present=True, running_build_id=None, want_reboot=False)
    assert plan.upload_xen and plan.write_entry and plan.upload_modules == ["sgnet"]
    assert not plan.reboot


def test_paths_live_in_sgkit_places():
    art = artifacts()
    assert art.xen_path == f"/boot/sgkit/xen-{BUILD_ID}.gz"
    assert art.module_path("sgtest") == f"/lib/modules/{KVER}/extra/sgkit/sgtest.ko"
    assert art.entry_id == f"sgkit-{BUILD_ID[:16]}"


# --- GRUB ------------------------------------------------------------------------


def test_grub_script_is_valid_shell_and_names_the_entry(tmp_path):
    script = grub_script(artifacts(), "dom0_mem=2G,max:2G", "root=/dev/vda2 ro console=hvc0")
    path = tmp_path / "42_sgkit"
    path.write_text(script)
    assert subprocess.run(["sh", "-n", str(path)]).returncode == 0
    assert f"--id sgkit-{BUILD_ID[:16]}" in script
    assert "multiboot2" in script and "module2 --nounzip" in script
    assert "else\n\t\t# GRUB cannot load it" in script and "\t\treboot\n" in script
    assert "dom0_mem=2G,max:2G" in script and "root=/dev/vda2 ro console=hvc0" in script


def test_boot_arguments():
    assert kernel_args_from_cmdline("BOOT_IMAGE=/vmlinuz placeholder root=/dev/sda1 ro\n") == (
        "root=/dev/sda1 ro"
    )
    with pytest.raises(ValueError):
        safe_args("root=/dev/sda1 $(reboot)")


# --- summary ---------------------------------------------------------------------


def test_summary_names_failed_hosts_and_why():
    ok = HostOutcome("lab1", ok=True, left="running build 4517c7f7a9b049c3")
    bad = HostOutcome("lab2", error="lab2: the host key is unknown")
    text = summary([ok, bad])
    assert text.splitlines()[0] == "deploy: 1 of 2 hosts ok"
    assert "lab2: FAILED; left: nothing changed" in text
    assert "host key is unknown" in text


# --- --xen-args and the entry ------------------------------------------------------


def test_extra_xen_args_make_their_own_entry():
    plain = artifacts()
    hanging = replace(plain, extra_xen_args="iommu=required noreboot")
    assert plain.entry_id == f"sgkit-{BUILD_ID[:16]}"
    assert hanging.entry_id.startswith(plain.entry_id + "-") and len(hanging.entry_id) == 31
    # grub.cfg holding the longer id does not count as holding the plain one.
    assert plain.menu_marker not in f"menuentry 'x' {hanging.menu_marker}"
    script = grub_script(
        hanging, entry_xen_args("placeholder dom0_mem=1G", hanging.extra_xen_args), "ro"
    )
    assert f"--id {hanging.entry_id} {{" in script
    assert "placeholder dom0_mem=1G sg_op=1 iommu=required noreboot" in script


def test_entry_xen_args_do_not_pile_up():
    running = "placeholder console=com1 iommu=required noreboot"
    assert entry_xen_args(running, "", "iommu=required noreboot") == "console=com1 sg_op=1"
    assert entry_xen_args(running, "loglvl=all", "iommu=required noreboot") == (
        "console=com1 sg_op=1 loglvl=all"
    )
    assert entry_xen_args("console=com1", "") == "console=com1 sg_op=1"
    # The patched Xen's sg_op is off without it: always there, once.
    assert entry_xen_args("sg_op=1 console=com1", "") == "console=com1 sg_op=1"


# --- the hosts file and the power cycle ----------------------------------------------

HOSTS_TOML = """\
[hosts."lab1"]
power_cycle = "ipmitool -I lanplus -H lab1-bmc -U admin -E chassis power cycle"

[hosts."*.lab"]
power_cycle = "ipmitool -H {host}-bmc chassis power cycle"

[hosts."quiet.lab"]
"""


def test_hosts_file_first_match_wins_and_host_is_quoted():
    config = hosts_file.parse(HOSTS_TOML)
    assert "lab1-bmc" in (config.settings_for("lab1").power_cycle or "")
    opts = Options(hosts=config)
    assert opts.power_cycle_for("box.lab") == "ipmitool -H box.lab-bmc chassis power cycle"
    assert opts.power_cycle_for("quiet.lab") is not None  # "*.lab" came first
    assert opts.power_cycle_for("elsewhere") is None
    assert opts.power_cycle_for("a b.lab") == "ipmitool -H 'a b.lab'-bmc chassis power cycle"
    # --power-cycle applies to every host and wins over the file.
    assert Options(hosts=config, power_cycle="pdu off {host}").power_cycle_for("lab1") == (
        "pdu off lab1"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[hosts.lab1\n", "not valid TOML"),
        ('[hosts."lab1"]\npowercycle = "x"\n', "unknown key(s) powercycle"),
        ('[hosts."lab1"]\npower_cycle = ""\n', "non-empty string"),
        ('[lab1]\npower_cycle = "x"\n', "unknown table(s) lab1"),
    ],
)
def test_bad_hosts_file_is_named(text, expected, tmp_path):
    path = tmp_path / "hosts.toml"
    path.write_text(text)
    with pytest.raises(KitError) as err:
        hosts_file.load(path)
    assert expected in str(err.value) and str(path) in str(err.value)


def test_missing_hosts_file(tmp_path, monkeypatch):
    monkeypatch.setenv("SGKIT_HOSTS_FILE", str(tmp_path / "none.toml"))
    assert hosts_file.load(None).sections == ()  # the default may be absent
    with pytest.raises(KitError, match="does not exist"):
        hosts_file.load(tmp_path / "none.toml")  # a named one may not


def test_power_cycle_runs_the_command_and_reports_failure():
    assert power_cycle('echo "cycled $SGKIT_HOST"', "lab1") == "cycled lab1"
    with pytest.raises(KitError) as err:
        power_cycle("echo no BMC >&2; exit 3", "lab1")
    assert "status 3" in str(err.value) and "no BMC" in str(err.value)


# --- suites with domUs on the host (deploy_guests) -----------------------------------

DOMUS_OUTPUT = """\
SGKIT-STEP sgtest-dir rc=0
SGKIT-STEP xl-create-sg-a rc=0
SGKIT-STEP xl-create-sg-b rc=0
SGKIT-INSMOD sgtest rc=0
SGKIT-DOMU sg-a state=done seconds=12
SGKIT-DOMU sg-b state=timeout seconds=300
SGKIT-STEP xl-destroy-sg-a rc=0
SGKIT-STEP xl-destroy-sg-b rc=1
SGKIT-DOMAINS-LEFT count=1 sg-b(2)
SGKIT-DOMUS-DONE
"""


def test_only_cross_domain_suites_need_domus():
    assert guests.needs_domus("sg_op,sg_cross")
    assert not guests.needs_domus("sg_op,sg_local")
    assert not guests.needs_domus("sg_cross_after")


def test_domus_conf_is_shell_the_script_reads(tmp_path):
    conf = guests.domus_conf("sg_op,sg_cross", KVER, "/lib/x/sgtest.ko", "sgkit-run-1")
    path = tmp_path / "domus.conf"
    path.write_text(conf)
    shown = subprocess.run(
        ["sh", "-c", f'. {path}; echo "$DOMUS|$KERNEL|$SGTEST_ARGS"'],
        capture_output=True,
        text=True,
    ).stdout.strip()
    assert shown == f"sg-a sg-b|/boot/vmlinuz-{KVER}|suites=sg_op,sg_cross cross_self=dom0"


def test_with_sgnet_the_bucket_flood_is_skipped_in_dom0_as_in_the_domus():
    conf = guests.domus_conf("sg_op,sg_cross", KVER, "/x/sgtest.ko", "m", "/x/sgnet.ko")
    assert 'SGTEST_ARGS="suites=sg_op,sg_cross cross_self=dom0 cross_flood=0"' in conf
    alone = guests.domus_conf("sg_op,sg_cross", KVER, "/x/sgtest.ko", "m")
    assert "cross_flood" not in alone


def test_domus_checks_name_what_went_wrong():
    logs = {"sg-a": "SGKIT-INIT x\nSGKIT-DONE\n", "sg-b": "SGKIT-INIT x\n"}
    found = {r.test: r for r in guests.domu_checks(DOMUS_OUTPUT, logs)}
    assert (
        found["dom0_setup"].status == "fail"
        and "xl-destroy-sg-b rc=1" in found["dom0_setup"].reason
    )
    assert found["sg-a_finished"].status == "pass"
    assert found["sg-b_finished"].status == "fail"
    assert "'timeout' after 300s" in found["sg-b_finished"].reason
    assert "no SGKIT-DONE" in found["sg-b_finished"].reason
    assert found["no_domain_left"].status == "fail" and "sg-b(2)" in found["no_domain_left"].reason


def test_deploy_domus_script_is_valid_shell():
    assert subprocess.run(["sh", "-n", str(guest_script("deploy-domus.sh"))]).returncode == 0


def test_sgnet_in_run_is_the_link_test_not_a_suite():
    assert guests.split_run("sg_op,sgnet,sg_cross") == ("sg_op,sg_cross", True)
    assert guests.split_run("sg_op") == ("sg_op", False)
    assert guests.needs_domus("sgnet")
    conf = guests.domus_conf("", KVER, "/x/sgtest.ko", "m", "/x/sgnet.ko")
    assert 'SGTEST_ARGS=""' in conf and 'CROSS_AFTER_ARGS=""' in conf
    assert 'SGNET="/x/sgnet.ko"' in conf


def test_sgnet_link_checks():
    dom0 = (
        "SGKIT-NET dom0 devid=0 if=vsg1.0 state=up carrier=1\n"
        "SGKIT-PING from=dom0 to=169.254.77.2 if=vsg1.0 rc=0 tries=1\n"
        "SGKIT-NET-AFTER dom0 if=vsg1.0 carrier=1\n"
    )
    guest = "SGKIT-NET sg-a devid=0 if=none state=no-interface carrier=0\n"
    found = {r.test: r for r in guests.net_checks(dom0, {"sg-a": guest})}
    assert found["link_up_dom0"].status == "pass" and found["ping_dom0_to_sg-a"].status == "pass"
    assert found["link_up_sg-a"].status == "fail" and "no-interface" in found["link_up_sg-a"].reason
    assert found["ping_sg-a_to_dom0"].reason == "sg-a reported no ping"
    assert found["dom0_carrier_lost_on_destroy"].status == "fail"


def test_a_syslinux_host_is_refused_by_name():
    text = PROBE_OUTPUT.replace("grub.cfg /boot/grub/grub.cfg", "syslinux.cfg /boot/syslinux.cfg")
    found = problems(parse_probe(text), "4.17", KVER)
    assert len(found) == 1 and "boots with SYSLINUX (/boot/syslinux.cfg)" in found[0], found
    assert "switch the host to GRUB" in found[0]
