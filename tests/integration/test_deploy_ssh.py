"""invoke deploy's SSH layer against a real, throwaway sshd on 127.0.0.1.

The sshd runs as root with its own host key and authorized_keys in a temp
directory.  It is not a Xen dom0, so a deploy to it must stop at the host
check; what these tests prove is that an unknown host key, a host key that
does not match (the wrong host) and an unreachable host each give a clear
error, that ProxyJump and --accept-new-host-key work, and that nothing is
installed on a host that does not fit.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from sgkit.deploy.plan import Artifacts
from sgkit.deploy.rollout import LocalBuild, Options, deploy_hosts
from sgkit.deploy.ssh_hosts import check, connect, resolve
from sgkit.errors import KitError
from tests.integration.conftest import invoke

SSHD = "/usr/sbin/sshd"

pytestmark = pytest.mark.skipif(
    not Path(SSHD).exists() or os.geteuid() != 0,
    reason="needs root and openssh-server (invoke setup installs it)",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    """A running sshd; yields (port, dir) with dir/client_key allowed to log in as root."""
    d = tmp_path_factory.mktemp("sshd")
    _keygen(d / "host_key")
    _keygen(d / "client_key")
    shutil.copy(d / "client_key.pub", d / "authorized_keys")
    port = _free_port()
    (d / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\n"
        f"AuthorizedKeysFile {d}/authorized_keys\nPidFile {d}/sshd.pid\n"
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
        "AllowTcpForwarding yes\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation directory
    proc = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", str(d / "sshd_config")],
        stdout=subprocess.DEVNULL,
        stderr=(d / "sshd.log").open("w"),
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail(f"sshd did not start: {(d / 'sshd.log').read_text()}")
    yield port, d
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def home(tmp_path, sshd):
    """A ~/.ssh with a config naming the sshd as `lab` and, via ProxyJump, `hidden`."""
    port, d = sshd
    ssh = tmp_path / ".ssh"
    ssh.mkdir(mode=0o700)
    (ssh / "config").write_text(
        f"Host lab\n  HostName 127.0.0.1\n  Port {port}\n  User root\n"
        f"  IdentityFile {d}/client_key\n\n"
        f"Host hidden\n  HostName 127.0.0.1\n  Port {port}\n  User root\n"
        f"  IdentityFile {d}/client_key\n  ProxyJump lab\n\n"
        f"Host closed\n  HostName 127.0.0.1\n  Port {_free_port()}\n  User root\n"
    )
    return tmp_path


def _known_hosts_with(home: Path, port: int, key_file: Path) -> Path:
    key_type, key = key_file.read_text().split()[:2]
    known = home / ".ssh" / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {key_type} {key}\n")
    return known


def _connect(home: Path, alias: str, **kw):
    config = home / ".ssh" / "config"
    return connect(
        resolve(alias, config), known_hosts=home / ".ssh" / "known_hosts", config_path=config, **kw
    )


def test_unknown_host_key_is_refused_and_not_recorded(home):
    with pytest.raises(KitError) as err:
        _connect(home, "lab")
    assert "host key is unknown" in str(err.value) and "--accept-new-host-key" in str(err.value)
    assert not (home / ".ssh" / "known_hosts").exists()


def test_accept_new_host_key_records_it_and_then_plain_connect_works(home):
    client = _connect(home, "lab", accept_new=True)
    assert check(client, "echo hello").strip() == "hello"
    client.close()
    assert "127.0.0.1" in (home / ".ssh" / "known_hosts").read_text()
    client = _connect(home, "lab")
    client.close()


def test_wrong_host_key_is_refused(home, sshd, tmp_path):
    port, _ = sshd
    _keygen(tmp_path / "other")
    known = _known_hosts_with(home, port, tmp_path / "other.pub")
    before = known.read_text()
    with pytest.raises(KitError) as err:
        _connect(home, "lab", accept_new=True)  # opting in never overrides a mismatch
    assert "does not match" in str(err.value) and "wrong host" in str(err.value)
    assert known.read_text() == before


def test_unreachable_host(home):
    with pytest.raises(KitError) as err:
        _connect(home, "closed", timeout=5)
    assert "cannot connect" in str(err.value)


def test_proxy_jump(home, sshd):
    port, d = sshd
    _known_hosts_with(home, port, d / "host_key.pub")
    client = _connect(home, "hidden")
    # The session reached sshd through a direct-tcpip channel of the jump session.
    assert check(client, "echo $SSH_CONNECTION").split()[0] == "127.0.0.1"
    client.close()


def test_command_that_outlives_its_bound_names_the_command_and_the_bound(home, sshd):
    port, d = sshd
    _known_hosts_with(home, port, d / "host_key.pub")
    client = _connect(home, "lab")
    try:
        with pytest.raises(KitError) as err:
            check(client, "sleep 30", timeout=1)
    finally:
        client.close()
    assert "`sleep 30` did not finish on the host within 1s" in str(err.value)
    assert "fix:" in str(err.value)


def _fake_build(tmp_path: Path) -> LocalBuild:
    xen = tmp_path / "xen.gz"
    xen.write_bytes(b"not really xen")
    art = Artifacts("ab" * 20, "4.17.5", "00" * 32, "6.1.0-50-amd64", {})
    return LocalBuild(art, xen, {})


def test_host_that_is_not_a_dom0_is_refused_in_parallel_with_failures(home, sshd, tmp_path):
    """Three hosts at once: one refused by the host check, one unknown key, one unreachable."""
    port, d = sshd
    _known_hosts_with(home, port, d / "host_key.pub")
    config = home / ".ssh" / "config"
    config.write_text(
        config.read_text() + f"\nHost stranger\n  HostName localhost\n  Port {port}\n  User root\n"
        f"  IdentityFile {d}/client_key\n"
    )
    opts = Options(known_hosts=home / ".ssh" / "known_hosts", ssh_config=config)
    outcomes, run_dir = deploy_hosts(
        ["lab", "stranger", "closed"], _fake_build(tmp_path), opts, tmp_path / "results"
    )
    by_host = {o.host: o for o in outcomes}
    assert not any(o.ok for o in outcomes)
    assert "does not fit the build" in by_host["lab"].error
    assert "`xl info` failed" in by_host["lab"].error
    assert "host key is unknown" in by_host["stranger"].error
    assert "cannot connect" in by_host["closed"].error
    assert all(o.left == "nothing changed" for o in outcomes)
    assert not Path("/boot/sgkit").exists()
    for host in ("lab", "stranger", "closed"):
        assert (run_dir / host / "results.json").is_file()
        assert (run_dir / host / "junit.xml").is_file()


def test_invoke_deploy_reports_the_refusal(home, sshd):
    port, d = sshd
    _known_hosts_with(home, port, d / "host_key.pub")
    proc = invoke("deploy", "--host", "lab", "--host", "closed", env={"HOME": str(home)})
    assert proc.returncode == 1, proc.stderr
    assert "deploy: 0 of 2 hosts ok" in proc.stdout
    assert "lab: FAILED; left: nothing changed" in proc.stdout
    assert "`xl info` failed" in proc.stdout
    assert "closed: FAILED" in proc.stdout
    assert "Traceback" not in proc.stderr
