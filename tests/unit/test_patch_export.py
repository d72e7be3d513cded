"""Exported mails are what git format-patch writes: git am takes them as commits."""

from __future__ import annotations

import subprocess

from sgkit.build.patch_export import export_series
from sgkit.build.patch_series import render_series
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
