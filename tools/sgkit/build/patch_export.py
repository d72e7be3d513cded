"""Export the rendered series as mails in ``git format-patch`` shape, for xen-devel.

Each patch becomes ``NNNN-subject.patch`` with the mbox ``From`` line,
``From:``, ``Date:``, ``Subject: [PATCH n/m]``, the description, a
Signed-off-by, the diffstat and the diff; ``0000-cover-letter.patch`` opens
the series.  The files feed ``git send-email`` or ``git am`` directly.

As a contributor would post them: ``--rfc`` and ``-v N`` go into the
subject prefix (``[RFC PATCH v2 1/4]``); the tree's own
``scripts/get_maintainer.pl`` names the recipients of each patch (lists in
``To:``, people in ``Cc:``, the cover letter to all of them); the cover
letter ends with ``base-commit:`` when the source pins an upstream commit.
"""

from __future__ import annotations

import email.utils
import hashlib
import os
import re
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

from sgkit.build.patch_series import RenderedSeries, format_diffstat
from sgkit.errors import KitError
from sgkit.procs import run

GIT_VERSION_TRAILER = "sgkit"


def default_author(fallback: str) -> str:
    """``Name <email>`` from git config, else the series' author."""
    try:
        name = run(["git", "config", "user.name"], check=False).stdout.strip()
        mail = run(["git", "config", "user.email"], check=False).stdout.strip()
    except KitError:  # no git
        return fallback
    return f"{name} <{mail}>" if name and mail else fallback


def subject_prefix(rfc: bool = False, reroll: int = 0) -> str:
    """``PATCH``, ``RFC PATCH``, ``PATCH v2``, ``RFC PATCH v3`` (git format-patch's spelling)."""
    if reroll < 0 or reroll == 1:
        raise KitError(
            f"-v {reroll}: a series version is 2 or more", "leave -v out for the first posting"
        )
    prefix = "RFC PATCH" if rfc else "PATCH"
    return f"{prefix} v{reroll}" if reroll else prefix


@dataclass(frozen=True)
class Recipients:
    """Who a mail goes to: mailing lists in ``To:``, people in ``Cc:``."""

    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)

    def headers(self) -> str:
        out = ""
        if self.to:
            out += "To: " + ",\n    ".join(self.to) + "\n"
        if self.cc:
            out += "Cc: " + ",\n    ".join(self.cc) + "\n"
        return out

    def __or__(self, other: Recipients) -> Recipients:
        return Recipients(
            to=list(dict.fromkeys(self.to + other.to)),
            cc=list(dict.fromkeys(self.cc + other.cc)),
        )


_LIST = re.compile(r"^[^<\s]+@lists?\.", re.IGNORECASE)


def parse_maintainers(output: str) -> Recipients:
    """get_maintainer.pl's ``--no-rolestats`` lines: a bare list address goes to To:."""
    to, cc = [], []
    for line in output.splitlines():
        line = line.strip()
        if not line or "@" not in line:
            continue
        (to if _LIST.match(line) else cc).append(line)
    return Recipients(to, cc)


def maintainers_of(tree: Path, patch: Path) -> Recipients:
    """The recipients the tree's own scripts/get_maintainer.pl names for ``patch``."""
    script = tree / "scripts" / "get_maintainer.pl"
    if not script.is_file():
        raise KitError(
            f"{tree} has no scripts/get_maintainer.pl to find the maintainers with",
            "export from a full Xen tree (--source), or pass --no-cc",
        )
    done = run(
        ["perl", script, "--no-rolestats", "--no-git", "--no-git-fallback", patch.resolve()],
        cwd=tree,
        what=f"get_maintainer.pl {patch.name}",
    )
    return parse_maintainers(done.stdout)


def export_series(
    series: RenderedSeries,
    out_dir: Path,
    author: str | None = None,
    prefix: str = "PATCH",
    date: float | None = None,
    tree: Path | None = None,
    base_commit: str | None = None,
    base_note: str | None = None,
) -> list[Path]:
    """Write the cover letter and one mail per patch; returns their paths in order.

    With ``tree`` (a pristine Xen tree) each mail gets the To:/Cc: lines its
    get_maintainer.pl gives; ``base_commit`` ends the cover letter as git
    format-patch --base does, and ``base_note`` says in words what the
    series applies to when no upstream commit pins it.
    """
    author = author or default_author(series.author)
    when = date if date is not None else float(os.environ.get("SOURCE_DATE_EPOCH", time.time()))
    stamp = email.utils.formatdate(when, localtime=False)
    total = len(series.patches)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob("[0-9][0-9][0-9][0-9]-*.patch"):
        stale.unlink()

    def tag(n: int) -> str:
        return f"[{prefix} {n}/{total}]" if total > 1 else f"[{prefix}]"

    recipients: dict[str, Recipients] = {}
    if tree is not None:
        staged = out_dir / ".get-maintainer"
        staged.mkdir(exist_ok=True)
        for p in series.patches:
            path = staged / p.name
            path.write_text(p.text(author))
            recipients[p.name] = maintainers_of(tree, path)
            path.unlink()
        staged.rmdir()
    everyone = Recipients()
    for r in recipients.values():
        everyone = everyone | r

    paths = []
    all_stats = [s for p in series.patches for s in p.stats()]
    cover = out_dir / "0000-cover-letter.patch"
    shortlog = "\n".join(f"  {p.subject}" for p in series.patches)
    base = f"base-commit: {base_commit}\n" if base_commit else ""
    applies = textwrap.fill(f"It applies to {base_note}.", 72) + "\n" if base_note else ""
    cover.write_text(
        f"From {'0' * 40} Mon Sep 17 00:00:00 2001\n"
        f"From: {author}\n"
        f"Date: {stamp}\n"
        f"Subject: {tag(0)} sg_op: scatter-gather copy and address-bound event channels\n"
        f"{everyone.headers()}\n"
        "Instead of mapping another domain's memory through grants, a domain\n"
        "registers a scatter-gather list of its own memory with Xen and gets an\n"
        "ID; a peer asks Xen to copy into or out of that list, as a device would\n"
        "DMA.  Event channels bound to an address signal the transfers.\n\n"
        f"This series is rendered by sgkit for Xen {series.xen}.\n"
        f"{applies}"
        f"\n{author.split(' <')[0]} ({total}):\n{shortlog}\n\n"
        f"{format_diffstat(all_stats)}\n\n"
        f"{base}"
        f"-- \n{GIT_VERSION_TRAILER}\n\n"
    )
    paths.append(cover)
    for p in series.patches:
        commit = hashlib.sha1(p.text(author).encode()).hexdigest()
        body = p.text(author).split("\n", 2)[2]  # drop From:/Subject:, keep the rest
        mail = (
            f"From {commit} Mon Sep 17 00:00:00 2001\n"
            f"From: {author}\n"
            f"Date: {stamp}\n"
            f"Subject: {tag(p.number)} {p.subject}\n"
            f"{recipients.get(p.name, Recipients()).headers()}"
            f"{body}"
            f"-- \n{GIT_VERSION_TRAILER}\n\n"
        )
        path = out_dir / p.name
        path.write_text(mail)
        paths.append(path)
    return paths


def upstream_base(kind: str, location: str, context: dict[str, object]) -> tuple[str | None, str]:
    """(the upstream commit the series applies to, if the source pins one; a note in words)."""
    sources = context.get("sources", {})
    assert isinstance(sources, dict)
    tarball = sources.get("tarball", {})
    if kind == "git":
        ref = location.partition("#")[2]
        if re.fullmatch(r"[0-9a-f]{40}", ref):
            return ref, f"upstream Xen at {ref[:12]}"
        return None, f"upstream Xen at {ref}"
    if kind == "tarball" and isinstance(tarball, dict) and tarball.get("commit"):
        commit = str(tarball["commit"])
        return commit, f"upstream Xen at {commit[:12]}"
    if kind == "debian":
        version = location.partition("=")[2]
        found = re.search(r"-g([0-9a-f]{7,40})", version)
        where = f", upstream commit {found[1]}" if found else ""
        return None, f"Debian's xen {version} source package{where}"
    return None, f"the tree at {location}"
