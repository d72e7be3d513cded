"""The build matrix: a failing step ends its row, and the table says so."""

from __future__ import annotations

import json

from sgkit.build import matrix


def test_a_failing_fetch_skips_the_rest_of_the_row(isolated_cache, tmp_path):
    row = matrix.build_row("4.17", f"local:{tmp_path / 'no-such-tree'}")
    assert [s.status for s in row.steps] == ["fail", "skip", "skip", "skip", "skip"]
    assert not row.ok
    text = matrix.table([row])
    assert text.splitlines()[0].split() == ["xen", "source", *matrix.STEPS]
    assert "4.17 fetch: " in text and "no-such-tree" in text
    out = matrix.write_json([row], tmp_path / "m.json")
    data = json.loads(out.read_text())
    assert data["rows"][0]["ok"] is False and data["rows"][0]["steps"][1]["status"] == "skip"


def test_each_version_has_a_matrix_source():
    assert matrix.matrix_source("4.17") == "debian"
    assert matrix.matrix_source("4.22") == "tarball"
    # staging's default is git (xenbits); the matrix builds the ../shared snapshot.
    assert matrix.matrix_source("staging") == "tarball"
