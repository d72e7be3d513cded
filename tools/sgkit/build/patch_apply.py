"""Apply a rendered series to a Xen tree, atomically.

The series is applied to a fresh copy of the pristine tree in a staging
directory.  Only when every hunk of every patch applied is the target tree
brought up to date, and then only files whose content differs are written,
so an incremental build rebuilds what the series really changed.  On a
failing hunk the staging copy is thrown away and the target is untouched;
the error names the patch, the file and the hunk.
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from sgkit import progress
from sgkit.build.patch_series import RenderedSeries
from sgkit.build.trees import copy_tree, sync_tree
from sgkit.errors import KitError
from sgkit.procs import require, run

APPLIED_MARKER = ".sgkit-applied.json"

_FILE_RE = re.compile(r"^(?:checking|patching) file (\S+)")
_FAILED_RE = re.compile(r"^Hunk #(\d+) FAILED at (\d+)")
_OFFSET_RE = re.compile(
    r"^Hunk #(\d+) succeeded at (\d+)(?: with fuzz \d+)? \(offset (-?\d+) lines?\)"
)


@dataclass
class ApplyResult:
    tree: Path
    series_digest: str
    source_hash: str
    changed: list[Path] = field(default_factory=list)
    offsets: list[str] = field(default_factory=list)
    up_to_date: bool = False


def applied_state(tree: Path) -> dict[str, str] | None:
    marker = tree / APPLIED_MARKER
    return json.loads(marker.read_text()) if marker.is_file() else None


def apply_series(
    series: RenderedSeries, pristine: Path, source_hash: str, target: Path
) -> ApplyResult:
    """Make ``target`` equal to ``pristine`` plus ``series``; atomic on failure."""
    state = {"source_tree_sha256": source_hash, "series_digest": series.digest}
    if applied_state(target) == state:
        return ApplyResult(target, series.digest, source_hash, up_to_date=True)
    require("patch")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".apply-") as tmp:
        staging = Path(tmp) / "tree"
        patch_dir = Path(tmp) / "patches"
        with progress.step(f"copying the pristine tree {pristine}"):
            copy_tree(pristine, staging)
        offsets: list[str] = []
        for path in series.write(patch_dir):
            offsets += _apply_one(path, staging, series.xen)
        (target / APPLIED_MARKER).unlink(missing_ok=True)
        changed = sync_tree(staging, target)
    (target / APPLIED_MARKER).write_text(json.dumps(state, indent=2) + "\n")
    for note in offsets:
        progress.say(f"warning: {note}")
    return ApplyResult(target, series.digest, source_hash, changed, offsets)


def _apply_one(patch: Path, tree: Path, xen: str) -> list[str]:
    base = ["patch", "-p1", "--batch", "--forward", "--no-backup-if-mismatch", "-F0"]
    base += ["-d", str(tree), "-i", str(patch)]
    dry = run([*base, "--dry-run"], check=False)
    if dry.returncode != 0:
        raise _failure(patch, dry.stdout + dry.stderr, xen)
    done = run(base, check=False)
    if done.returncode != 0:  # pragma: no cover - the dry run said it applies
        raise _failure(patch, done.stdout + done.stderr, xen)
    notes = []
    current = "?"
    for line in done.stdout.splitlines():
        if m := _FILE_RE.match(line):
            current = m.group(1)
        elif m := _OFFSET_RE.match(line):
            notes.append(
                f"{patch.name}: {current} hunk #{m.group(1)} applied at line {m.group(2)}, "
                f"offset {m.group(3)}: update its line in patches/contexts/{xen}.toml"
            )
    return notes


def _failure(patch: Path, output: str, xen: str) -> KitError:
    current = "?"
    failures = []
    for line in output.splitlines():
        if m := _FILE_RE.match(line):
            current = m.group(1)
        elif m := _FAILED_RE.match(line):
            failures.append(f"{current}: hunk #{m.group(1)} (at line {m.group(2)})")
        elif "Reversed (or previously applied) patch detected" in line:
            failures.append(f"{current}: already applied (the tree is not pristine)")
        elif "can't find file to patch" in line or "No file to patch" in line:
            failures.append(f"{current}: file not found in the tree")
    detail = "\n  ".join(failures) if failures else output.strip()[-800:]
    return KitError(
        f"patch {patch.name} does not apply to this Xen {xen} tree:\n  {detail}\n"
        "nothing was changed: the target tree is as it was",
        f"fix the hunk's context in patches/contexts/{xen}.toml or the template",
    )
