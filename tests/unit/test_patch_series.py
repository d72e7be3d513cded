"""Rendering the patch series: determinism, hunk arithmetic, errors that name the problem."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from sgkit.build.patch_series import format_diffstat, normalize_diff, render_file, render_series
from sgkit.build.versions import load_context
from sgkit.errors import KitError
from sgkit.paths import PATCHES_DIR


def test_render_is_deterministic():
    a, b = render_series("4.17"), render_series("4.17.5")
    assert a.digest == b.digest
    assert [p.text(a.author) for p in a.patches] == [p.text(b.author) for p in b.patches]


def _patch(xen: str, subject: str):
    return next(p for p in render_series(xen).patches if p.subject == subject)


def test_series_follows_the_series_file_and_numbers_patches():
    series = render_series("4.17")
    names = [p.name for p in series.patches]
    assert [n[:5] for n in names] == ["0001-", "0002-", "0003-", "0004-", "0005-"]
    assert [p.number for p in series.patches] == [1, 2, 3, 4, 5]
    assert all(n.endswith(".patch") for n in names)
    assert [p.subject for p in series.patches[:2]] == [
        "xsm/flask: check XEN_DOMCTL_soft_reset_cont as soft_reset",
        "xen/public: add the sg_op hypercall interface",
    ]


@pytest.mark.parametrize("xen", ["4.17", "4.22", "staging"])
def test_the_flask_fix_stands_alone_first_and_nothing_else_repeats_it(xen):
    """Patch 0001 is the upstream FLASK fix on its own: one file, one added line."""
    first, *rest = render_series(xen).patches
    assert first.name.startswith("0001-xsm-flask-")
    added = [x for x in first.diff.splitlines() if x.startswith("+") and not x.startswith("+++")]
    assert added == ["+    case XEN_DOMCTL_soft_reset_cont:"]
    assert [s.path for s in first.stats()] == ["xen/xsm/flask/hooks.c"]
    assert all("XEN_DOMCTL_soft_reset_cont:" not in p.diff for p in rest)


@pytest.mark.parametrize("xen", ["4.17", "4.22", "staging"])
def test_the_xsm_patch_counts_the_fix_above_its_flask_hunks(xen):
    """0004's FLASK hunks start at their pristine line + 1: 0001 added one line above them."""
    hunks = load_context(xen)["hunks"]
    fix = hunks["flask_soft_reset_cont"]
    for name in ("flask_functions", "flask_table"):
        assert hunks[name]["file"] == fix["file"] and hunks[name]["line"] > fix["line"]
    xsm = _patch(xen, "xsm: add hooks for the sg_op sub-ops").diff
    headers = []
    in_hooks = False
    for line in xsm.splitlines():
        if line.startswith("+++ "):
            in_hooks = line.endswith("xen/xsm/flask/hooks.c")
        elif in_hooks and line.startswith("@@"):
            headers.append(int(line.split()[1].lstrip("-").split(",")[0]))
    assert headers == [hunks["flask_functions"]["line"] + 1, hunks["flask_table"]["line"] + 1]


def test_hypercall_number_comes_from_the_version_context():
    text = _patch("4.17", "xen/public: add the sg_op hypercall interface").diff
    assert "+#define __HYPERVISOR_sg_op                47" in text
    assert "+++ b/xen/include/public/sg_op.h" in text


def test_wired_for_pv64_and_hvm64_only():
    diff = _patch("4.17", "xen/common: add the sg_op hypercall with XEN_SGOP_query").diff
    row = next(line for line in diff.splitlines() if line.startswith("+sg_op "))
    assert row.split()[1:] == ["-", "do", "-", "do", "-"]


def test_rendered_hunks_have_correct_counts():
    for patch in render_series("4.17").patches:
        lines = patch.diff.splitlines()
        for i, line in enumerate(lines):
            if not line.startswith("@@"):
                continue
            old, new = line.split()[1:3]
            n_old = int(old.split(",")[1]) if "," in old else 1
            n_new = int(new.split(",")[1]) if "," in new else 1
            body = []
            for b in lines[i + 1 :]:
                if b.startswith(("@@", "diff --git")):
                    break
                body.append(b)
            assert sum(b[0] in " -" for b in body) == n_old, line
            assert sum(b[0] in " +" for b in body) == n_new, line


def test_linux_flavour_of_the_header_defines_the_number():
    linux = render_file("xen/include/public/sg_op.h", "4.17", target="linux")
    xen = render_file("xen/include/public/sg_op.h", "4.17", target="xen")
    assert "#include <xen/interface/xen.h>" in linux and "#define __HYPERVISOR_sg_op 47" in linux
    assert '#include "xen.h"' in xen and "DEFINE_XEN_GUEST_HANDLE(xen_sg_query_t)" in xen


def test_unknown_xen_version_is_named():
    with pytest.raises(KitError, match=r"unknown Xen version 4\.99.*4\.17"):
        render_series("4.99")


def test_normalize_counts_and_shifts_later_hunks():
    diff = textwrap.dedent(
        """\
        --- a/f.c
        +++ b/f.c
        @@ -10 +10 @@
         a
         b
         c
        +new1
        +new2
         d
         e
         f
        @@ -50 +50 @@
         x
         y
         z
        -gone
         p
         q
         r
        """
    )
    out = normalize_diff(diff)
    assert "diff --git a/f.c b/f.c" in out
    assert "@@ -10,6 +10,8 @@" in out
    assert "@@ -50,7 +52,6 @@" in out


def test_uneven_context_is_refused():
    diff = "--- a/f.c\n+++ b/f.c\n@@ -10 +10 @@\n a\n b\n c\n+n\n d\n"
    with pytest.raises(KitError, match="3 lines of context before the change and 1 after"):
        normalize_diff(diff, "0001-x.patch")


def test_diffstat_shape():
    from sgkit.build.patch_series import FileStat

    text = format_diffstat([FileStat("a/b.c", 3, 1), FileStat("x.h", 10, 0)])
    assert " a/b.c |  4 +++-" in text
    assert "2 files changed, 13 insertions(+), 1 deletion(-)" in text


def _copy_patches(tmp_path: Path) -> Path:
    dst = tmp_path / "patches"
    shutil.copytree(PATCHES_DIR, dst)
    return dst


def test_missing_template_in_series_is_named(tmp_path):
    patches = _copy_patches(tmp_path)
    (patches / "series").write_text("0009-nope.patch.j2\n")
    with pytest.raises(KitError, match=r"0009-nope\.patch\.j2"):
        render_series("4.17", patches)


def test_undefined_context_value_names_the_version_file(tmp_path):
    patches = _copy_patches(tmp_path)
    ctx = patches / "contexts" / "4.17.toml"
    ctx.write_text(ctx.read_text().replace("[hunks.xen_h]", "[hunks.xen_h_renamed]"))
    with pytest.raises(KitError, match=r"contexts/4\.17\.toml"):
        render_series("4.17", patches)


def test_plain_files_are_taken_as_they_are_and_templates_rendered(tmp_path):
    from sgkit.build.patch_series import _environment, _file_body

    files = tmp_path / "files" / "xen" / "common"
    files.mkdir(parents=True)
    (files / "plain.c").write_text("int a = {{ not_rendered }};\n")
    (files / "made.c.j2").write_text("int b = {{ value }};\n")
    env = _environment(tmp_path, {})
    assert _file_body(tmp_path, env, "xen/common/plain.c", {}) == "int a = {{ not_rendered }};\n"
    assert _file_body(tmp_path, env, "xen/common/made.c", {"value": 7}).startswith("int b = 7;")
    with pytest.raises(KitError, match="neither"):
        _file_body(tmp_path, env, "xen/common/none.c", {})


def test_only_files_that_use_jinja_carry_j2():
    for path in (PATCHES_DIR / "files").rglob("*"):
        if path.is_file():
            uses_jinja = any(mark in path.read_text() for mark in ("{{", "{%", "{#"))
            assert uses_jinja == (path.suffix == ".j2"), path
