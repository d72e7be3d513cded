"""The Xen versions sgkit knows, and each one's patch context (patches/contexts/*.toml)."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sgkit.errors import KitError
from sgkit.paths import PATCHES_DIR

DEFAULT_XEN = "4.17"

# The patched hypervisor's sg_op answers only when its command line enables
# it (off by default, as Argo is: issue 12, finding 11).  Every Xen command
# line the kit writes carries it; a stock Xen ignores the unknown option.
SG_OP_ENABLE = "sg_op=1"


def contexts_dir(patches_dir: Path = PATCHES_DIR) -> Path:
    return patches_dir / "contexts"


def known_versions(patches_dir: Path = PATCHES_DIR) -> list[str]:
    return sorted(p.stem for p in contexts_dir(patches_dir).glob("*.toml"))


def series_of(version: str) -> str:
    """'4.17', '4.17.5' or '4.17.5+72-g01140da4e8' -> '4.17'; a named context -> its name.

    A named context (``staging``: contexts/staging.toml) follows a moving
    tree; its ``[xen] series`` says which Xen series that tree is today.
    """
    if re.fullmatch(r"[a-z][a-z0-9-]*", version.strip()):
        name = version.strip()
        if (contexts_dir() / f"{name}.toml").is_file():
            return name
    m = re.match(r"^(\d+)\.(\d+)(?:[.+~-].*)?$", version.strip())
    if not m:
        raise KitError(
            f"cannot read a Xen version from {version!r}",
            "give a version such as 4.17 or 4.17.5",
        )
    return f"{m.group(1)}.{m.group(2)}"


def load_context(version: str, patches_dir: Path = PATCHES_DIR) -> dict[str, Any]:
    """The rendering context for a Xen version: sgkit.toml merged with contexts/<series>.toml."""
    series = series_of(version)
    path = contexts_dir(patches_dir) / f"{series}.toml"
    if not path.is_file():
        known = ", ".join(known_versions(patches_dir)) or "none"
        raise KitError(
            f"unknown Xen version {version}: sgkit has patch contexts for {known} "
            f"(in {contexts_dir(patches_dir)})",
            f"use one of {known}, or add {path.name} with that version's facts",
        )
    common = tomllib.loads((patches_dir / "sgkit.toml").read_text())
    specific = tomllib.loads(path.read_text())
    overlap = set(common) & set(specific)
    if overlap:
        raise KitError(
            f"{path} redefines {', '.join(sorted(overlap))} from sgkit.toml",
            "keep design facts in sgkit.toml and version facts in contexts/",
        )
    return {**common, **specific}


def xen_series(version: str, context: Mapping[str, Any] | None = None) -> str:
    """The Xen series a version's source tree reports: '4.23' for 'staging', '4.17' for '4.17'.

    Here and below, ``context`` is the version's context when the caller has it already.
    """
    context = context or load_context(version)
    return str(context.get("xen", {}).get("series") or series_of(version))


def default_source(version: str, context: Mapping[str, Any] | None = None) -> str:
    """The --source used when none is given: the context's [xen] default_source, else debian."""
    context = context or load_context(version)
    return str(context.get("xen", {}).get("default_source") or "debian")


def has_toolstack(version: str) -> bool:
    """False for a version no packaged xl can drive ([xen] toolstack = false)."""
    return bool(load_context(version).get("xen", {}).get("toolstack", True))


def tree_version(tree: Path) -> str:
    """The Xen version of a source tree, read from xen/Makefile (e.g. '4.17.5')."""
    makefile = tree / "xen" / "Makefile"
    if not makefile.is_file():
        raise KitError(
            f"{tree} is not a Xen source tree (no xen/Makefile)",
            "point at the top of a Xen checkout or release tarball",
        )
    text = makefile.read_text(errors="replace")
    fields = {}
    for key in ("XEN_VERSION", "XEN_SUBVERSION", "XEN_EXTRAVERSION"):
        m = re.search(rf"^export {key}\s*\??=\s*(\S*)", text, re.M)
        fields[key] = m.group(1) if m else ""
    extra = re.match(r"^\.(\d+)", fields["XEN_EXTRAVERSION"])
    version = f"{fields['XEN_VERSION']}.{fields['XEN_SUBVERSION']}"
    return f"{version}.{extra.group(1)}" if extra else version
