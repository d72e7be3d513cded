"""Per-host settings of ``invoke deploy`` from a TOML file (pure logic).

``~/.config/sgkit/hosts.toml`` (``$XDG_CONFIG_HOME``, or ``$SGKIT_HOSTS_FILE``,
or ``--hosts-file``) names, per host, what a lab admin keeps next to the
machine rather than in the ssh config: how to power-cycle it when the
hypervisor hangs.  Sections are matched like ``~/.ssh/config`` ``Host``
lines: the first whose pattern (shell glob) matches the host as given to
``--host`` wins::

    [hosts."lab1"]
    power_cycle = "ipmitool -I lanplus -H lab1-bmc -U admin -E chassis power cycle"

    [hosts."*.lab.example.org"]
    power_cycle = "ipmitool -I lanplus -H {host}-bmc -U admin -E chassis power cycle"

``{host}`` is replaced by the host (shell-quoted).  The command runs on the
machine that deploys, through ``sh -c``, with ``SGKIT_HOST`` set too.
"""

from __future__ import annotations

import fnmatch
import os
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from sgkit.errors import KitError

KNOWN_KEYS = frozenset({"power_cycle"})


@dataclass(frozen=True)
class HostSettings:
    power_cycle: str | None = None  # a shell command run on this machine


@dataclass(frozen=True)
class HostsConfig:
    path: Path | None = None
    sections: tuple[tuple[str, HostSettings], ...] = field(default_factory=tuple)

    def settings_for(self, host: str) -> HostSettings:
        for pattern, settings in self.sections:
            if fnmatch.fnmatchcase(host, pattern):
                return settings
        return HostSettings()


def default_path() -> Path:
    explicit = os.environ.get("SGKIT_HOSTS_FILE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".config"
    return base / "sgkit" / "hosts.toml"


def parse(text: str, path: Path | None = None) -> HostsConfig:
    """The settings in ``text``; a KitError names the file, the host and the key at fault."""
    where = str(path) if path else "the hosts file"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise KitError(f"{where} is not valid TOML: {e}", "fix its syntax") from e
    unknown_top = set(data) - {"hosts"}
    if unknown_top:
        raise KitError(
            f"{where}: unknown table(s) {', '.join(sorted(unknown_top))}",
            'put every setting under [hosts."NAME"]',
        )
    hosts = data.get("hosts", {})
    if not isinstance(hosts, dict):
        raise KitError(f"{where}: `hosts` must be a table", 'write [hosts."NAME"] sections')
    sections = []
    for pattern, body in hosts.items():
        if not isinstance(body, dict):
            raise KitError(
                f"{where}: hosts.{pattern} must be a table", f'write [hosts."{pattern}"]'
            )
        unknown = set(body) - KNOWN_KEYS
        if unknown:
            raise KitError(
                f"{where}: hosts.{pattern} has unknown key(s) {', '.join(sorted(unknown))}",
                f"known keys: {', '.join(sorted(KNOWN_KEYS))}",
            )
        command = body.get("power_cycle")
        if command is not None and (not isinstance(command, str) or not command.strip()):
            raise KitError(
                f"{where}: hosts.{pattern}.power_cycle must be a non-empty string",
                'e.g. power_cycle = "ipmitool -H BMC -U USER -E chassis power cycle"',
            )
        sections.append((pattern, HostSettings(power_cycle=command)))
    return HostsConfig(path, tuple(sections))


def load(path: Path | None) -> HostsConfig:
    """The hosts file at ``path`` (default: ``default_path()``); a missing default is empty."""
    explicit = path is not None
    target = (path or default_path()).expanduser()
    if not target.is_file():
        if explicit:
            raise KitError(f"hosts file {target} does not exist", "check --hosts-file")
        return HostsConfig()
    return parse(target.read_text(), target)


def power_cycle_command(template: str, host: str) -> str:
    """The command for ``host``: ``{host}`` replaced by the shell-quoted host name."""
    return template.replace("{host}", shlex.quote(host))
