"""Version names, contexts and the per-version default source (4.17, 4.22, staging)."""

from __future__ import annotations

import hashlib
import tarfile
from pathlib import Path

import pytest

from sgkit.build.versions import (
    default_source,
    has_toolstack,
    known_versions,
    load_context,
    series_of,
    xen_series,
)
from sgkit.build.xen_sources import fetch, parse_spec, resolve_shared
from sgkit.errors import KitError
from sgkit.paths import shared_dir
from tests.unit.test_patch_apply import make_tree


def test_named_contexts_and_series():
    assert {"4.17", "4.22", "staging"} <= set(known_versions())
    assert series_of("4.22.0") == "4.22"
    assert series_of("staging") == "staging"
    assert xen_series("staging") == "4.23"
    assert xen_series("4.22") == "4.22"
    with pytest.raises(KitError, match="cannot read a Xen version"):
        series_of("trunk")
    with pytest.raises(KitError, match=r"unknown Xen version 4\.99"):
        load_context("4.99")


def test_each_version_has_its_own_default_source():
    assert default_source("4.17") == "debian"
    assert default_source("4.22") == "tarball"
    assert default_source("staging") == "git"
    assert parse_spec("", "4.17").kind == "debian"
    pinned = parse_spec("", "4.22")
    assert (pinned.kind, pinned.location) == (
        "tarball",
        "shared:xen-upstream/xen-4.22.0-hypervisor.tar.xz",
    )
    assert pinned.sha256 == load_context("4.22")["sources"]["tarball"]["sha256"]
    assert parse_spec("", "staging").location.endswith(
        "#" + load_context("staging")["sources"]["git"]["ref"]
    )
    assert has_toolstack("4.17")
    assert not has_toolstack("4.22")
    assert not has_toolstack("staging")


def test_shared_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SGKIT_SHARED_DIR", str(tmp_path))
    assert shared_dir() == tmp_path.resolve()
    (tmp_path / "xen-upstream").mkdir()
    (tmp_path / "xen-upstream" / "a.tar.xz").write_bytes(b"x")
    assert (
        resolve_shared("shared:xen-upstream/a.tar.xz")
        == (tmp_path / "xen-upstream" / "a.tar.xz").as_uri()
    )
    assert resolve_shared("http://example.org/x") == "http://example.org/x"


def test_a_missing_shared_directory_names_the_fix(tmp_path, monkeypatch, isolated_cache):
    monkeypatch.setenv("SGKIT_SHARED_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(KitError, match="SGKIT_SHARED_DIR") as err:
        fetch(parse_spec("", "4.22"))
    assert "xen-upstream/xen-4.22.0-hypervisor.tar.xz" in str(err.value)
    assert not (isolated_cache / "sources").exists() or not any(
        (isolated_cache / "sources").iterdir()
    )


def test_a_shared_tarball_is_fetched_through_its_pin(tmp_path, monkeypatch, isolated_cache):
    tree = make_tree(tmp_path / "src")
    (tree / "xen" / "Makefile").write_text(
        "export XEN_VERSION = 4\nexport XEN_SUBVERSION = 23\nexport XEN_EXTRAVERSION ?= -unstable\n"
    )
    shared = tmp_path / "shared"
    (shared / "up").mkdir(parents=True)
    archive = shared / "up" / "x.tar.xz"
    with tarfile.open(archive, "w:xz") as tar:
        tar.add(tree, arcname="xen-staging")
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    monkeypatch.setenv("SGKIT_SHARED_DIR", str(shared))
    got = fetch(parse_spec(f"tarball:shared:up/x.tar.xz#sha256={sha}", "staging"))
    assert got.xen_version == "4.23"
    assert (got.path / "xen" / "common" / "f.c").is_file()
    with pytest.raises(KitError, match="does not match its pinned sha256"):
        fetch(parse_spec(f"tarball:shared:up/x.tar.xz#sha256={'0' * 64}", "staging"))


def test_contexts_keep_design_facts_out(tmp_path):
    for version in known_versions():
        context = load_context(version)
        assert context["hypercall"]["name"] == "sg_op"
        assert "limits" in context and "abi" in context
        assert Path(context["hunks"]["xen_h"]["file"]).name == "xen.h"
