"""Unit tests for sgkit.report.ktap on console logs shaped like the real ones."""

from __future__ import annotations

import re

from sgkit.report import ktap
from sgkit.report.ktap import (
    MAX_MISSING_LISTED,
    KtapDocument,
    diag_fields,
    iter_leaf_results,
    parse,
)

SG_OP_QUERY = (
    "# sgtest.query rc=0 abi_version=65536 max_regs=256 max_elems=64 "
    "max_pinned_pages=4096 max_bindings=1024 max_binds_per_addr=16 regs=0 "
    "pinned_pages=0 bindings=0"
)
SG_OP_KTAP = f"""KTAP version 1
1..1
    KTAP version 1
    # Subtest: sg_op
    1..4
    {SG_OP_QUERY}
    ok 1 query_returns_abi_version
    ok 2 query_reports_limits
    ok 3 query_rejects_nonzero_padding
    ok 4 unknown_subop_is_eopnotsupp
ok 1 sg_op
"""


def on_console(ktap: str, start: float = 4.0, prefix: str = "") -> str:
    """The KTAP text as printk prints it: each line with a timestamp."""
    lines = ktap.splitlines()
    return "".join(f"{prefix}[{start + i / 1000:12.6f}] {line}\r\n" for i, line in enumerate(lines))


def leaves(doc: KtapDocument) -> list[tuple[str, str]]:
    return [(path, case.status) for path, case in iter_leaf_results(doc)]


def test_real_module_output_with_timestamps_and_boot_noise() -> None:
    log = (
        "[    0.000000] Linux version 6.1.0 (gcc)\n"
        "[    3.900000] xen:xen_evtchn: Event-channel device installed\n"
        + on_console(SG_OP_KTAP)
        + "[    5.000000] reboot: Power down\n"
    )
    [doc] = parse(log, domain="dom0")
    assert doc.errors == []
    assert doc.plan == 1
    assert doc.domain == "dom0"
    assert [case.name for case in doc.tests] == ["sg_op"]
    assert doc.tests[0].status == "pass"
    assert leaves(doc) == [
        ("sg_op.query_returns_abi_version", "pass"),
        ("sg_op.query_reports_limits", "pass"),
        ("sg_op.query_rejects_nonzero_padding", "pass"),
        ("sg_op.unknown_subop_is_eopnotsupp", "pass"),
    ]
    first = doc.tests[0].subtests[0]
    assert first.number == 1
    assert first.diagnostics == [SG_OP_QUERY.removeprefix("# ")]


def test_timestamp_is_stripped_before_indentation_is_measured() -> None:
    # Without stripping, "[    4.1]     ok 1 x" would look like a top-level line.
    log = on_console("KTAP version 1\n1..1\n    1..1\n    not ok 1 x\nnot ok 1 suite\n")
    [doc] = parse(log)
    assert doc.errors == []
    assert leaves(doc) == [("suite.x", "fail")]


def test_xen_guest_prefix_is_stripped() -> None:
    log = on_console(SG_OP_KTAP, prefix="(d1) ")
    [doc] = parse(log)
    assert doc.errors == []
    assert doc.domain == "d1"
    assert len(leaves(doc)) == 4


def test_diag_fields_finds_nested_key_value_pairs() -> None:
    [doc] = parse(on_console(SG_OP_KTAP))
    fields = diag_fields(doc, "sgtest.query")
    assert fields is not None
    assert fields["rc"] == "0"
    assert fields["abi_version"] == "65536"
    assert fields["max_regs"] == "256"
    assert fields["bindings"] == "0"
    assert len(fields) == 10
    assert diag_fields(doc, "sgtest.bind") is None
    assert diag_fields(doc, "sgtest") is None  # a key is a whole word, not a prefix


def test_skip_directive_when_hypercall_is_missing() -> None:
    reason = "sg_op not available (rc=-38)"
    ktap = SG_OP_KTAP.replace("ok 1 query_returns_abi_version", "ok 1 query # SKIP " + reason)
    [doc] = parse(ktap)
    case = doc.tests[0].subtests[0]
    assert (case.name, case.status, case.directive_reason) == ("query", "skip", reason)
    assert doc.tests[0].subtests[1].status == "pass"


def test_not_ok_todo_and_tap13_dash_names() -> None:
    ktap = "TAP version 13\n1..3\nnot ok 1 - broken # TODO fix later\nok 2 - fine\nnot ok 3 bad\n"
    [doc] = parse(ktap)
    assert doc.errors == []
    statuses = [(c.name, c.status, c.directive_reason) for c in doc.tests]
    assert statuses == [
        ("broken", "skip", "TODO fix later"),
        ("fine", "pass", None),
        ("bad", "fail", None),
    ]


def test_fewer_results_than_plan_are_missing_tests() -> None:
    ktap = SG_OP_KTAP.replace("    ok 4 unknown_subop_is_eopnotsupp\n", "")
    [doc] = parse(ktap)
    assert "expected 4 tests in sg_op, saw 3" in doc.errors
    missing = doc.tests[0].subtests[3]
    assert (missing.name, missing.number, missing.status) == ("missing test 4", 4, "error")
    assert leaves(doc)[-1] == ("sg_op.missing test 4", "error")


def test_domain_crash_mid_suite_truncates_the_document() -> None:
    lines = on_console(SG_OP_KTAP).splitlines(keepends=True)
    crashed = "".join(lines[:7]) + "[    4.5] BUG: kernel NULL pointer dereference\n"
    [doc] = parse(crashed)
    assert "expected 4 tests in sg_op, saw 1" in doc.errors
    assert any("sg_op has no result line" in error for error in doc.errors)
    assert doc.tests[0].status == "error"
    assert leaves(doc) == [
        ("sg_op.query_returns_abi_version", "pass"),
        ("sg_op.missing test 2", "error"),
        ("sg_op.missing test 3", "error"),
        ("sg_op.missing test 4", "error"),
    ]


def test_header_only_document_is_an_error() -> None:
    [doc] = parse("KTAP version 1\n")
    assert doc.errors == ["KTAP document has no test results"]


def test_bail_out_stops_the_document() -> None:
    [doc] = parse("KTAP version 1\n1..3\nok 1 a\nBail out! no sg device\nok 2 late\n")
    assert doc.errors[0] == "bail out: no sg device"
    assert "expected 3 tests in the top level, saw 1" in doc.errors
    assert [c.status for c in doc.tests] == ["pass", "error", "error"]


def test_two_documents_in_one_log() -> None:
    # A first boot dies mid-suite, the second boot prints a complete document.
    first = "\n".join(SG_OP_KTAP.splitlines()[:8]) + "\n"
    log = on_console(first) + "(XEN) Hardware Dom0 crashed\n" + on_console(SG_OP_KTAP)
    docs = parse(log)
    assert len(docs) == 2
    assert docs[0].errors
    assert [status for _, status in leaves(docs[0])][-1] == "error"
    assert docs[1].errors == []
    assert all(status == "pass" for _, status in leaves(docs[1]))


def test_two_modules_one_after_the_other() -> None:
    other = SG_OP_KTAP.replace("sg_op", "evtchn_addr")
    docs = parse(on_console(SG_OP_KTAP + other))
    assert [[c.name for c in doc.tests] for doc in docs] == [["sg_op"], ["evtchn_addr"]]
    assert all(doc.errors == [] for doc in docs)


def test_interleaved_noise_lines_are_ignored() -> None:
    noisy = []
    for line in SG_OP_KTAP.splitlines():
        noisy.append(line)
        noisy.append("random: crng init done")
        noisy.append("    xen-blkfront: barrier or flush: disabled; persistent grants: enabled;")
    [doc] = parse(on_console("\n".join(noisy)))
    assert doc.errors == []
    assert len(leaves(doc)) == 4


def test_guest_and_dom0_documents_interleaved_on_one_serial() -> None:
    dom0 = on_console(SG_OP_KTAP).splitlines(keepends=True)
    guest = on_console(SG_OP_KTAP.replace("ok 2 query", "not ok 2 query"), prefix="(d2) ")
    mixed = "".join(a + b for a, b in zip(dom0, guest.splitlines(keepends=True), strict=True))
    docs = parse(mixed)
    assert [doc.domain for doc in docs] == [None, "d2"]
    assert all(doc.errors == [] for doc in docs)
    assert ("sg_op.query_reports_limits", "pass") in leaves(docs[0])
    assert ("sg_op.query_reports_limits", "fail") in leaves(docs[1])


def test_module_loaded_after_boot_without_top_level_header() -> None:
    # KUnit prints a module's suite without a top-level header or plan.
    ktap = (
        "    KTAP version 1\n    # Subtest: sg_op\n    # module: sgtest\n    1..2\n"
        "    ok 1 a\n    ok 2 b\n# sg_op: pass:2 fail:0 skip:0 total:2\nok 1 sg_op\n"
    )
    [doc] = parse(on_console(ktap))
    assert doc.errors == []
    assert leaves(doc) == [("sg_op.a", "pass"), ("sg_op.b", "pass")]


def test_wrong_test_number_is_a_protocol_error() -> None:
    [doc] = parse("KTAP version 1\n1..2\nok 1 a\nok 3 b\n")
    assert doc.errors == ["expected test number 2 in the top level, saw 3"]


def test_deeper_nesting_and_parameterised_subtests_without_plan() -> None:
    ktap = """KTAP version 1
1..1
    KTAP version 1
    # Subtest: suite
    1..2
        KTAP version 1
        # Subtest: param
        ok 1 p0
        not ok 2 p1
    not ok 1 param
    ok 2 plain
not ok 1 suite
"""
    [doc] = parse(ktap)
    assert doc.errors == []
    assert leaves(doc) == [
        ("suite.param.p0", "pass"),
        ("suite.param.p1", "fail"),
        ("suite.plain", "pass"),
    ]


def test_text_without_ktap_has_no_documents() -> None:
    assert parse("ok 1 not inside a document\n# just a shell prompt\n1..3\n") == []


def test_tab_indented_subtests_keep_their_tree() -> None:
    ktap = SG_OP_KTAP.replace("\n    ", "\n\t")
    assert "\tok 1 query_returns_abi_version" in ktap
    [doc] = parse(ktap)
    assert doc.errors == []
    assert [path for path, _ in iter_leaf_results(doc)][:2] == [
        "sg_op.query_returns_abi_version",
        "sg_op.query_reports_limits",
    ]
    assert diag_fields(doc, "sgtest.query")["max_regs"] == "256"


def test_a_result_line_indented_deeper_does_not_open_a_level() -> None:
    ktap = "KTAP version 1\n1..2\n   ok 1 first\n  \t ok 2 second\n"
    [doc] = parse(ktap)
    assert doc.errors == [] and leaves(doc) == [("first", "pass"), ("second", "pass")]


def test_a_form_feed_inside_a_diagnostic_makes_no_phantom_test() -> None:
    ktap = "KTAP version 1\n1..1\n# bytes: a\fok 2 phantom\x1cok 3 more\nok 1 real\n"
    [doc] = parse(ktap)
    assert doc.errors == [] and leaves(doc) == [("real", "pass")]
    assert doc.tests[0].diagnostics == ["bytes: a\fok 2 phantom\x1cok 3 more"]


def test_prefix_stripping_is_linear_in_the_line(monkeypatch) -> None:
    """A line of 200000 repeated timestamps is scanned in place, never re-copied.

    Counted, not timed: the quadratic version sliced the line once per prefix,
    handing the regex a fresh copy each time (about 3e11 characters here).
    """
    seen: dict[int, int] = {}
    real = ktap._PREFIX

    class Counting:
        def match(self, line: str, pos: int = 0) -> re.Match[str] | None:
            seen[id(line)] = len(line)
            return real.match(line, pos)

    monkeypatch.setattr(ktap, "_PREFIX", Counting())
    noise = "[    1.000000] " * 200_000
    text = f"KTAP version 1\n1..1\n{noise}ok 1 after_noise\n"
    [doc] = parse(text)
    assert leaves(doc) == [("after_noise", "pass")]
    assert sum(seen.values()) <= len(text)


def test_a_huge_plan_lists_few_placeholders_and_counts_the_rest() -> None:
    [doc] = parse("KTAP version 1\n1..10000000\nok 1 only\n")
    assert doc.missing == 9_999_999
    assert len(doc.tests) == 1 + MAX_MISSING_LISTED + 1
    last = doc.tests[-1]
    assert last.name == f"missing tests {MAX_MISSING_LISTED + 2}..10000000"
    assert last.status == "error" and "not listed one by one" in (last.directive_reason or "")


def test_deep_nesting_does_not_recurse() -> None:
    depth = 3000  # deeper than Python's default recursion limit
    lines = ["KTAP version 1", "1..1"]
    for level in range(1, depth + 1):
        lines += [" " * (4 * level) + "KTAP version 1", " " * (4 * level) + "1..1"]
    lines.append(" " * (4 * depth + 4) + "ok 1 leaf")
    for level in range(depth, 0, -1):
        lines.append(" " * (4 * (level - 1)) + f"ok 1 level{level}")
    [doc] = parse("\n".join(lines) + "\n")
    [(path, case)] = list(iter_leaf_results(doc))
    assert path.endswith(".leaf") and path.count(".") == depth and case.status == "pass"
    assert diag_fields(doc, "nothing") is None
