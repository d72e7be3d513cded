"""Run a host's power-cycle command (host_config) on this machine, bounded in time."""

from __future__ import annotations

from sgkit.errors import KitError
from sgkit.procs import run

TIMEOUT_S = 120.0


def power_cycle(command: str, host: str, timeout_s: float = TIMEOUT_S) -> str:
    """Run ``command`` with ``sh -c`` (``SGKIT_HOST`` set); its output, or a KitError."""
    done = run(
        ["sh", "-c", command],
        env={"SGKIT_HOST": host},
        input="",  # never waits on a prompt
        timeout=timeout_s,
        check=False,
        what=f"{host}: the power-cycle command ({command})",
        fix="check the BMC address and credentials; power-cycle the host by hand",
    )
    output = (done.stdout + done.stderr).strip()
    if done.returncode != 0:
        raise KitError(
            f"{host}: the power-cycle command failed (status {done.returncode}): {command}"
            + (f": {output[-400:]}" if output else ""),
            "check power_cycle in the hosts file; power-cycle the host by hand",
        )
    return output
