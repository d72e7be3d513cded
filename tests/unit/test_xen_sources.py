"""Source providers with real files, tarballs and git repositories (no network needed)."""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from sgkit.build.trees import hash_tree
from sgkit.build.xen_sources import fetch, parse_spec
from sgkit.errors import KitError
from tests.unit.test_patch_apply import make_tree


def make_tarball(tmp_path: Path) -> tuple[Path, str]:
    tree = make_tree(tmp_path / "xen-9.9.0")
    (tree / "xen" / "Makefile").write_text(
        "export XEN_VERSION = 4\nexport XEN_SUBVERSION = 17\nexport XEN_EXTRAVERSION ?= .5$(X)\n"
    )
    archive = tmp_path / "xen-4.17.5.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tree, arcname="xen-4.17.5")
    return archive, hashlib.sha256(archive.read_bytes()).hexdigest()


def listing(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []


def test_specs():
    assert parse_spec("debian").location == "xen=4.17.5+72-g01140da4e8-1"
    assert parse_spec("debian:4.17.3-1").location == "xen=4.17.3-1"
    pinned = parse_spec("tarball")
    assert pinned.location.startswith("http")
    assert len(pinned.sha256 or "") == 64
    assert parse_spec("git:https://x/y.git#RELEASE-4.17.5").location.endswith("#RELEASE-4.17.5")
    with pytest.raises(KitError, match="no sha256 pin"):
        parse_spec("tarball:http://example.org/x.tar.gz")
    with pytest.raises(KitError, match="names no ref"):
        parse_spec("git:https://x/y.git")
    with pytest.raises(KitError, match="unknown Xen source"):
        parse_spec("svn:foo")
    with pytest.raises(KitError, match="is not a directory"):
        parse_spec("local:/no/such/dir")


def test_tarball_is_verified_extracted_and_cached(tmp_path, isolated_cache):
    archive, sha = make_tarball(tmp_path)
    tree = fetch(parse_spec(f"tarball:{archive.as_uri()}#sha256={sha}"))
    assert tree.xen_version == "4.17.5"
    assert (tree.path / "xen" / "common" / "f.c").is_file()
    assert tree.path.is_relative_to(isolated_cache)
    archive.unlink()  # the second fetch needs no download
    assert fetch(parse_spec(f"tarball:{archive.as_uri()}#sha256={sha}")).tree_hash == tree.tree_hash


def test_wrong_sha256_keeps_nothing(tmp_path, isolated_cache):
    archive, _ = make_tarball(tmp_path)
    bad = "0" * 64
    with pytest.raises(KitError, match="does not match its pinned sha256"):
        fetch(parse_spec(f"tarball:{archive.as_uri()}#sha256={bad}"))
    assert [p for p in listing(isolated_cache) if p.endswith((".gz", "f.c"))] == []


def test_unreachable_url_is_a_clear_error(isolated_cache):
    with pytest.raises(KitError, match=r"cannot download http://127\.0\.0\.1:9/"):
        fetch(parse_spec(f"tarball:http://127.0.0.1:9/xen.tar.gz#sha256={'1' * 64}"))
    assert [p for p in listing(isolated_cache) if "sources/" in p and "/xen" in p] == []


def test_corrupt_tarball_with_matching_pin_is_rejected(tmp_path, isolated_cache):
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not a tarball" * 100)
    sha = hashlib.sha256(junk.read_bytes()).hexdigest()
    with pytest.raises(KitError, match="not a readable tarball"):
        fetch(parse_spec(f"tarball:{junk.as_uri()}#sha256={sha}"))
    assert not [p for p in listing(isolated_cache / "sources") if not p.startswith(".")]


def test_modified_pristine_tree_is_detected_and_restored(tmp_path, isolated_cache):
    archive, sha = make_tarball(tmp_path)
    spec = parse_spec(f"tarball:{archive.as_uri()}#sha256={sha}")
    tree = fetch(spec)
    (tree.path / "xen" / "common" / "f.c").write_text("tampered\n")
    again = fetch(spec)
    assert again.tree_hash == tree.tree_hash
    assert (again.path / "xen" / "common" / "f.c").read_text() != "tampered\n"


def test_git_source_at_a_tag(tmp_path, isolated_cache):
    repo = make_tree(tmp_path / "repo")
    (repo / "xen" / "Makefile").write_text("export XEN_VERSION = 4\nexport XEN_SUBVERSION = 17\n")
    env = ["-c", "user.name=x", "-c", "user.email=x@x"]
    subprocess.run(["git", "init", "-q", repo], check=True)
    subprocess.run(["git", *env, "-C", repo, "add", "-A"], check=True)
    subprocess.run(["git", *env, "-C", repo, "commit", "-qm", "base"], check=True)
    subprocess.run(["git", *env, "-C", repo, "tag", "RELEASE-4.17.0"], check=True)
    tree = fetch(parse_spec(f"git:{repo.as_uri()}#RELEASE-4.17.0"))
    assert tree.xen_version == "4.17"
    assert not (tree.path / ".git").exists()
    with pytest.raises(KitError, match="check the URL and that the ref"):
        fetch(parse_spec(f"git:{repo.as_uri()}#no-such-tag"))


def test_local_tree_is_used_in_place_and_hashed(tmp_path, isolated_cache):
    tree = make_tree(tmp_path / "local")
    (tree / "xen" / "Makefile").write_text("export XEN_VERSION = 4\nexport XEN_SUBVERSION = 17\n")
    got = fetch(parse_spec(f"local:{tree}"))
    assert got.path == tree.resolve() and got.tree_hash == hash_tree(tree)


def test_a_directory_that_is_not_xen_is_named(tmp_path, isolated_cache):
    (tmp_path / "empty").mkdir()
    with pytest.raises(KitError, match="is not a Xen source tree"):
        fetch(parse_spec(f"local:{tmp_path / 'empty'}"))


def test_tarball_members_cannot_escape(tmp_path, isolated_cache):
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        data = b"x"
        info = tarfile.TarInfo("../escape")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    sha = hashlib.sha256(evil.read_bytes()).hexdigest()
    with pytest.raises(KitError):
        fetch(parse_spec(f"tarball:{evil.as_uri()}#sha256={sha}"))
    assert not (isolated_cache / "escape").exists()
