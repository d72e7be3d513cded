"""Run a host's power-cycle command (host_config) on this machine, bounded in time."""

from __future__ import annotations

import os
import subprocess

from sgkit.errors import KitError

TIMEOUT_S = 120.0


def power_cycle(command: str, host: str, timeout_s: float = TIMEOUT_S) -> str:
    """Run ``command`` with ``sh -c`` (``SGKIT_HOST`` set); its output, or a KitError."""
    try:
        done = subprocess.run(
            ["sh", "-c", command],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env={**os.environ, "SGKIT_HOST": host},
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as e:
        raise KitError(
            f"{host}: the power-cycle command did not finish within {timeout_s:.0f}s: {command}",
            "check the BMC address and credentials; power-cycle the host by hand",
        ) from e
    output = (done.stdout + done.stderr).strip()
    if done.returncode != 0:
        raise KitError(
            f"{host}: the power-cycle command failed (status {done.returncode}): {command}"
            + (f": {output[-400:]}" if output else ""),
            "check power_cycle in the hosts file; power-cycle the host by hand",
        )
    return output
