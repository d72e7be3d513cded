"""Applying a series: atomic on failure, errors naming patch/file/hunk, incremental sync."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from sgkit.build.patch_apply import apply_series
from sgkit.build.patch_series import render_series
from sgkit.build.trees import hash_tree
from sgkit.errors import KitError

ORIGINAL = "\n".join(f"line {i}" for i in range(1, 41)) + "\n"


def make_patches(root: Path, context_line: str = "line 11") -> Path:
    """A one-patch series for a made-up Xen 9.9 that inserts a line after line 12."""
    (root / "contexts").mkdir(parents=True)
    (root / "templates").mkdir()
    (root / "files").mkdir()
    (root / "sgkit.toml").write_text('author = "T <t@example.org>"\n')
    (root / "contexts" / "9.9.toml").write_text(
        textwrap.dedent(
            f"""\
            [hunk]
            file = "xen/common/f.c"
            line = 10
            before = ["line 10", "{context_line}", "line 12"]
            after = ["line 13", "line 14", "line 15"]
            """
        )
    )
    (root / "series").write_text("0001-add-a-line.patch.j2\n0002-second.patch.j2\n")
    (root / "templates" / "0001-add-a-line.patch.j2").write_text(
        "Subject: add a line\n\nBody.\n---\n"
        "--- a/{{ hunk.file }}\n+++ b/{{ hunk.file }}\n@@ -{{ hunk.line }} +{{ hunk.line }} @@\n"
        "{{ hunk.before | context }}\n+added\n{{ hunk.after | context }}\n"
    )
    (root / "templates" / "0002-second.patch.j2").write_text(
        "Subject: second\n\nBody.\n---\n{{ new_file('xen/common/new.c') }}\n"
    )
    (root / "files" / "xen" / "common").mkdir(parents=True)
    (root / "files" / "xen" / "common" / "new.c.j2").write_text("int x;\n")
    return root


def make_tree(root: Path) -> Path:
    (root / "xen" / "common").mkdir(parents=True)
    (root / "xen" / "Makefile").write_text("export XEN_VERSION = 9\nexport XEN_SUBVERSION = 9\n")
    (root / "xen" / "common" / "f.c").write_text(ORIGINAL)
    (root / "xen" / "common" / "other.c").write_text("other\n")
    return root


def test_apply_writes_the_series_and_is_idempotent(tmp_path):
    series = render_series("9.9", make_patches(tmp_path / "p"))
    pristine = make_tree(tmp_path / "pristine")
    target = tmp_path / "work"
    result = apply_series(series, pristine, hash_tree(pristine), target)
    text = (target / "xen/common/f.c").read_text()
    assert "line 12\nadded\nline 13" in text
    assert (target / "xen/common/new.c").read_text() == "int x;\n"
    assert not result.up_to_date and not result.offsets
    again = apply_series(series, pristine, hash_tree(pristine), target)
    assert again.up_to_date
    # The pristine tree itself is never touched.
    assert (pristine / "xen/common/f.c").read_text() == ORIGINAL


def test_failing_hunk_names_patch_file_and_hunk_and_changes_nothing(tmp_path):
    series = render_series("9.9", make_patches(tmp_path / "p", context_line="no such line"))
    pristine = make_tree(tmp_path / "pristine")
    target = make_tree(tmp_path / "work")  # an existing tree must stay as it was
    before = hash_tree(target)
    with pytest.raises(KitError) as err:
        apply_series(series, pristine, hash_tree(pristine), target)
    message = str(err.value)
    assert "0001-add-a-line.patch" in message
    assert "xen/common/f.c: hunk #1 (at line 10)" in message
    assert hash_tree(target) == before
    assert hash_tree(pristine) == hash_tree(make_tree(tmp_path / "fresh"))
    assert not list(tmp_path.glob("**/.apply-*")), "staging directory left behind"


def test_offset_is_reported(tmp_path):
    patches = make_patches(tmp_path / "p")
    ctx = patches / "contexts" / "9.9.toml"
    ctx.write_text(ctx.read_text().replace("line = 10", "line = 7"))
    series = render_series("9.9", patches)
    pristine = make_tree(tmp_path / "pristine")
    result = apply_series(series, pristine, hash_tree(pristine), tmp_path / "work")
    assert result.offsets and "offset 3" in result.offsets[0]


def test_reapplying_a_changed_series_rewrites_only_changed_files(tmp_path):
    patches = make_patches(tmp_path / "p")
    pristine = make_tree(tmp_path / "pristine")
    target = tmp_path / "work"
    apply_series(render_series("9.9", patches), pristine, hash_tree(pristine), target)
    old = target / "xen/common/other.c"
    os.utime(old, (1_000_000, 1_000_000))
    (patches / "files" / "xen" / "common" / "new.c.j2").write_text("int y;\n")
    result = apply_series(render_series("9.9", patches), pristine, hash_tree(pristine), target)
    assert [str(p) for p in result.changed] == ["xen/common/new.c"]
    assert old.stat().st_mtime == 1_000_000
