"""The lab test's reading of its serial log: sections per domain, markers, host checks."""

from __future__ import annotations

import gzip
import shutil

import pytest

from sgkit.images.dom0_rootfs import concatenate, pack_files
from sgkit.lab.boot import lab_conf, split_console
from sgkit.lab.multidomain import global_check, host_checks, summarize
from sgkit.report import ktap, publish
from sgkit.report.checks import domu_states, failed_steps, free_memory
from sgkit.report.protocol import global_of, query_of


def _suite(domain_rc: int = 0, ok: str = "ok", stamp: bool = True) -> list[str]:
    t = "[    3.157144] " if stamp else ""
    return [
        f"{t}KTAP version 1",
        f"{t}1..1",
        f"{t}    KTAP version 1",
        f"{t}    # Subtest: sg_op",
        f"{t}    1..2",
        f"{t}    # sgtest.query rc={domain_rc} abi_version=65536 regs=0 pinned_pages=0 bindings=0",
        f"{t}    ok 1 query_returns_abi_version",
        f"{t}    {ok} 2 query_reports_limits",
        f"{t}{ok} 1 sg_op",
    ]


def _global(regs: int = 0, domains: int = 1) -> str:
    return (
        f"    # sgtest.global regs={regs} pinned_pages={regs} bindings=0 addrs=0"
        f" domains={domains} continuations=1"
    )


def _guest(name: str, ok: str = "ok") -> list[str]:
    return [
        f"SGKIT-GUEST-LOG-BEGIN {name}",
        f"SGKIT-INIT kernel=6.1.0-50-amd64 domain={name}",
        *_suite(ok=ok),
        "SGKIT-INSMOD sgtest rc=0",
        "SGKIT-DONE",
        "",
        f"SGKIT-GUEST-LOG-END {name}",
    ]


def _console(
    guest_b_ok: str = "ok",
    memory: str = "before=1502 after=1502",
    after_regs: int = 0,
    left: str = "count=0 ",
) -> str:
    lines = [
        "(XEN) Xen version 4.17.5",
        "SGKIT-INIT kernel=6.1.0-50-amd64 domain=dom0 lab=multi",
        "SGKIT-STEP xenstored rc=0",
        "SGKIT-DOM0-BEFORE-BEGIN",
        *_suite(stamp=False)[:6],
        _global(),
        *_suite(stamp=False)[6:],
        "SGKIT-DOM0-BEFORE-END",
        "SGKIT-FREE-MEMORY-BEFORE 1502",
        *_suite(stamp=False),
        "SGKIT-INSMOD sgtest rc=0",
        "SGKIT-DOMU sg-a state=done seconds=3",
        "SGKIT-DOMU sg-b state=done seconds=9",
        *_guest("sg-a"),
        *_guest("sg-b", guest_b_ok),
        "SGKIT-STEP xl-destroy-sg-a rc=0",
        f"SGKIT-FREE-MEMORY {memory}",
        f"SGKIT-DOMAINS-LEFT {left}",
        "SGKIT-DOM0-AFTER-BEGIN",
        *_suite(stamp=False)[:6],
        _global(after_regs),
        *_suite(stamp=False)[6:],
        "SGKIT-DOM0-AFTER-END",
        "SGKIT-XL-DMESG-BEGIN",
        "(XEN) sg_op: ABI 1.0, limits max_regs=256",
        "SGKIT-XL-DMESG-END",
        "SGKIT-LAB-DONE",
    ]
    return "\r\n".join(lines) + "\r\n"


def test_split_console_separates_each_domain() -> None:
    console = split_console(_console())
    assert sorted(console.guests) == ["sg-a", "sg-b"]
    assert "domain=sg-a" in console.guests["sg-a"]
    assert "domain=sg-b" not in console.guests["sg-a"]
    assert "SGKIT-DONE" in console.guests["sg-b"]
    assert "SGKIT-DONE\n" not in console.dom0 and "SGKIT-LAB-DONE" in console.dom0
    assert console.dom0_after is not None and "sgtest.query" in console.dom0_after
    assert console.xl_dmesg is not None and "sg_op: ABI" in console.xl_dmesg
    assert "(XEN) sg_op" not in console.dom0
    assert console.unterminated == []
    assert "\r" not in console.dom0


def test_dom0_ktap_is_only_the_lines_outside_sections() -> None:
    console = split_console(_console(guest_b_ok="not ok"))
    docs = ktap.parse(console.dom0, domain="dom0")
    assert len(docs) == 1  # neither the guests' nor the after-run's document
    results = publish.results_from_ktap(docs, "dom0")
    assert {(r.suite, r.test, r.status) for r in results} == {
        ("sg_op", "query_returns_abi_version", "pass"),
        ("sg_op", "query_reports_limits", "pass"),
    }
    guest_b = publish.results_from_ktap(ktap.parse(console.guests["sg-b"], "sg-b"), "sg-b")
    assert [r.status for r in guest_b] == ["pass", "fail"]


def test_unterminated_section_is_reported() -> None:
    text = "SGKIT-INIT\nSGKIT-GUEST-LOG-BEGIN sg-a\nKTAP version 1\n1..1\n"
    console = split_console(text)
    assert console.unterminated == ["GUEST-LOG sg-a"]
    assert "KTAP version 1" in console.guests["sg-a"]
    assert "KTAP" not in console.dom0


def test_end_marker_of_another_section_does_not_close() -> None:
    text = "SGKIT-GUEST-LOG-BEGIN sg-a\nSGKIT-GUEST-LOG-END sg-b\nx\nSGKIT-GUEST-LOG-END sg-a\ny\n"
    console = split_console(text)
    assert "x" in console.guests["sg-a"].split()
    assert console.dom0.split() == ["y"]


def test_markers_with_a_timestamp_or_prefix_are_found() -> None:
    text = "[   1.0] SGKIT-GUEST-LOG-BEGIN sg-a\ninside\n(d0) SGKIT-GUEST-LOG-END sg-a\n"
    console = split_console(text)
    assert console.guests["sg-a"].strip() == "inside"


def test_free_memory_and_domu_states_and_steps() -> None:
    text = _console(memory="before=1502 after=1374")
    assert free_memory(text) == (1502, 1374)
    assert free_memory("SGKIT-FREE-MEMORY before= after=\n") is None
    assert free_memory("nothing") is None
    assert domu_states(text) == {"sg-a": ("done", 3), "sg-b": ("done", 9)}
    assert failed_steps("SGKIT-STEP a rc=0\nSGKIT-STEP xenstored rc=1\n") == ["xenstored rc=1"]


def _checks(text: str, domus: tuple[str, ...] = ("sg-a", "sg-b")) -> dict[str, publish.Result]:
    console = split_console(text)
    queries = {"dom0": query_of(console.dom0)} | {
        name: query_of(body) for name, body in console.guests.items()
    }
    results = host_checks(
        console, domus, queries, free_memory(text), domu_states(text), failed_steps(console.dom0)
    )
    assert all(r.domain == "host" and r.suite == "lab" for r in results)
    return {r.test: r for r in results}


def test_host_checks_pass_on_a_good_run() -> None:
    checks = _checks(_console())
    assert set(checks) == {
        "dom0_setup",
        "sg-a_finished",
        "sg-b_finished",
        "free_memory_returned",
        "no_domain_left",
        "dom0_query_printed",
        "sg-a_query_printed",
        "sg-b_query_printed",
    }
    assert all(r.status == "pass" for r in checks.values())


def test_host_checks_catch_leaks_and_missing_domains() -> None:
    checks = _checks(_console(memory="before=1502 after=1374"), ("sg-a", "sg-b", "sg-c"))
    assert checks["free_memory_returned"].status == "fail"
    assert "1502" in (checks["free_memory_returned"].reason or "")
    assert checks["sg-c_finished"].status == "fail"
    assert checks["sg-c_query_printed"].status == "fail"
    assert checks["sg-a_finished"].status == "pass"


def test_host_checks_catch_a_domain_left_dying() -> None:
    checks = _checks(_console(left="count=1 (null)(7) "))
    assert checks["no_domain_left"].status == "fail"
    assert "(null)(7)" in (checks["no_domain_left"].reason or "")


def test_host_checks_want_the_query_answer_the_hypervisor_gives() -> None:
    checks = _checks(_console().replace("rc=0 abi_version", "rc=-38 abi_version"))
    assert checks["dom0_query_printed"].status == "fail"
    assert "rc=-38" in (checks["dom0_query_printed"].reason or "")
    console = split_console(_console().replace("rc=0 abi_version", "rc=-38 abi_version"))
    queries = {"dom0": query_of(console.dom0)}
    stock = host_checks(console, (), queries, (1, 1), {}, [], expect_rc=-38)
    assert all(r.status == "pass" for r in stock)


def test_query_checks_skip_without_the_sg_op_suite() -> None:
    """--suites sg_hostile prints no query line: that is no failure, and says why."""
    console = split_console(_console().replace("sgtest.query", "sgtest.other"))
    with_suite = host_checks(console, (), {"dom0": None}, (1, 1), {}, [])
    without = host_checks(console, (), {"dom0": None}, (1, 1), {}, [], query_suite=False)
    assert {r.test: r.status for r in with_suite}["dom0_query_printed"] == "fail"
    skipped = {r.test: r for r in without}["dom0_query_printed"]
    assert skipped.status == "skip" and "sg_op" in (skipped.reason or "")


def test_host_checks_catch_a_timed_out_domu_and_a_cut_log() -> None:
    text = _console().replace("sg-b state=done", "sg-b state=timeout")
    text = text.split("SGKIT-GUEST-LOG-END sg-b")[0]
    checks = _checks(text)
    assert checks["sg-b_finished"].status == "fail"
    assert "timeout" in (checks["sg-b_finished"].reason or "")
    assert checks["console_sections_complete"].status == "fail"
    assert checks["free_memory_returned"].status == "fail"  # never printed


def test_summary_names_memory_and_counters() -> None:
    console = split_console(_console())
    queries = {"dom0": query_of(console.dom0), "sg-a": query_of(console.guests["sg-a"])}
    report = publish.RunReport("lab-test", [], None, "2024-01-01T00:00:00Z", 1.0)
    text = summarize(report, queries, query_of(console.dom0_after or ""), (1502, 1502))
    assert "before=1502 MB after=1502 MB (returned exactly)" in text
    assert "sg_op usage sg-a: regs=0 pinned_pages=0 bindings=0" in text


@pytest.mark.skipif(shutil.which("cpio") is None, reason="needs cpio")
def test_concatenated_archives_are_one_gzip_stream_of_two_cpios(tmp_path) -> None:
    first = pack_files({"a/one": b"1"}, tmp_path / "first.cpio.gz")
    second = pack_files({"init": b"#!/bin/sh\n"}, tmp_path / "second.cpio.gz", {"init": 0o755})
    both = concatenate([first, second], tmp_path / "both.cpio.gz")
    data = gzip.decompress(both.read_bytes())  # multi-member gzip, as the kernel reads it
    assert data.count(b"TRAILER!!!") == 2
    assert data.index(b"a/one") < data.index(b"init")


def test_building_the_dom0_root_needs_root(isolated_cache, monkeypatch) -> None:
    from sgkit.errors import KitError
    from sgkit.images import dom0_rootfs

    monkeypatch.setattr(dom0_rootfs.os, "geteuid", lambda: 1000)
    with pytest.raises(KitError, match="needs root"):
        dom0_rootfs.base_rootfs("4.17", "6.1.0-50-amd64")
    assert not list((isolated_cache / "builds" / "lab").glob("*"))


def test_before_and_after_sections_are_not_dom0_results() -> None:
    console = split_console(_console())
    assert console.dom0_before is not None and "sgtest.global" in console.dom0_before
    assert "sgtest.global" not in console.dom0
    docs = ktap.parse(console.dom0, domain="dom0")
    assert len(docs) == 1


def test_global_counters_are_parsed_from_before_and_after() -> None:
    console = split_console(_console(after_regs=2))
    want = {"regs": 0, "pinned_pages": 0, "bindings": 0, "addrs": 0, "domains": 1}
    assert global_of(console.dom0_before) == want
    assert global_of(console.dom0_after) == want | {"regs": 2, "pinned_pages": 2}
    assert global_of(None) is None
    assert global_of("KTAP version 1\n1..1\n# sgtest.global regs=0\nok 1 x\n") is None
    assert global_of("\n".join(_suite())) is None  # not reported


def test_global_check_passes_fails_and_skips() -> None:
    before = {"regs": 0, "pinned_pages": 0, "bindings": 0, "addrs": 0, "domains": 1}
    assert global_check(before, dict(before)).status == "pass"
    leaked = global_check(before, before | {"bindings": 1})
    assert leaked.status == "fail" and "bindings=1" in (leaked.reason or "")
    missing = global_check(None, before)
    assert missing.status == "skip" and "not reported before" in (missing.reason or "")
    assert (missing.domain, missing.suite, missing.test) == (
        "host",
        "lab",
        "global_counters_returned",
    )


def test_summary_shows_global_counters_or_not_reported() -> None:
    report = publish.RunReport("lab-test", [], None, "2024-01-01T00:00:00Z", 1.0)
    counters = {"regs": 0, "pinned_pages": 0, "bindings": 0, "addrs": 0, "domains": 1}
    text = summarize(report, {}, None, None, (counters, counters))
    assert "before domUs: regs=0 pinned_pages=0 bindings=0 addrs=0 domains=1;" in text
    assert "after they were destroyed: not reported" in summarize(
        report, {}, None, None, (counters, None)
    )


def test_dom0_cross_after_run_is_a_dom0_result() -> None:
    after = [
        "KTAP version 1",
        "1..1",
        "    KTAP version 1",
        "    # Subtest: sg_cross_after",
        "    1..1",
        "    ok 1 destroyed_domain_state_released",
        "ok 1 sg_cross_after",
    ]
    text = _console().replace(
        "SGKIT-DOM0-AFTER-BEGIN", "\r\n".join([*after, "SGKIT-DOM0-AFTER-BEGIN"])
    )
    console = split_console(text)
    results = publish.results_from_ktap(ktap.parse(console.dom0, "dom0"), "dom0")
    assert ("sg_cross_after", "destroyed_domain_state_released", "pass") in {
        (r.suite, r.test, r.status) for r in results
    }
    assert len(results) == 3


def test_the_lab_runs_conformance_hostile_fuzz_and_cross_suites_by_default() -> None:
    from sgkit.lab.multidomain import DEFAULT_SUITES

    assert DEFAULT_SUITES.split(",") == [
        "sg_op",
        "sg_local",
        "sg_hostile",
        "sg_fuzz",
        "sg_xsm",
        "sg_cross",
    ]


def test_lab_conf_survives_the_shell_that_sources_it(tmp_path) -> None:
    """dom0-lab-init.sh sources lab.conf: spaces, quotes and $ must come back as given."""
    import subprocess

    settings = {
        "DOMUS": "sg-a sg-b",
        "DOMU_CFG_EXTRA": 'vif = [ "script=/bin/true" ]',
        "ODD": "it's $HOME `x`",
        "EMPTY": "",
    }
    conf = tmp_path / "lab.conf"
    conf.write_text(lab_conf(settings))
    script = ". ./lab.conf; " + "; ".join(f'printf "%s\\n" "${key}"' for key in settings)
    got = subprocess.run(
        ["sh", "-c", script], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout
    assert got.split("\n")[:-1] == list(settings.values())
    with pytest.raises(ValueError, match=r"bad lab\.conf setting name"):
        lab_conf({"bad name": "x"})


def test_lab_test_xsm_choices() -> None:
    from sgkit.errors import KitError
    from sgkit.lab.multidomain import CROSS_XSM, run_lab_test
    from sgkit.lab.spec import XSM_MODULES, LabSpec

    with pytest.raises(KitError, match="unknown XSM module 'selinux'"):
        run_lab_test(LabSpec(xsm="selinux"))
    with pytest.raises(KitError, match="needs the patched hypervisor"):
        run_lab_test(LabSpec(hypervisor="stock", xsm="silo"))
    # sg_xsm expects SILO's refusals under SILO only.
    assert set(CROSS_XSM) == set(XSM_MODULES)
    assert [m for m, expect in CROSS_XSM.items() if expect == "silo"] == ["silo"]


def test_lab_files_tell_every_domain_the_xsm_policy(tmp_path) -> None:
    from sgkit.lab import multidomain

    sgtest = tmp_path / "sgtest.ko"
    sgtest.write_bytes(b"\x7fELF")
    seen = []

    def fake_initramfs(out, init, modules, args):
        seen.append(args["sgtest"])
        out.write_bytes(b"")
        return out

    mp = pytest.MonkeyPatch()
    mp.setattr(multidomain, "build_initramfs", fake_initramfs)
    mp.setattr(multidomain, "guest_script", lambda name: tmp_path / name)
    try:
        _, conf, files = multidomain._lab_files(
            tmp_path, "6.1.0", sgtest, "sg_op,sg_xsm", ["sg-a", "sg-b"], 7, "silo"
        )
        _, plain, _ = multidomain._lab_files(
            tmp_path, "6.1.0", sgtest, "sg_op,sg_xsm", ["sg-a", "sg-b"], 7
        )
    finally:
        mp.undo()
    assert seen == ["suites=sg_op,sg_xsm seed=7 cross_xsm=silo", "suites=sg_op,sg_xsm seed=7"]
    assert conf["SGTEST_ARGS"] == "suites=sg_op,sg_xsm seed=7 cross_xsm=silo cross_self=dom0"
    assert files["etc/sgkit/modules"] == f"sgtest {conf['SGTEST_ARGS']}\n".encode()
    assert conf["CROSS_AFTER_ARGS"] == ""  # no sg_cross, no sg_cross_after
    assert "cross_xsm" not in plain["SGTEST_ARGS"]


def test_free_memory_may_come_back_short_only_by_the_slack() -> None:
    console = split_console("")

    def memory_check(memory, slack=0):
        results = host_checks(console, (), {}, memory, {}, [], memory_slack_mb=slack)
        return next(r for r in results if r.test == "free_memory_returned")

    assert memory_check((1502, 1502)).status == "pass"
    assert memory_check((1502, 1501)).status == "fail"
    assert memory_check((1502, 1501), 1).status == "pass"
    short = memory_check((1502, 1500), 1)
    assert short.status == "fail" and "up to 1 MB short" in (short.reason or "")
    assert memory_check((1502, 1503), 1).status == "fail"  # more back than before: no


def test_the_summary_says_when_free_memory_came_back_short_within_the_slack() -> None:
    report = publish.RunReport("lab-test", [], None, "2026-12-02T17:00:00Z", 1.0)
    exact = summarize(report, {}, None, (1502, 1502))
    short = summarize(report, {}, None, (1502, 1501), memory_slack_mb=1)
    lost = summarize(report, {}, None, (1502, 1501))
    assert "(returned exactly)" in exact
    assert "(1 MB short, within the 1 MB allowed)" in short
    assert "(NOT returned)" in lost


def test_guest_type_checks_read_each_domus_init_line():
    from sgkit.lab.multidomain import guest_type_checks

    guests = {
        "sg-a": "SGKIT-INIT kernel=6.1.0-50-amd64 domain=sg-a guest=PV\n",
        "sg-b": "SGKIT-INIT kernel=6.1.0-50-amd64 domain=sg-b guest=PVH\n",
        "sg-c": "SGKIT-INIT kernel=6.1.0-50-amd64 domain=sg-c guest=PV\n",
        "sg-d": "no init line\n",
    }
    got = {
        r.test: (r.status, r.reason)
        for r in guest_type_checks(["sg-a", "sg-b", "sg-c", "sg-d"], ["sg-b", "sg-c"], guests)
    }
    assert got["sg-a_guest_type"] == ("pass", None)
    assert got["sg-b_guest_type"] == ("pass", None)
    assert got["sg-c_guest_type"] == ("fail", "sg-c was created as PVH but reported guest=PV")
    assert got["sg-d_guest_type"] == ("fail", "sg-d was created as PV but reported guest=None")


def test_sg_reset_runs_dom0s_reset_after_and_refuses_sg_cross(tmp_path) -> None:
    from sgkit.errors import KitError
    from sgkit.lab import multidomain

    sgtest = tmp_path / "sgtest.ko"
    sgtest.write_bytes(b"\x7fELF")
    mp = pytest.MonkeyPatch()
    mp.setattr(multidomain, "build_initramfs", lambda out, *a: out)
    mp.setattr(multidomain, "guest_script", lambda name: tmp_path / name)
    try:
        _, conf, _ = multidomain._lab_files(
            tmp_path, "6.1.0", sgtest, "sg_op,sg_reset", ["sg-a", "sg-b"], 7
        )
        _, plain, _ = multidomain._lab_files(
            tmp_path, "6.1.0", sgtest, "sg_op", ["sg-a", "sg-b"], 7
        )
        with pytest.raises(KitError) as both:
            multidomain._lab_files(
                tmp_path, "6.1.0", sgtest, "sg_cross,sg_reset", ["sg-a", "sg-b"], 7
            )
    finally:
        mp.undo()
    assert conf["RESET_AFTER_ARGS"] == "suites=sg_reset_after cross_self=dom0"
    assert plain["RESET_AFTER_ARGS"] == ""
    assert "separate lab runs" in str(both.value)
