"""The git source provider against a local git repository of the staging snapshot.

xenbits is not reachable from the build machines, so ``git:URL#REF`` (the
default source for ``--xen staging``) is proven on a repository made here
from ``../shared/xen-upstream``'s staging archive, at the snapshot's
commit: the tree fetched through git is the archive's tree, the series
applies to it without offsets, and a second fetch comes from the cache.
"""

from __future__ import annotations

import subprocess
import tarfile

import pytest

from sgkit.build.patch_apply import apply_series
from sgkit.build.patch_series import render_series
from sgkit.build.versions import load_context
from sgkit.build.xen_sources import fetch, parse_spec, resolve_shared

IDENT = ["-c", "user.name=sgkit", "-c", "user.email=sgkit@example.org"]


def _git(repo, *args) -> str:
    done = subprocess.run(["git", *IDENT, *args], cwd=repo, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(scope="module")
def staging_repo(tmp_path_factory):
    tarball = load_context("staging")["sources"]["tarball"]
    root = tmp_path_factory.mktemp("staging-git")
    archive = resolve_shared(tarball["url"]).removeprefix("file://")
    with tarfile.open(archive) as tar:
        tar.extractall(root, filter="data")
    [tree] = [p for p in root.iterdir() if p.is_dir()]
    _git(tree, "init", "-q")
    _git(tree, "add", "-A")
    _git(tree, "commit", "-qm", "staging snapshot")
    return tree, _git(tree, "rev-parse", "HEAD")


def test_git_source_at_a_commit_fetches_and_takes_the_series(staging_repo, isolated_cache):
    repo, commit = staging_repo
    spec = parse_spec(f"git:file://{repo}#{commit}", "staging")
    pristine = fetch(spec)
    assert pristine.xen_version.startswith("4.23")
    assert (pristine.path / "xen" / "common" / "event_channel.c").read_bytes() == (
        repo / "xen" / "common" / "event_channel.c"
    ).read_bytes()
    assert not (pristine.path / ".git").exists()
    result = apply_series(
        render_series("staging"), pristine.path, pristine.tree_hash, isolated_cache / "work"
    )
    assert result.offsets == [] and (isolated_cache / "work/xen/common/sg_op.c").is_file()
    again = fetch(spec)  # the cache answers: same tree, same hash
    assert again.path == pristine.path and again.tree_hash == pristine.tree_hash


def test_git_source_with_a_ref_that_does_not_exist_is_named(staging_repo, isolated_cache):
    repo, _ = staging_repo
    from sgkit.errors import KitError

    with pytest.raises(KitError) as err:
        fetch(parse_spec(f"git:file://{repo}#no-such-branch", "staging"))
    assert "no-such-branch" in str(err.value)
    assert "check the URL and that the ref" in str(err.value)
