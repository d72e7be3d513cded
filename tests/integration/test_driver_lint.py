"""checkpatch.pl --strict and sparse on the sgnet and sghostile sources (issue 13).

Both tools run for real: checkpatch.pl from Debian's kernel source package
(fetched once into the cache), sparse from Debian's package through kbuild
against the 6.1 headers.  The second test plants one fault of each kind in a
copy of the drivers and requires both tools to report it, so the clean
result of the first cannot come from a tool that never looked.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sgkit.build import driver_lint
from sgkit.paths import LINUX_DRIVER_DIR
from tests.integration.conftest import invoke

# Trailing whitespace (checkpatch), and a little-endian field read as a CPU
# integer with no le32_to_cpu() (sparse: a restricted __le32 assigned to u32,
# "incorrect type in initializer (different base types)").
FAULT = """
u32 sgnet_lint_fault(const struct sgnet_hdr *h)
{
\tu32 n = h->len;\t
\treturn n;
}
"""


def test_checkpatch_strict_and_sparse_are_clean_on_the_drivers() -> None:
    files = driver_lint.lint_sources()
    assert {f.parts[0] for f in files} == {"sgnet", "sghostile"}
    assert Path("sgnet/datapath.c") in files and Path("sgnet/sgnetif.h") in files
    proc = invoke("driver.lint", timeout=1800)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "checkpatch --strict and sparse: clean (sgnet, sghostile)" in proc.stdout


def test_checkpatch_and_sparse_report_a_planted_fault(tmp_path: Path) -> None:
    root = tmp_path / "linux-driver"
    shutil.copytree(LINUX_DRIVER_DIR, root, ignore=shutil.ignore_patterns("generated"))
    with (root / "sgnet" / "datapath.c").open("a") as fh:
        fh.write(FAULT)
    found = driver_lint.checkpatch(driver_lint.lint_sources(root), root)
    assert [f.text.split(":")[0] for f in found if f.file == "sgnet/datapath.c"] == [
        "TRAILING_WHITESPACE"
    ], [str(f) for f in found]
    found = driver_lint.sparse(root)
    texts = [f.text for f in found if f.file == "sgnet/datapath.c"]
    assert "incorrect type in initializer (different base types)" in texts, [str(f) for f in found]
    assert all(f.file == "sgnet/datapath.c" for f in found), [str(f) for f in found]
