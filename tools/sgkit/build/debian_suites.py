"""Package indexes of other Debian suites (trixie, sid), kept in the cache.

The kit builds guest modules for kernels the host's own suite does not carry
(Debian 13's 6.12, unstable's newest).  To find and download their packages
it keeps a private apt index per suite under ``downloads/apt/<suite>``: apt
runs with its own sources list, lists and caches, so the host's apt state is
never touched.  An index is refreshed when it is older than a day; when the
refresh fails (no network) an older index is used with a warning.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sgkit import progress
from sgkit.errors import KitError
from sgkit.paths import downloads_dir
from sgkit.procs import run

DEFAULT_MIRROR = "http://deb.debian.org/debian"
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
MAX_AGE_SECONDS = 24 * 3600


def mirror() -> str:
    """The Debian mirror: $SGKIT_DEBIAN_MIRROR, else deb.debian.org."""
    return os.environ.get("SGKIT_DEBIAN_MIRROR") or DEFAULT_MIRROR


@dataclass(frozen=True)
class SuiteIndex:
    suite: str
    root: Path  # downloads/apt/<suite>

    @property
    def stamp(self) -> Path:
        return self.root / "updated"

    def options(self) -> list[str]:
        """apt-get/apt-cache options that use this index and nothing of the host's."""
        settings = {
            "Dir::Etc::sourcelist": self.root / "sources.list",
            "Dir::Etc::sourceparts": "/nonexistent",
            "Dir::Etc::preferences": "/nonexistent",
            "Dir::Etc::preferencesparts": "/nonexistent",
            "Dir::State::Lists": self.root / "lists",
            "Dir::State::status": "/dev/null",
            "Dir::Cache": self.root / "cache",
            "APT::Sandbox::User": "root",
        }
        return [arg for key, value in settings.items() for arg in ("-o", f"{key}={value}")]


def sources_line(suite: str, mirror_url: str) -> str:
    return f"deb [signed-by={KEYRING}] {mirror_url} {suite} main\n"


def suite_index(suite: str) -> SuiteIndex:
    """The suite's index, fetched or refreshed (``apt-get update``) when missing or stale."""
    index = SuiteIndex(suite, downloads_dir() / "apt" / suite)
    sources = sources_line(suite, mirror())
    fresh = (
        index.stamp.is_file()
        and time.time() - index.stamp.stat().st_mtime < MAX_AGE_SECONDS
        and (index.root / "sources.list").read_text() == sources
    )
    if fresh:
        return index
    if not KEYRING.is_file():
        raise KitError(
            f"{KEYRING} is missing: the {suite} archive cannot be verified",
            "run `invoke setup` (installs debian-archive-keyring)",
        )
    for sub in ("lists/partial", "cache/archives/partial"):
        (index.root / sub).mkdir(parents=True, exist_ok=True)
    (index.root / "sources.list").write_text(sources)
    with progress.step(f"apt-get update for {suite} (the kit's own index)"):
        proc = run(["apt-get", *index.options(), "update", "-q"], check=False)
    if proc.returncode == 0:
        index.stamp.touch()
        return index
    if index.stamp.is_file():
        progress.say(f"warning: could not refresh the {suite} index; using the one from before")
        return index
    raise KitError(
        f"apt-get update for {suite} failed:\n{proc.stderr.strip()[-800:]}",
        f"check network access to {mirror()} (or set SGKIT_DEBIAN_MIRROR)",
    )


def memo(index: SuiteIndex, name: str, compute: Callable[[], Any]) -> Any:
    """``compute()`` (JSON data), remembered until the index is next refreshed.

    apt-cache takes about a second per call; a warm build reads answers from here.
    """
    path = index.root / "memo.json"
    stamp = index.stamp.stat().st_mtime if index.stamp.is_file() else None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        data = {}
    if data.get("stamp") != stamp or not isinstance(data.get("entries"), dict):
        data = {"stamp": stamp, "entries": {}}
    if name not in data["entries"]:
        data["entries"][name] = compute()
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        tmp.replace(path)
    return data["entries"][name]


def show(index: SuiteIndex, package: str) -> dict[str, str] | None:
    """The control fields of ``package``'s candidate in the suite, or None if it has none."""
    proc = run(["apt-cache", *index.options(), "show", "--no-all-versions", package], check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        return None
    return parse_stanza(proc.stdout)


def package_names(index: SuiteIndex, prefix: str) -> list[str]:
    proc = run(["apt-cache", *index.options(), "pkgnames", prefix])
    return sorted(line for line in proc.stdout.splitlines() if line)


def parse_stanza(text: str) -> dict[str, str]:
    """The first deb822 stanza of ``text`` as field -> value (continuation lines joined)."""
    fields: dict[str, str] = {}
    key = None
    for line in text.split("\n\n", 1)[0].splitlines():
        if line[:1] in (" ", "\t") and key:
            fields[key] += "\n" + line.strip()
        elif ":" in line:
            key, value = line.split(":", 1)
            fields[key] = value.strip()
    return fields


def parse_depends(value: str) -> list[list[str]]:
    """'a (>= 1), b | c:any' -> [['a'], ['b', 'c']]: package names, alternatives kept."""
    groups = []
    for group in value.split(","):
        names = [re.split(r"[\s(:\[]", alt.strip(), maxsplit=1)[0] for alt in group.split("|")]
        names = [n for n in names if n]
        if names:
            groups.append(names)
    return groups
