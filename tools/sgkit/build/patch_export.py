"""Export the rendered series as mails in ``git format-patch`` shape, for xen-devel.

Each patch becomes ``NNNN-subject.patch`` with the mbox ``From`` line,
``From:``, ``Date:``, ``Subject: [PATCH n/m]``, the description, a
Signed-off-by, the diffstat and the diff; ``0000-cover-letter.patch`` opens
the series.  The files feed ``git send-email`` or ``git am`` directly.
"""

from __future__ import annotations

import email.utils
import hashlib
import os
import time
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


def export_series(
    series: RenderedSeries,
    out_dir: Path,
    author: str | None = None,
    prefix: str = "PATCH",
    date: float | None = None,
) -> list[Path]:
    """Write the cover letter and one mail per patch; returns their paths in order."""
    author = author or default_author(series.author)
    when = date if date is not None else float(os.environ.get("SOURCE_DATE_EPOCH", time.time()))
    stamp = email.utils.formatdate(when, localtime=False)
    total = len(series.patches)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob("[0-9][0-9][0-9][0-9]-*.patch"):
        stale.unlink()

    def tag(n: int) -> str:
        return f"[{prefix} {n}/{total}]" if total > 1 else f"[{prefix}]"

    paths = []
    all_stats = [s for p in series.patches for s in p.stats()]
    cover = out_dir / "0000-cover-letter.patch"
    shortlog = "\n".join(f"  {p.subject}" for p in series.patches)
    cover.write_text(
        f"From {'0' * 40} Mon Sep 17 00:00:00 2001\n"
        f"From: {author}\n"
        f"Date: {stamp}\n"
        f"Subject: {tag(0)} sg_op: scatter-gather copy and address-bound event channels\n\n"
        "Instead of mapping another domain's memory through grants, a domain\n"
        "registers a scatter-gather list of its own memory with Xen and gets an\n"
        "ID; a peer asks Xen to copy into or out of that list, as a device would\n"
        "DMA.  Event channels bound to an address signal the transfers.\n\n"
        f"This series is rendered by sgkit for Xen {series.xen}.\n\n"
        f"{author.split(' <')[0]} ({total}):\n{shortlog}\n\n"
        f"{format_diffstat(all_stats)}\n"
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
            f"{body}"
            f"-- \n{GIT_VERSION_TRAILER}\n\n"
        )
        path = out_dir / p.name
        path.write_text(mail)
        paths.append(path)
    return paths
