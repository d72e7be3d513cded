"""The console protocol: the scripts, the parsers and docs/lab.md name the same markers."""

from __future__ import annotations

import re

import pytest

from sgkit.paths import GUEST_DIR, PROJECT_ROOT
from sgkit.report import protocol

_TOKEN = re.compile(r"SGKIT-[A-Z0-9]+(?:-[A-Z0-9]+)*")


def _printed_by_scripts() -> dict[str, set[str]]:
    """Marker name -> the scripts that print it (comments and greps for it left out)."""
    found: dict[str, set[str]] = {}
    for script in sorted(GUEST_DIR.glob("*.sh")):
        for line in script.read_text().splitlines():
            if line.lstrip().startswith("#"):
                continue
            # A grep for a marker reads it; text after "grep" does not print.
            printing = re.split(r"\bgrep\b", line)[0]
            for token in _TOKEN.findall(printing):
                found.setdefault(token, set()).add(script.name)
    return found


@pytest.mark.parametrize("marker", protocol.MARKERS, ids=lambda m: m.name)
def test_each_marker_reads_its_own_example(marker):
    match = marker.first(marker.example)
    assert match is not None and match.start() == 0
    # ... and only its own: no other marker's parser takes the example.
    others = [m.name for m in protocol.MARKERS if m is not marker and m.first(marker.example)]
    assert others == []


def test_markers_with_fields_capture_them():
    assert protocol.NET.first(protocol.NET.example)["mtu"] == "65535"
    line = "[  12.5] SGKIT-DOMU sg-b state=timeout seconds=300\n"
    assert protocol.DOMU.first(line).groupdict() == {
        "name": "sg-b",
        "state": "timeout",
        "seconds": "300",
    }
    assert protocol.BENCH_HC.first(protocol.BENCH_HC.example)["values"].split() == ["3", "4"]


def test_a_longer_marker_is_not_read_as_its_prefix():
    text = "SGKIT-NET-AFTER dom0 if=vsg0.0 carrier=0\nSGKIT-NETSTAT dom0 if=vsg0.0 a=1\n"
    assert protocol.NET.all(text) == []
    assert not protocol.FREE_MEMORY.seen("SGKIT-FREE-MEMORY-BEFORE 1502\n")
    assert not protocol.DONE.seen("SGKIT-DONEX\n")


def test_block_edges_carry_their_label():
    edge = protocol.block_edge("(d0) SGKIT-GUEST-LOG-END sg-a\r")
    assert edge is not None and (edge["name"], edge["edge"], edge["label"]) == (
        "SGKIT-GUEST-LOG",
        "END",
        "sg-a",
    )
    assert protocol.block_edge("SGKIT-GUEST-LOG-ENDED sg-a") is None


def test_the_scripts_print_only_defined_markers_and_every_marker_is_printed():
    printed = _printed_by_scripts()
    assert set(printed) - protocol.marker_names() == set()
    assert protocol.marker_names() - set(printed) == set()
    for marker in protocol.MARKERS:
        claimed = {s.strip() for s in marker.emitted_by.split(",")}
        assert claimed == printed[marker.name], marker.name


def test_no_other_module_spells_a_marker_regex():
    offenders = []
    for path in sorted((PROJECT_ROOT / "tools" / "sgkit").rglob("*.py")):
        if path.name == "protocol.py":
            continue
        for no, line in enumerate(path.read_text().splitlines(), 1):
            if "SGKIT-" in line and ("re.compile" in line or line.lstrip().startswith('r"SGKIT')):
                offenders.append(f"{path.name}:{no}")
    assert offenders == []


def test_docs_lab_md_carries_the_table():
    text = (PROJECT_ROOT / "docs" / "lab.md").read_text()
    assert protocol.markdown_table() in text


def test_query_and_global_diagnostics():
    ktap = (
        "KTAP version 1\n1..1\n"
        "# sgtest.query rc=0 abi_version=1.2 max_regs=256\n"
        "# sgtest.global regs=1 pinned_pages=2 bindings=3 addrs=4 domains=5\n"
        "ok 1 sg_op\n"
    )
    assert protocol.query_of(ktap) == {"rc": "0", "abi_version": "1.2", "max_regs": "256"}
    assert protocol.global_of(ktap) == {
        "regs": 1,
        "pinned_pages": 2,
        "bindings": 3,
        "addrs": 4,
        "domains": 5,
    }
    assert protocol.global_of(ktap.replace("domains=5", "domains=x")) is None
    assert protocol.query_of("no ktap here\n") is None
