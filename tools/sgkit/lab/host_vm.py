"""``invoke lab.host up|down``: a Debian 12 Xen machine in QEMU that boots from its own disk.

The disk image is a real installation, made once and cached
(``builds/lab/host-<key>.img``):

- an MBR disk with one ext4 partition holding a ``debootstrap`` of bookworm
  with systemd, Debian's kernel, ``xen-system-amd64`` (the stock 4.17
  hypervisor, whose GRUB entry is the default), openssh-server and GRUB's
  tools (``update-grub``, ``grub-reboot``);
- GRUB (i386-pc) in the MBR and the gap after it, written with ``dd``:
  ``boot.img`` plus a ``core.img`` from ``grub-mkimage`` whose blocklist is
  patched the way ``grub-bios-setup`` would.  (Loop devices here have no
  partition nodes, so grub-install cannot be used.)
- the kit's SSH key in root's authorized_keys; the image's host key is kept
  next to the image so tests can pin it in a known_hosts file.

``up`` runs QEMU (the accelerator from ``qemu_lab.choose_accel``: TCG unless
``--accel`` or $SGKIT_ACCEL asks for KVM) on a copy-on-write overlay of the
image, with the serial console in a file, the monitor on a unix socket and
SSH forwarded to 127.0.0.1:PORT, and waits for sshd.  It writes an ssh config and known_hosts
for the host under ``builds/lab/host-run/`` (``invoke deploy --host
sgkit-lab --ssh-config ...``).  ``down`` stops QEMU and drops the overlay.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import signal
import socket
import struct
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sgkit import progress
from sgkit.build.debian_suites import mirror
from sgkit.build.debootstrap import debootstrap, remove_tree
from sgkit.build.versions import SG_OP_ENABLE
from sgkit.errors import KitError
from sgkit.images.dom0_rootfs import toolstack_for
from sgkit.lab.qemu import choose_accel, cpu_model, qemu_binary
from sgkit.paths import builds_dir
from sgkit.procs import require, run

RECIPE = 3  # 2: an initramfs of the few modules the boot needs, GRUB timeout 1 s; 3: MASKED
# Units a Debian host runs that this machine does not need, each costing
# boot or shutdown time under TCG: e2scrub_reap held the boot for about a
# minute, xendomains the shutdown before every deploy reboot for about 30 s
# (no domain is started at boot here: deploy makes and destroys its own).
MASKED = (
    "e2scrub_reap.service",
    "e2scrub_all.timer",
    "fstrim.timer",
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "dpkg-db-backup.timer",
    "systemd-pstore.service",
    "xendomains.service",
)
IMAGE_SIZE = "3G"
PART_OFFSET = 1 << 20  # the partition starts at 1 MiB (sector 2048)
HOST_ALIAS = "sgkit-lab"
XEN_ARGS = f"console=com1 com1=115200 dom0_mem=1024M,max:1024M {SG_OP_ENABLE}"
KERNEL_ARGS = "console=hvc0"
PACKAGES = (
    "systemd-sysv",
    "udev",
    "openssh-server",
    "iproute2",
    "kmod",
    "busybox",
    "grub2-common",
    "grub-pc-bin",
)
GRUB_MODULES = ("biosdisk", "part_msdos", "ext2", "normal", "configfile", "search", "gzio")


@dataclass(frozen=True)
class HostImage:
    image: Path
    host_key_pub: Path
    client_key: Path
    manifest: dict[str, object]


def lab_dir() -> Path:
    return builds_dir() / "lab"


def run_dir() -> Path:
    return lab_dir() / "host-run"


def client_key() -> Path:
    """The kit's SSH key for lab hosts (made on first use)."""
    key = lab_dir() / "host-ssh" / "id_ed25519"
    if not key.is_file():
        key.parent.mkdir(parents=True, exist_ok=True)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "sgkit-lab", "-f", key])
    return key


def image_key(xen: str, release: str) -> str:
    toolstack = toolstack_for(xen)
    recipe = {
        "recipe": RECIPE,
        "suite": toolstack.suite,
        "packages": sorted([*PACKAGES, f"linux-image-{release}", "xen-system-amd64"]),
        "xen_args": XEN_ARGS,
        "kernel_args": KERNEL_ARGS,
        "masked": sorted(MASKED),
        "client_key": client_key().with_suffix(".pub").read_text().split()[1],
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def host_image(xen: str, release: str) -> HostImage:
    """The cached disk image, built on first use (root, about 3-5 minutes)."""
    key = image_key(xen, release)
    image = lab_dir() / f"host-{key}.img"
    meta = image.with_suffix(".json")
    pub = image.with_suffix(".host_key.pub")
    if image.is_file() and meta.is_file() and pub.is_file():
        return HostImage(image, pub, client_key(), json.loads(meta.read_text()))
    if os.geteuid() != 0:
        raise KitError(
            "building the lab host's disk image needs root (loop devices, debootstrap)",
            "run `invoke lab.host up` as root once; later runs only read the cache",
        )
    for tool in ("debootstrap", "sfdisk", "losetup", "mkfs.ext4", "blkid"):
        require(tool)
    lab_dir().mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=lab_dir(), prefix=f".host-staging-{os.getpid()}-"))
    try:
        raw = staging / "disk.img"
        _build_disk(raw, staging / "mnt", xen, release, staging / "host_key.pub", image)
        manifest = {"key": key, "xen": xen, "kernel": release, "mirror": mirror()}
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        shutil.move(staging / "host_key.pub", pub)
        raw.replace(image)
        (staging / "manifest.json").replace(meta)
    except BaseException:
        if os.environ.get("SGKIT_KEEP_STAGING"):
            progress.say(f"kept the failed build for inspection: {staging}")
        else:
            remove_tree(staging)
        raise
    remove_tree(staging)
    return HostImage(image, pub, client_key(), manifest)


def _build_disk(raw: Path, mnt: Path, xen: str, release: str, pub: Path, image: Path) -> None:
    run(["truncate", "-s", IMAGE_SIZE, raw])
    run(["sfdisk", "-q", raw], input="label: dos\nstart=2048, type=83, bootable\n")
    loop = run(["losetup", "-f", "--show", "-o", str(PART_OFFSET), raw]).stdout.strip()
    mounted: list[Path] = []
    try:
        run(["mkfs.ext4", "-q", "-L", "sgkit-root", loop], what="mkfs.ext4")
        uuid = run(["blkid", "-s", "UUID", "-o", "value", loop]).stdout.strip()
        mnt.mkdir()
        run(["mount", loop, mnt])
        mounted.append(mnt)
        _debootstrap(mnt, xen, release, image.with_suffix(".debootstrap.log"))
        for sub in ("dev", "proc", "sys"):
            run(["mount", "--bind", f"/{sub}", mnt / sub])
            mounted.append(mnt / sub)
        _configure(mnt, uuid, release)
        shutil.copyfile(mnt / "etc/ssh/ssh_host_ed25519_key.pub", pub)
        core, boot = _grub_images(mnt, raw.parent)
    finally:
        for point in reversed(mounted):
            run(["umount", "-l", point], check=False)
        run(["losetup", "-d", loop], check=False)
    _install_grub_mbr(raw, core, boot)


def _debootstrap(root: Path, xen: str, release: str, log: Path) -> None:
    debootstrap(
        root,
        toolstack_for(xen).suite,
        [*PACKAGES, f"linux-image-{release}", "xen-system-amd64"],
        log,
        "the lab host",
        takes="a few minutes",
    )


def _configure(root: Path, uuid: str, release: str) -> None:
    """fstab, hostname, DHCP, sshd with the kit's key, GRUB defaults and grub.cfg."""
    (root / "etc/fstab").write_text(f"UUID={uuid} / ext4 errors=remount-ro 0 1\n")
    (root / "etc/hostname").write_text("sgkit-lab\n")
    (root / "etc/hosts").write_text("127.0.0.1 localhost\n127.0.1.1 sgkit-lab\n")
    network = root / "etc/systemd/network/50-dhcp.network"
    network.parent.mkdir(parents=True, exist_ok=True)
    network.write_text("[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n")
    wants = root / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    unit = wants / "systemd-networkd.service"
    if not unit.exists():
        unit.symlink_to("/lib/systemd/system/systemd-networkd.service")
    for name in MASKED:
        masked = root / "etc/systemd/system" / name
        masked.unlink(missing_ok=True)
        masked.symlink_to("/dev/null")
    ssh = root / "root/.ssh"
    ssh.mkdir(mode=0o700, parents=True, exist_ok=True)
    (ssh / "authorized_keys").write_text(client_key().with_suffix(".pub").read_text())
    (ssh / "authorized_keys").chmod(0o600)
    run(["chroot", root, "passwd", "-d", "root"], what="unlocking root (console login)")
    # Debian's initramfs holds most modules and its udev probes every one of
    # them, which under TCG costs a minute per boot; the root is ext4 on
    # virtio, so that is all the initramfs needs.
    conf = root / "etc/initramfs-tools"
    (conf / "conf.d").mkdir(parents=True, exist_ok=True)
    (conf / "conf.d/sgkit-lab-host").write_text("MODULES=list\n")
    (conf / "modules").write_text("virtio_pci\nvirtio_blk\next4\n")
    run(
        ["chroot", root, "update-initramfs", "-u", "-k", release],
        what="update-initramfs in the lab host image",
    )
    default = root / "etc/default/grub"
    default.write_text(
        "GRUB_DEFAULT=0\nGRUB_TIMEOUT=1\nGRUB_DISTRIBUTOR=Debian\n"
        'GRUB_TERMINAL="serial console"\n'
        'GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"\n'
        f'GRUB_CMDLINE_LINUX="{KERNEL_ARGS}"\nGRUB_CMDLINE_LINUX_DEFAULT=""\n'
        f'GRUB_CMDLINE_XEN_DEFAULT="{XEN_ARGS}"\nGRUB_DISABLE_OS_PROBER=true\n'
    )
    (root / "boot/grub").mkdir(parents=True, exist_ok=True)
    run(["chroot", root, "grub-editenv", "/boot/grub/grubenv", "create"], what="grubenv")
    for script in ("10_linux", "30_os-prober", "30_uefi-firmware"):
        if (root / "etc/grub.d" / script).exists():
            (root / "etc/grub.d" / script).chmod(0o644)  # Xen entries only: 0 is Xen
    shutil.copytree(root / "usr/lib/grub/i386-pc", root / "boot/grub/i386-pc", dirs_exist_ok=True)
    # update-grub cannot run here: 20_linux_xen gives up on a loop-mounted root.  The
    # first deploy runs it inside the machine, which regenerates this file.
    (root / "boot/grub/grub.cfg").write_text(initial_grub_cfg(uuid, release))


def initial_grub_cfg(uuid: str, release: str) -> str:
    """What update-grub would write on the machine: the stock Xen entry, grubenv one-shots."""
    return f"""serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
if [ -s $prefix/grubenv ]; then
  load_env
fi
if [ "${{next_entry}}" ]; then
  set default="${{next_entry}}"
  set next_entry=
  save_env next_entry
else
  set default=0
fi
set timeout=1
menuentry 'Debian GNU/Linux, with Xen hypervisor' --id xen-stock {{
	insmod gzio
	insmod part_msdos
	insmod ext2
	search --no-floppy --fs-uuid --set=root {uuid}
	multiboot2 /boot/xen-4.17-amd64.gz placeholder {XEN_ARGS}
	module2 /boot/vmlinuz-{release} placeholder root=UUID={uuid} ro {KERNEL_ARGS}
	module2 --nounzip /boot/initrd.img-{release}
}}
"""


def _grub_images(root: Path, out: Path) -> tuple[Path, Path]:
    """core.img from the image's own grub-mkimage (modules and tools must match), boot.img."""
    run(
        [
            "chroot", root, "grub-mkimage", "-O", "i386-pc", "-o", "/tmp/sgkit-core.img",
            "-p", "(hd0,msdos1)/boot/grub", *GRUB_MODULES,
        ],
        what="grub-mkimage in the lab host image",
    )  # fmt: skip
    core, boot = out / "core.img", out / "boot.img"
    shutil.move(root / "tmp/sgkit-core.img", core)
    shutil.copyfile(root / "usr/lib/grub/i386-pc/boot.img", boot)
    return core, boot


def _install_grub_mbr(raw: Path, core: Path, boot_img: Path) -> None:
    """boot.img in the MBR and core.img in the gap before the partition (grub-bios-setup)."""
    data = bytearray(core.read_bytes())
    sectors = (len(data) + 511) // 512
    if sectors + 1 > PART_OFFSET // 512:
        raise KitError(f"GRUB's core.img ({len(data)} bytes) does not fit before the partition")
    # diskboot.img ends with one blocklist entry: start (u64), sectors (u16), segment (u16).
    struct.pack_into("<QHH", data, 512 - 12, 2, sectors - 1, 0x820)
    boot = boot_img.read_bytes()
    with raw.open("r+b") as disk:
        mbr = bytearray(disk.read(512))
        mbr[:440] = boot[:440]  # keep the partition table and signature
        mbr[0x5C:0x64] = struct.pack("<Q", 1)  # core.img starts at sector 1
        disk.seek(0)
        disk.write(mbr)
        disk.seek(512)
        disk.write(data)


# --- up / down -----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def state_file() -> Path:
    return run_dir() / "state.json"


def _running() -> dict[str, object] | None:
    if not state_file().is_file():
        return None
    state = json.loads(state_file().read_text())
    pid = int(state.get("pid", 0))
    if pid and Path(f"/proc/{pid}").exists():
        return state
    return None


def up(
    xen: str, release: str, timeout_s: float = 600.0, accel: str | None = None
) -> dict[str, object]:
    """Start the lab host (or return the running one) and wait for its sshd.

    ``accel``: tcg, kvm or auto; None takes $SGKIT_ACCEL, else tcg (qemu_lab.choose_accel).
    """
    current = _running()
    if current is not None:
        progress.say(f"lab host already running (pid {current['pid']}, port {current['port']})")
        return current
    require(qemu_binary())
    require("qemu-img")
    img = host_image(xen, release)
    rdir = run_dir()
    if rdir.exists():
        shutil.rmtree(rdir)
    rdir.mkdir(parents=True)
    overlay = rdir / "disk.qcow2"
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", img.image, "-F", "raw", overlay])
    port = _free_port()
    accel = choose_accel(accel)
    argv = [
        qemu_binary(),
        "-accel", accel, "-cpu", cpu_model(accel), "-smp", "2", "-m", "2048",
        "-nodefaults", "-display", "none", "-daemonize", "-pidfile", str(rdir / "qemu.pid"),
        "-serial", f"file:{rdir / 'console.log'}",
        "-monitor", f"unix:{rdir / 'monitor.sock'},server=on,wait=off",
        "-drive", f"file={overlay},if=virtio,format=qcow2",
        "-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:22",
        "-device", "virtio-net-pci,netdev=n0",
    ]  # fmt: skip
    run(argv, what="starting QEMU for the lab host")
    pid = int((rdir / "qemu.pid").read_text().strip())
    state: dict[str, object] = {
        "pid": pid,
        "port": port,
        "accel": accel,
        "console": str(rdir / "console.log"),
        "monitor": str(rdir / "monitor.sock"),
        "image": str(img.image),
    }
    state.update(_write_ssh_files(rdir, port, img))
    state_file().write_text(json.dumps(state, indent=2) + "\n")
    wait_for_ssh(port, rdir / "console.log", timeout_s)
    return state


def _write_ssh_files(rdir: Path, port: int, img: HostImage) -> dict[str, str]:
    key_type, key = img.host_key_pub.read_text().split()[:2]
    known = rdir / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {key_type} {key}\n")
    config = rdir / "ssh_config"
    config.write_text(
        f"Host {HOST_ALIAS}\n  HostName 127.0.0.1\n  Port {port}\n  User root\n"
        f"  IdentityFile {img.client_key}\n"
    )
    hosts = rdir / "hosts.toml"
    hosts.write_text(
        "# sgkit hosts file for the lab host (invoke deploy --hosts-file)\n"
        f"[hosts.{json.dumps(HOST_ALIAS)}]\npower_cycle = {json.dumps(power_cycle_command())}\n"
    )
    return {"ssh_config": str(config), "known_hosts": str(known), "hosts_file": str(hosts)}


def wait_for_ssh(port: int, console: Path, timeout_s: float) -> None:
    """Until sshd's banner answers on the forwarded port (QEMU accepts before the guest)."""
    start = time.monotonic()
    last = start
    while time.monotonic() - start < timeout_s:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.settimeout(5)
                if s.recv(64).startswith(b"SSH-"):
                    progress.say(f"lab host: sshd answers after {time.monotonic() - start:.0f}s")
                    return
        except OSError:
            pass
        if time.monotonic() - last >= 20:
            tail = _last_line(console)
            progress.say(f"lab host: booting ({time.monotonic() - start:.0f}s): {tail}")
            last = time.monotonic()
        time.sleep(2)
    raise KitError(
        f"the lab host's sshd did not answer within {timeout_s:.0f}s", f"see its console: {console}"
    )


def _last_line(console: Path) -> str:
    try:
        lines = [ln for ln in console.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1][-100:] if lines else ""


def reset() -> None:
    """Power-cycle the running lab host: ``system_reset`` through the QEMU monitor.

    What a BMC's ``chassis power cycle`` does to a real machine: the guest is
    reset at once (no shutdown), SeaBIOS and GRUB run again.
    """
    state = _running()
    if state is None:
        raise KitError("no lab host is running", "start it with `invoke lab.host up`")
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(str(state["monitor"]))
            _read_until_prompt(s)  # the monitor's banner
            s.sendall(b"system_reset\n")
            _read_until_prompt(s)
    except OSError as e:
        raise KitError(
            f"cannot reset the lab host through its QEMU monitor {state['monitor']}: {e}",
            "stop it with `invoke lab.host down` and start it again with `invoke lab.host up`",
        ) from e
    progress.say(f"lab host reset (system_reset, QEMU pid {state['pid']})")


def _read_until_prompt(s: socket.socket) -> bytes:
    data = b""
    while not data.rstrip().endswith(b"(qemu)"):
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def power_cycle_command() -> str:
    """The shell command that power-cycles the lab host (its hosts file's ``power_cycle``)."""
    from sgkit.paths import PROJECT_ROOT

    invoke = [sys.executable, "-m", "invoke", "--search-root", str(PROJECT_ROOT)]
    return shlex.join([*invoke, "lab.host", "reset"])


def down() -> bool:
    """Stop the lab host; True if one was running."""
    state = _running()
    if state is not None:
        pid = int(state["pid"])  # type: ignore[arg-type]
        os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            if not Path(f"/proc/{pid}").exists():
                break
            time.sleep(0.2)
        else:
            os.kill(pid, signal.SIGKILL)
    overlay = run_dir() / "disk.qcow2"
    overlay.unlink(missing_ok=True)
    state_file().unlink(missing_ok=True)
    return state is not None
