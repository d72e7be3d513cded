"""Integration tests run the real thing: Debian's Xen source, real builds, QEMU boots.

They use the kit's normal cache (so a second run, and CI after `./kit run`,
is fast) unless SGKIT_CACHE_DIR points elsewhere.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items):
    for item in items:
        item.add_marker(pytest.mark.integration)


def invoke(*args: str, env: dict[str, str] | None = None, timeout: float = 1800):
    """Run an invoke task of the kit as a user would; returns the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
