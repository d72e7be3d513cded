"""Source trees: hashing, fresh copies, and syncing that keeps mtimes of unchanged files."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from pathlib import Path

# Names never part of a source tree's identity.
IGNORED = {".git", ".sgkit-source.json", ".sgkit-applied.json"}


def file_sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def publish_dir(staging: Path, dest: Path, manifest: dict[str, object]) -> None:
    """Write manifest.json into a finished staging directory and move it to dest.

    Readers see either the old complete directory or the new one: a build
    that fails or is interrupted before this point leaves dest as it was.
    """
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    if dest.exists():
        shutil.rmtree(dest)
    staging.rename(dest)


def iter_files(root: Path) -> list[Path]:
    """Every file and symlink under root, relative, sorted, skipping IGNORED names."""
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in IGNORED)
        base = Path(dirpath)
        for name in filenames:
            if name not in IGNORED:
                out.append((base / name).relative_to(root))
        for name in dirnames:
            if (base / name).is_symlink():
                out.append((base / name).relative_to(root))
    return sorted(out)


def hash_tree(root: Path) -> str:
    """sha256 over every path, its executable bit, and its content (or symlink target)."""
    h = hashlib.sha256()
    for rel in iter_files(root):
        path = root / rel
        h.update(str(rel).encode() + b"\0")
        if path.is_symlink():
            h.update(b"L" + os.readlink(path).encode() + b"\0")
            continue
        mode = path.stat().st_mode
        h.update(b"X" if mode & stat.S_IXUSR else b"F")
        with path.open("rb") as fh:
            h.update(hashlib.file_digest(fh, "sha256").digest())
    return h.hexdigest()


def newest_mtime(root: Path) -> float:
    """The newest modification time of any file under root (0 if empty)."""
    newest = 0.0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in IGNORED]
        for name in filenames:
            try:
                newest = max(newest, os.lstat(os.path.join(dirpath, name)).st_mtime)
            except FileNotFoundError:
                continue
    return newest


def copy_tree(src: Path, dst: Path) -> None:
    """A fresh copy of src at dst (which must not exist), symlinks kept as symlinks."""
    shutil.copytree(src, dst, symlinks=True, ignore=shutil.ignore_patterns(*IGNORED))


def _same(a: Path, b: Path) -> bool:
    if a.is_symlink() or b.is_symlink():
        return a.is_symlink() and b.is_symlink() and os.readlink(a) == os.readlink(b)
    sa, sb = a.stat(), b.stat()
    if sa.st_size != sb.st_size or (sa.st_mode & 0o777) != (sb.st_mode & 0o777):
        return False
    with a.open("rb") as fa, b.open("rb") as fb:
        while True:
            ca, cb = fa.read(1 << 20), fb.read(1 << 20)
            if ca != cb:
                return False
            if not ca:
                return True


def sync_tree(src: Path, dst: Path) -> list[Path]:
    """Make dst identical to src, touching only files whose content differs.

    Unchanged files keep their modification time, so an incremental build
    afterwards rebuilds only what really changed.  Returns the changed paths.
    """
    dst.mkdir(parents=True, exist_ok=True)
    want = set(iter_files(src))
    have = set(iter_files(dst))
    changed: list[Path] = []
    for rel in sorted(have - want):
        target = dst / rel
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink()
        changed.append(rel)
    for rel in sorted(want):
        s, d = src / rel, dst / rel
        if d.exists() or d.is_symlink():
            if _same(s, d):
                continue
            if d.is_dir() and not d.is_symlink():
                shutil.rmtree(d)
            else:
                d.unlink()
        d.parent.mkdir(parents=True, exist_ok=True)
        if s.is_symlink():
            os.symlink(os.readlink(s), d)
        else:
            shutil.copyfile(s, d)
            shutil.copymode(s, d)
        changed.append(rel)
    return changed
