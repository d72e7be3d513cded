"""Exported mails are what git format-patch writes: git am takes them as commits."""

from __future__ import annotations

import subprocess

import pytest

from sgkit.build.patch_export import (
    Recipients,
    export_series,
    parse_maintainers,
    subject_prefix,
    upstream_base,
)
from sgkit.build.patch_series import render_series
from sgkit.errors import KitError
from tests.unit.test_patch_apply import make_patches, make_tree


def git(cwd, *args):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)


def test_git_am_applies_the_exported_series(tmp_path):
    series = render_series("9.9", make_patches(tmp_path / "p"))
    mails = export_series(series, tmp_path / "mail", author="A U Thor <author@example.org>", date=0)
    assert [m.name for m in mails] == [
        "0000-cover-letter.patch",
        "0001-add-a-line.patch",
        "0002-second.patch",
    ]
    first = mails[1].read_text()
    assert first.startswith("From ") and "\nSubject: [PATCH 1/2] add a line\n" in first
    assert "Signed-off-by: A U Thor <author@example.org>" in first
    assert "1 file changed, 1 insertion(+)" in first
    assert "Subject: [PATCH 0/2]" in mails[0].read_text()

    repo = make_tree(tmp_path / "repo")
    git(repo, "init", "-q")
    git(repo, "-c", "user.name=x", "-c", "user.email=x@x", "add", "-A")
    git(repo, "-c", "user.name=x", "-c", "user.email=x@x", "commit", "-qm", "base")
    git(repo, "-c", "user.name=x", "-c", "user.email=x@x", "am", "-q", *map(str, mails[1:]))
    log = git(repo, "log", "--format=%s|%an|%b", "-2").stdout
    assert "second|A U Thor|" in log and "add a line|A U Thor|" in log
    assert "added" in (repo / "xen/common/f.c").read_text()


def test_real_series_exports_with_cover_letter(tmp_path):
    mails = export_series(render_series("4.17"), tmp_path, author="A <a@b.c>", date=0)
    assert len(mails) == 1 + len(render_series("4.17").patches)
    assert "xen/common/sg_op.c" in mails[0].read_text()


def test_subject_prefixes_as_git_format_patch_spells_them():
    assert subject_prefix() == "PATCH"
    assert subject_prefix(rfc=True) == "RFC PATCH"
    assert subject_prefix(reroll=3) == "PATCH v3"
    assert subject_prefix(rfc=True, reroll=2) == "RFC PATCH v2"
    with pytest.raises(KitError, match="2 or more"):
        subject_prefix(reroll=1)


def test_get_maintainer_output_splits_into_lists_and_people():
    out = (
        "Jan Beulich <jbeulich@suse.com>\n"
        '"Daniel P. Smith" <dpsmith@apertussolutions.com>\n'
        "xen-devel@lists.xenproject.org\n"
        "\nnot an address\n"
    )
    got = parse_maintainers(out)
    assert got.to == ["xen-devel@lists.xenproject.org"]
    assert got.cc == [
        "Jan Beulich <jbeulich@suse.com>",
        '"Daniel P. Smith" <dpsmith@apertussolutions.com>',
    ]
    both = got | Recipients(["xen-devel@lists.xenproject.org"], ["Jan Beulich <jbeulich@suse.com>"])
    assert both == got  # the union keeps each address once, in order


def test_base_commit_only_when_the_source_pins_one():
    context = {"sources": {"tarball": {"commit": "d45d5687f1441495f4ee20d5e9940066c5fa5beb"}}}
    commit, note = upstream_base("tarball", "shared:x.tar.xz", context)
    assert commit == "d45d5687f1441495f4ee20d5e9940066c5fa5beb" and "d45d5687f144" in note
    sha = "c447b7308b1330ec6dcfef37220736c28f41daa0"
    assert upstream_base("git", f"https://x/xen.git#{sha}", {})[0] == sha
    assert upstream_base("git", "https://x/xen.git#RELEASE-4.17.5", {}) == (
        None,
        "upstream Xen at RELEASE-4.17.5",
    )
    commit, note = upstream_base("debian", "xen=4.17.5+72-g01140da4e8-1", {})
    assert commit is None and "upstream commit 01140da4e8" in note


def test_cover_letter_ends_with_the_base_commit(tmp_path):
    series = render_series("9.9", make_patches(tmp_path / "p"))
    sha = "c447b7308b1330ec6dcfef37220736c28f41daa0"
    mails = export_series(series, tmp_path / "m", author="A <a@b.c>", date=0, base_commit=sha)
    assert mails[0].read_text().endswith(f"base-commit: {sha}\n-- \nsgkit\n\n")
