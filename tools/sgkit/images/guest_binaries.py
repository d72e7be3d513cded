"""Dynamically linked Debian programs for the busybox domUs (iperf3 in lab.net).

The domUs boot a busybox initramfs without a C library.  A program such as
iperf3 goes in with its shared libraries: the packages are unpacked in the
cache (``sgkit.build.debian_packages.unpacked``, nothing is installed on the host),
and the libraries are the closure of the ELF ``DT_NEEDED`` entries, looked up
in those packages.  They land in ``/lib/x86_64-linux-gnu`` (a directory the
dynamic loader searches without ``ld.so.cache``), the loader itself in
``/lib64``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile

from sgkit.build.debian_packages import unpacked
from sgkit.errors import KitError

LIB_DIR = "lib/x86_64-linux-gnu"
LOADER = "lib64/ld-linux-x86-64.so.2"
_SEARCH = ("lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib", "usr/lib")

# iperf3 and what libiperf0 links: Debian bookworm's names.
IPERF3_PACKAGES = ("iperf3", "libiperf0", "libsctp1", "libssl3", "libc6")
ETHTOOL_PACKAGES = ("ethtool", "libmnl0", "libc6")


def needed(path: Path) -> list[str]:
    """The DT_NEEDED names of an ELF file."""
    with path.open("rb") as fh:
        elf = ELFFile(fh)
        for section in elf.iter_sections():
            if isinstance(section, DynamicSection):
                return [t.needed for t in section.iter_tags() if t.entry.d_tag == "DT_NEEDED"]
    return []


def find_library(name: str, roots: Sequence[Path]) -> Path:
    for root in roots:
        for sub in _SEARCH:
            candidate = root / sub / name
            if candidate.exists():
                return candidate
    raise KitError(f"shared library {name} is in none of {', '.join(str(r) for r in roots)}")


def closure(program: Path, roots: Sequence[Path]) -> dict[str, Path]:
    """Initramfs path -> source for every library ``program`` needs, the loader included."""
    files: dict[str, Path] = {}
    todo = needed(program)
    while todo:
        name = todo.pop()
        dest = f"{LIB_DIR}/{name}"
        if dest in files:
            continue
        source = find_library(name, roots)
        files[dest] = source
        todo += needed(source)
    files[LOADER] = find_library("ld-linux-x86-64.so.2", roots)
    return files


def program_files(packages: Sequence[str], program: str) -> dict[str, Path]:
    """``bin/NAME`` and its libraries, from ``program`` (a path) in ``packages[0]``."""
    roots = [unpacked(p) for p in packages]
    source = roots[0] / program
    if not source.is_file():
        raise KitError(f"the {packages[0]} package has no {program}")
    return {f"bin/{source.name}": source, **closure(source, roots)}


def iperf3_files() -> dict[str, Path]:
    """``bin/iperf3`` and its libraries, for ``build_initramfs(extra_files=...)``."""
    return program_files(IPERF3_PACKAGES, "usr/bin/iperf3")


def ethtool_files() -> dict[str, Path]:
    """``bin/ethtool`` and its libraries (sgnet's ``ethtool -S`` in the domUs)."""
    return program_files(ETHTOOL_PACKAGES, "sbin/ethtool")
