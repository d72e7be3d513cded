"""SSH to a lab host with paramiko, the way ``ssh HOST`` would.

``resolve`` reads ``~/.ssh/config`` (HostName, User, Port, IdentityFile,
ProxyJump); ``connect`` opens the session with the keys named there, the
default keys and the agent.  Host keys are checked against
``~/.ssh/known_hosts``: an unknown host is refused unless the caller opts in
(``accept_new``, which then records the key), and a key that does not match
the recorded one is always refused.  Every failure is a KitError that says
which of these it was.
"""

from __future__ import annotations

import getpass
import logging
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from sgkit.errors import KitError

# paramiko logs every failed attempt with a traceback (Python's last-resort handler
# prints it); the kit reports failures itself, as KitErrors.
logging.getLogger("paramiko").addHandler(logging.NullHandler())

DEFAULT_CONFIG = Path("~/.ssh/config")
DEFAULT_KNOWN_HOSTS = Path("~/.ssh/known_hosts")


@dataclass(frozen=True)
class HostSpec:
    alias: str  # what the user typed
    hostname: str
    port: int = 22
    user: str = field(default_factory=getpass.getuser)
    identity_files: tuple[str, ...] = ()
    proxy_jump: str | None = None

    def describe(self) -> str:
        via = f" via {self.proxy_jump}" if self.proxy_jump else ""
        return f"{self.user}@{self.hostname}:{self.port}{via}"


def _split_user_port(target: str) -> tuple[str | None, str, int | None]:
    """``[user@]host[:port]`` (the form ProxyJump and the command line use)."""
    user, _, rest = target.rpartition("@")
    host, port = rest, None
    if rest.count(":") == 1:
        host, _, text = rest.partition(":")
        port = int(text) if text.isdigit() else None
    return user or None, host, port


def resolve(target: str, config_path: Path | None = DEFAULT_CONFIG) -> HostSpec:
    """The connection settings for ``target`` after ~/.ssh/config (if it exists)."""
    user, host, port = _split_user_port(target)
    config = paramiko.SSHConfig()
    if config_path is not None:
        path = config_path.expanduser()
        if path.is_file():
            try:
                config = paramiko.SSHConfig.from_path(str(path))
            except Exception as e:
                raise KitError(f"cannot read {path}: {e}", "fix the ssh config syntax") from e
    entry = config.lookup(host)
    proxy = entry.get("proxyjump")
    if proxy and proxy.lower() == "none":
        proxy = None
    try:
        cfg_port = int(entry.get("port", 22))
    except ValueError as e:
        raise KitError(
            f"{host}: Port {entry.get('port')!r} in the ssh config is not a number"
        ) from e
    return HostSpec(
        alias=target,
        hostname=entry.get("hostname", host),
        port=port or cfg_port,
        user=user or entry.get("user") or getpass.getuser(),
        identity_files=tuple(entry.get("identityfile", [])),
        proxy_jump=proxy,
    )


class _RecordNewKey(paramiko.MissingHostKeyPolicy):
    """Accept an unknown host key and record it (``--accept-new-host-key``)."""

    def __init__(self, known_hosts: Path) -> None:
        self.known_hosts = known_hosts

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        client.get_host_keys().add(hostname, key.get_name(), key)
        self.known_hosts.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        client.save_host_keys(str(self.known_hosts))


def _key_name(spec: HostSpec) -> str:
    return spec.hostname if spec.port == 22 else f"[{spec.hostname}]:{spec.port}"


def connect(
    spec: HostSpec,
    *,
    accept_new: bool = False,
    known_hosts: Path = DEFAULT_KNOWN_HOSTS,
    config_path: Path | None = DEFAULT_CONFIG,
    timeout: float = 15.0,
    _depth: int = 0,
) -> paramiko.SSHClient:
    """An open, authenticated SSH session to ``spec``; raises KitError on every failure."""
    known = known_hosts.expanduser()
    sock = None
    if spec.proxy_jump:
        if _depth > 4:
            raise KitError(f"{spec.alias}: ProxyJump chain is too long (a loop in the ssh config?)")
        first = spec.proxy_jump.split(",")[0]
        jump = connect(
            resolve(first, config_path),
            accept_new=accept_new,
            known_hosts=known_hosts,
            config_path=config_path,
            timeout=timeout,
            _depth=_depth + 1,
        )
        transport = jump.get_transport()
        assert transport is not None
        try:
            sock = transport.open_channel(
                "direct-tcpip", (spec.hostname, spec.port), ("127.0.0.1", 0), timeout=timeout
            )
        except (paramiko.SSHException, OSError) as e:
            raise KitError(
                f"{spec.alias}: the jump host {first} could not reach "
                f"{spec.hostname}:{spec.port}: {e}",
                "check the host name and port, and that the jump host may forward TCP",
            ) from e
    client = paramiko.SSHClient()
    if known.is_file():
        client.load_host_keys(str(known))
    client.set_missing_host_key_policy(
        _RecordNewKey(known) if accept_new else paramiko.RejectPolicy()
    )
    keys = [str(Path(p).expanduser()) for p in spec.identity_files]
    keys = [k for k in keys if Path(k).is_file()]
    where = f"{spec.alias} ({spec.describe()})"
    try:
        client.connect(
            spec.hostname,
            port=spec.port,
            username=spec.user,
            key_filename=keys or None,
            allow_agent=True,
            look_for_keys=True,
            timeout=timeout,
            banner_timeout=timeout,
            auth_timeout=timeout,
            sock=sock,
        )
    except paramiko.BadHostKeyException as e:
        raise KitError(
            f"{where}: the host key does not match the one in {known} "
            f"(got {e.key.get_name()} {e.key.get_fingerprint().hex()}): is this the wrong host?",
            f"if the host was reinstalled, remove the old key: ssh-keygen -R '{_key_name(spec)}'",
        ) from e
    except paramiko.AuthenticationException as e:
        raise KitError(
            f"{where}: authentication failed ({e})",
            "check User/IdentityFile in ~/.ssh/config or load the key into ssh-agent",
        ) from e
    except paramiko.SSHException as e:
        if "not found in known_hosts" in str(e):
            raise KitError(
                f"{where}: the host key is unknown (not in {known}); refusing to connect",
                f"verify the host and run `ssh {spec.alias}` once, or pass --accept-new-host-key",
            ) from e
        raise KitError(f"{where}: SSH failed: {e}", "is an SSH server listening there?") from e
    except TimeoutError as e:
        raise KitError(
            f"{where}: no answer within {timeout:.0f}s (unreachable)",
            "check the host name, port and network",
        ) from e
    except (OSError, paramiko.ssh_exception.NoValidConnectionsError) as e:
        raise KitError(
            f"{where}: cannot connect: {e}",
            "check the host name and port, and that sshd runs there",
        ) from e
    return client


@dataclass(frozen=True)
class Completed:
    command: str
    status: int
    stdout: str
    stderr: str


def run(client: paramiko.SSHClient, command: str, timeout: float = 120.0) -> Completed:
    """Run ``command`` on the host; returns its status and output (never raises on status)."""
    try:
        _, out, err = client.exec_command(command, timeout=timeout)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
        status = out.channel.recv_exit_status()
    except TimeoutError as e:
        # socket.timeout carries no text: say what timed out and after how long.
        raise KitError(
            f"`{command}` did not finish on the host within {timeout:.0f}s",
            "the host is overloaded or hung: check it (`uptime`, its console) and run again",
        ) from e
    except (paramiko.SSHException, OSError) as e:
        raise KitError(f"running `{command}` on the host failed: {e}") from e
    return Completed(command, status, stdout, stderr)


def check(client: paramiko.SSHClient, command: str, timeout: float = 120.0) -> str:
    """Run ``command``; raise a KitError with its output if it fails; return stdout."""
    done = run(client, command, timeout)
    if done.status != 0:
        tail = (done.stderr or done.stdout).strip()[-800:]
        raise KitError(f"`{command}` failed on the host (status {done.status}): {tail}")
    return done.stdout


def quote(*words: str) -> str:
    return " ".join(shlex.quote(w) for w in words)
