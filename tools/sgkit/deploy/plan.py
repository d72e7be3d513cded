"""What a deploy must do on one host, decided from what is there (pure logic).

Nothing here talks to a host: ``make_plan`` compares the build with the
checksums found on the host and the running build id; ``grub_script``
renders the /etc/grub.d snippet for the one-shot entry.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from sgkit.build.versions import SG_OP_ENABLE
from sgkit.deploy.host_probe import MODULES_SUBDIR, SGKIT_BOOT_DIR

GRUB_SNIPPET = "/etc/grub.d/42_sgkit"


@dataclass(frozen=True)
class Artifacts:
    build_id: str
    xen_version: str  # e.g. 4.17.5
    xen_gz_sha256: str
    kernel_release: str
    modules: dict[str, str]  # name -> sha256 of name.ko
    extra_xen_args: str = ""  # deploy --xen-args: added to the entry's Xen command line

    @property
    def entry_id(self) -> str:
        """``sgkit-<16 hex of the build id>``, plus a digest of --xen-args if any."""
        entry = f"sgkit-{self.build_id[:16]}"
        if self.extra_xen_args:
            entry += "-" + hashlib.sha256(self.extra_xen_args.encode()).hexdigest()[:8]
        return entry

    @property
    def menu_marker(self) -> str:
        """What grub.cfg holds exactly when the entry is there (not a longer id)."""
        return f"--id {self.entry_id} {{"

    @property
    def xen_path(self) -> str:
        return f"{SGKIT_BOOT_DIR}/xen-{self.build_id}.gz"

    def module_path(self, name: str) -> str:
        return f"/lib/modules/{self.kernel_release}/{MODULES_SUBDIR}/{name}.ko"


@dataclass
class Plan:
    upload_xen: bool = False
    upload_modules: list[str] = field(default_factory=list)
    write_entry: bool = False
    reboot: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def changes_anything(self) -> bool:
        return bool(self.upload_xen or self.upload_modules or self.write_entry)


def make_plan(
    art: Artifacts,
    remote_sha: dict[str, str],
    entry_present: bool,
    running_build_id: str | None,
    want_reboot: bool,
) -> Plan:
    """The steps still needed; a second run after a complete one plans nothing."""
    plan = Plan()
    running = running_build_id == art.build_id
    if remote_sha.get(art.xen_path) == art.xen_gz_sha256:
        plan.notes.append(f"{art.xen_path} is already on the host")
    else:
        plan.upload_xen = True
    for name, sha in sorted(art.modules.items()):
        if remote_sha.get(art.module_path(name)) != sha:
            plan.upload_modules.append(name)
    if plan.upload_xen or not entry_present:
        plan.write_entry = True
    if running:
        plan.notes.append(f"the host already runs build {art.build_id[:16]}")
    elif want_reboot:
        plan.reboot = True
    return plan


def grub_script(art: Artifacts, xen_args: str, kernel_args: str) -> str:
    """An /etc/grub.d script adding one menu entry for this build (never the default).

    It goes after Debian's own entries (42 > 20_linux_xen, 40_custom), so an
    index-based GRUB_DEFAULT still names the old entry; ``grub-reboot`` picks
    it for one boot only.  The paths are resolved by grub-mkconfig's own
    helpers, so a separate /boot partition works too.
    """
    kver = art.kernel_release
    extra = f", with {art.extra_xen_args}" if art.extra_xen_args else ""
    title = f"sgkit: Xen {art.xen_version} build {art.build_id[:16]} (one-shot{extra})"
    return f"""#!/bin/sh
# Written by sgkit (invoke deploy): a one-shot entry for hypervisor build
# {art.build_id}.  Remove this file and run update-grub to drop it.
set -e
. /usr/share/grub/grub-mkconfig_lib
xen={art.xen_path}
kernel=/boot/vmlinuz-{kver}
initrd=/boot/initrd.img-{kver}
[ -f "$xen" ] && [ -f "$kernel" ] || exit 0
echo "Found sgkit hypervisor: $xen" >&2
device=$(${{grub_probe}} --target=device "$xen")
cat <<EOF
menuentry '{title}' --id {art.entry_id} {{
	insmod gzio
$(prepare_grub_to_access_device "$device" | sed 's/^/\t/')
	echo 'Loading sgkit Xen {art.build_id[:16]} ...'
	if multiboot2 $(make_system_path_relative_to_its_root "$xen") placeholder {xen_args}; then
		module2 $(make_system_path_relative_to_its_root "$kernel") placeholder {kernel_args}
EOF
if [ -f "$initrd" ]; then
	echo "		module2 --nounzip $(make_system_path_relative_to_its_root "$initrd")"
fi
cat <<EOF
	else
		# GRUB cannot load it.  A failed entry would stop at the menu with no
		# timeout; next_entry is already used up, so a reboot boots the default.
		echo 'sgkit: cannot load this hypervisor; rebooting into the default entry'
		sleep 3
		reboot
	fi
}}
EOF
"""


def kernel_args_from_cmdline(cmdline: str, drop: str = "") -> str:
    """/proc/cmdline without what GRUB adds itself (BOOT_IMAGE=, placeholder).

    ``drop``: words to leave out too (--xen-args of this or an earlier deploy,
    when the host runs an sgkit entry, so that they are not copied twice).
    """
    unwanted = set(drop.split()) | {"placeholder"}
    words = [w for w in cmdline.split() if not w.startswith("BOOT_IMAGE=") and w not in unwanted]
    return " ".join(words)


def entry_xen_args(running: str, extra: str, earlier_extra: str = "") -> str:
    """The entry's Xen command line: the running one (minus old extras), sg_op=1, ``extra``.

    The patched hypervisor's sg_op is off unless the command line enables it,
    so the entry always does (once, wherever the running line had it).
    """
    base = kernel_args_from_cmdline(running, f"{extra} {earlier_extra} {SG_OP_ENABLE}")
    return " ".join(w for w in (base, SG_OP_ENABLE, extra) if w)


def safe_args(args: str) -> str:
    """Refuse arguments that would break out of the generated shell/GRUB text."""
    bad = set(args) & set("'\"`$\\{}\n;")
    if bad:
        raise ValueError(f"boot arguments contain {''.join(sorted(bad))!r}")
    return args
