"""Where the kit keeps things: the project tree, the cache, the results."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PATCHES_DIR = PROJECT_ROOT / "patches"
XEN_HYPERVISOR_DIR = PROJECT_ROOT / "xen-hypervisor"
LINUX_DRIVER_DIR = PROJECT_ROOT / "linux-driver"
# The scripts that run inside the lab's domains ship with the package.
GUEST_DIR = Path(__file__).resolve().parent / "images" / "guest"


def cache_dir() -> Path:
    """The cache: $SGKIT_CACHE_DIR, else $XDG_CACHE_HOME/sgkit, else ~/.cache/sgkit."""
    explicit = os.environ.get("SGKIT_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser().resolve()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return (base / "sgkit").resolve()


def shared_dir() -> Path:
    """Files shared between the project's machines: $SGKIT_SHARED_DIR, else ../shared."""
    explicit = os.environ.get("SGKIT_SHARED_DIR")
    if explicit:
        return Path(explicit).expanduser().resolve()
    return (PROJECT_ROOT.parent / "shared").resolve()


def downloads_dir() -> Path:
    return cache_dir() / "downloads"


def sources_dir() -> Path:
    return cache_dir() / "sources"


def builds_dir() -> Path:
    return cache_dir() / "builds"


def results_dir() -> Path:
    """Results of lab runs: ``$SGKIT_RESULTS_DIR``, else ``results/`` in the project."""
    explicit = os.environ.get("SGKIT_RESULTS_DIR")
    return Path(explicit).expanduser().resolve() if explicit else PROJECT_ROOT / "results"
