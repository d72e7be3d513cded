"""What a deploy target must be, read from one probe run over SSH (pure parsing).

The probe (``PROBE``) prints sections (``== name``) for /etc/os-release,
``uname -r``, ``xl info``, ``df`` of /boot and /lib/modules, the boot loader
tools, the running hypervisor's build id and what sgkit installed before.
``parse_probe`` turns that into HostFacts; ``problems`` lists every reason
the host is not a fit for the build, each one sentence a user can act on.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from sgkit.build.versions import known_versions

# Where sgkit keeps its files and its record of what it installed, on the host.
SGKIT_BOOT_DIR = "/boot/sgkit"
STATE_FILE = f"{SGKIT_BOOT_DIR}/state.json"
MODULES_SUBDIR = "extra/sgkit"

PROBE = r"""
echo '== os-release'; cat /etc/os-release 2>/dev/null
echo '== uname'; uname -r
echo '== xl-info'; xl info 2>&1 || echo "xl-info-failed $?"
echo '== df'; df -Pk /boot /lib/modules 2>&1
echo '== tools'
for t in grub-reboot grub-editenv update-grub depmod sha256sum; do
  p=$(command -v $t 2>/dev/null) && echo "$t $p"
done
[ -f /boot/grub/grub.cfg ] && echo "grub.cfg /boot/grub/grub.cfg"
for f in /boot/extlinux/extlinux.conf /boot/syslinux/syslinux.cfg /boot/syslinux.cfg \
  /boot/efi/syslinux.cfg /syslinux.cfg; do
  [ -f "$f" ] && echo "syslinux.cfg $f" && break
done
echo '== buildid'; od -An -v -tx1 /sys/hypervisor/properties/buildid 2>/dev/null | tr -d ' \n'; echo
echo '== dmesg-buildid'; xl dmesg 2>/dev/null | grep -o 'build-id: [0-9a-f]*' | tail -1
echo "== state"; cat {state} 2>/dev/null
echo '== id'; id -u
""".replace("{state}", STATE_FILE)

MIN_FREE_KB = {"/boot": 16 * 1024, "/lib/modules": 8 * 1024}


@dataclass
class HostFacts:
    os_release: dict[str, str] = field(default_factory=dict)
    kernel_release: str = ""
    xl_info: dict[str, str] = field(default_factory=dict)
    xl_error: str | None = None
    free_kb: dict[str, int] = field(default_factory=dict)
    tools: dict[str, str] = field(default_factory=dict)
    running_build_id: str | None = None
    state: dict[str, Any] | None = None
    uid: int | None = None

    @property
    def xen_series(self) -> str | None:
        """``major.minor`` of the running hypervisor, from ``xl info``."""
        major, minor = self.xl_info.get("xen_major"), self.xl_info.get("xen_minor")
        if major and minor:
            return f"{major}.{minor}"
        if m := re.match(r"(\d+)\.(\d+)", self.xl_info.get("xen_version", "")):
            return f"{m.group(1)}.{m.group(2)}"
        return None

    @property
    def boot_loader(self) -> str | None:
        if "grub.cfg" in self.tools and {"update-grub", "grub-reboot"} <= self.tools.keys():
            return "grub"
        return None


def _sections(text: str) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("== "):
            current = sections.setdefault(line[3:].strip(), [])
        elif current is not None:
            current.append(line)
    return sections


def parse_os_release(lines: list[str]) -> dict[str, str]:
    fields = {}
    for line in lines:
        if "=" in line and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            fields[key.strip()] = value.strip().strip('"').strip("'")
    return fields


def parse_xl_info(lines: list[str]) -> dict[str, str]:
    info = {}
    for line in lines:
        key, sep, value = line.partition(":")
        if sep and key.strip() and " " not in key.strip():
            info[key.strip()] = value.strip()
    return info


def parse_df(lines: list[str]) -> dict[str, int]:
    """``df -Pk A B`` -> {A: free KiB, B: free KiB} in argument order."""
    rows = [ln.split() for ln in lines if ln and not ln.startswith("Filesystem")]
    free = [int(r[3]) for r in rows if len(r) >= 6 and r[3].isdigit()]
    return dict(zip(MIN_FREE_KB, free, strict=False))


def parse_probe(text: str) -> HostFacts:
    s = _sections(text)
    facts = HostFacts()
    facts.os_release = parse_os_release(s.get("os-release", []))
    facts.kernel_release = next((ln.strip() for ln in s.get("uname", []) if ln.strip()), "")
    xl = s.get("xl-info", [])
    if any(ln.startswith("xl-info-failed") for ln in xl):
        facts.xl_error = " ".join(ln.strip() for ln in xl if ln.strip())[-300:]
    else:
        facts.xl_info = parse_xl_info(xl)
    facts.free_kb = parse_df(s.get("df", []))
    for line in s.get("tools", []):
        name, _, path = line.partition(" ")
        if path:
            facts.tools[name] = path.strip()
    ids = [ln.strip() for ln in s.get("buildid", []) if re.fullmatch(r"[0-9a-f]{8,}", ln.strip())]
    for line in s.get("dmesg-buildid", []):
        if m := re.search(r"build-id: ([0-9a-f]+)", line):
            ids.append(m.group(1))
    facts.running_build_id = ids[0] if ids else None
    state = "\n".join(s.get("state", [])).strip()
    if state:
        try:
            facts.state = json.loads(state)
        except json.JSONDecodeError:
            facts.state = {"corrupt": state[:200]}
    uid = "".join(s.get("id", [])).strip()
    facts.uid = int(uid) if uid.isdigit() else None
    return facts


def is_debian_like(os_release: dict[str, str]) -> bool:
    ids = {os_release.get("ID", "")} | set(os_release.get("ID_LIKE", "").split())
    return bool(ids & {"debian", "ubuntu"})


def _matching_build(series: str) -> str:
    """How to get a build for a host running Xen ``series``, or why there is none yet."""
    if series in known_versions():
        return f"build and deploy with --xen {series}"
    return (
        f"sgkit has no patch context for Xen {series} yet "
        f"(known: {', '.join(known_versions())}); add patches/contexts/{series}.toml"
    )


def problems(
    facts: HostFacts, xen_series: str, kernel_release: str, need_kb: dict[str, int] | None = None
) -> list[str]:
    """Every reason this host cannot take the build (empty: it can)."""
    found = []
    if not is_debian_like(facts.os_release):
        name = facts.os_release.get("PRETTY_NAME") or facts.os_release.get("ID") or "unknown"
        found.append(f"not a Debian-like system (/etc/os-release: {name})")
    if facts.uid not in (0, None):
        found.append(f"the SSH user is not root (uid {facts.uid}); deploy installs into /boot")
    if facts.xl_error is not None:
        found.append(f"`xl info` failed: is this a Xen dom0 with the toolstack? ({facts.xl_error})")
    elif facts.xen_series is None:
        found.append("`xl info` printed no Xen version: is this a Xen dom0?")
    elif facts.xen_series != xen_series:
        found.append(
            f"the host runs Xen {facts.xl_info.get('xen_version', facts.xen_series)}, "
            f"the build is Xen {xen_series}: the toolstack would not match "
            f"({_matching_build(facts.xen_series)})"
        )
    if facts.kernel_release != kernel_release:
        found.append(
            f"the host's kernel is {facts.kernel_release or 'unknown'}, the modules are built "
            f"for {kernel_release} (build with --kernel {facts.kernel_release})"
        )
    needed = need_kb or MIN_FREE_KB
    for mount, kb in needed.items():
        free = facts.free_kb.get(mount)
        if free is None:
            found.append(f"cannot tell the free space in {mount} (df failed)")
        elif free < kb:
            found.append(
                f"{mount} has {free // 1024} MiB free, the deploy needs {kb // 1024} MiB "
                f"(free space on the filesystem holding {mount}: e.g. `apt-get autoremove "
                f"--purge`, old kernels, earlier builds in {SGKIT_BOOT_DIR})"
            )
    if facts.boot_loader is None and "syslinux.cfg" in facts.tools:
        found.append(
            f"the host boots with SYSLINUX ({facts.tools['syslinux.cfg']}), which deploy does "
            "not support: it has no one-shot boot entry to fall back from (GRUB's "
            "grub-reboot); switch the host to GRUB (grub-pc or grub-efi) to deploy to it"
        )
    elif facts.boot_loader is None:
        have = ", ".join(sorted(facts.tools)) or "none"
        found.append(
            "no GRUB with update-grub and grub-reboot (needed for a one-shot boot entry "
            f"with the old hypervisor as fallback); found: {have}"
        )
    for tool in ("depmod", "sha256sum"):
        if tool not in facts.tools:
            found.append(f"{tool} is not installed on the host")
    return found
