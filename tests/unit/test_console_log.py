"""Unit tests for sgkit.report.console_log."""

from __future__ import annotations

import pytest

from sgkit.report.console_log import FATAL_PATTERNS, ConsoleWatcher, classify, context

BOOT = """\
 Xen 4.19.1
(XEN) Xen version 4.19.1 (root@) (gcc) debug=y
(XEN) ***************************************************
(XEN) WARNING: CONSOLE OUTPUT IS SYNCHRONOUS
(XEN) ***************************************************
(XEN) *** LOADING DOMAIN 0 ***
[    0.000000] Linux version 6.1.0 (gcc)
[    1.000000] traps: sh[88] general protection fault ip:7f00 sp:7ffe error:0 in libc.so.6
[    4.000000] KTAP version 1
"""
XEN_PANIC = """\
(XEN) Xen call trace:
(XEN)    [<ffff82d040234567>] R sg_op.c#do_sg_op+0x42/0x80
(XEN)
(XEN) ****************************************
(XEN) Panic on CPU 0:
(XEN) Assertion 'regs < max_regs' failed at common/sg_op.c:123
(XEN) ****************************************
(XEN)
(XEN) Reboot in five seconds...
"""
OOPS = """\
[    5.100000] BUG: kernel NULL pointer dereference, address: 0000000000000008
[    5.100001] #PF: supervisor read access in kernel mode
[    5.100002] Oops: 0000 [#1] PREEMPT SMP NOPTI
[    5.100003] RIP: e030:sg_map+0x1d/0x90 [sgtest]
"""
WARNING = """\
[    5.000000] ------------[ cut here ]------------
[    5.000001] WARNING: CPU: 0 PID: 1 at drivers/xen/sg.c:42 sg_bind+0x10/0x20
[    5.000002] RIP: e030:sg_bind+0x10/0x20
[    5.000003] ---[ end trace 0000000000000000 ]---
"""


def test_clean_boot_with_done_marker_is_ok() -> None:
    text = BOOT + "[    6.0] SGKIT-DONE\n[    6.1] reboot: Power down\n"
    verdict = classify(text, "SGKIT-DONE")
    assert verdict.kind == "ok"
    assert verdict.line_no == BOOT.count("\n") + 1
    assert verdict.line is not None and "SGKIT-DONE" in verdict.line


def test_missing_done_marker_is_incomplete() -> None:
    verdict = classify(BOOT, "SGKIT-DONE")
    assert verdict.kind == "incomplete"
    assert verdict.line_no is None
    assert "SGKIT-DONE" in verdict.reason


def test_xen_panic_first_fatal_line_wins() -> None:
    text = BOOT + XEN_PANIC
    verdict = classify(text + "SGKIT-DONE\n", "SGKIT-DONE")
    assert verdict.kind == "xen_panic"
    assert verdict.line == "(XEN) Panic on CPU 0:"
    assert verdict.line_no == text.splitlines().index("(XEN) Panic on CPU 0:") + 1
    assert "Panic on CPU 0" in verdict.reason


@pytest.mark.parametrize(
    "line",
    [
        "(XEN) Xen BUG at common/sg_op.c:77",
        "(XEN) FATAL TRAP: vector = 13 (general protection fault)",
        "(XEN) FATAL PAGE FAULT",
        "(XEN) Assertion 'd != NULL' failed at common/domain.c:12",
        "(XEN) Reboot in five seconds...",
    ],
)
def test_xen_fatal_lines(line: str) -> None:
    assert classify(BOOT + line + "\n", "SGKIT-DONE").kind == "xen_panic"


def test_dom0_crash_reported_by_xen() -> None:
    verdict = classify(BOOT + "(XEN) Hardware Dom0 crashed: rebooting machine\n", "X")
    assert verdict.kind == "kernel_panic"


def test_linux_oops_is_detected_at_its_first_line() -> None:
    verdict = classify(BOOT + OOPS + "SGKIT-DONE\n", "SGKIT-DONE")
    assert verdict.kind == "oops"
    assert verdict.line is not None and "NULL pointer" in verdict.line


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("[ 9.0] Kernel panic - not syncing: Attempted to kill init!", "kernel_panic"),
        ("[ 9.0] BUG: unable to handle page fault for address: ffff", "oops"),
        ("[ 9.0] general protection fault, probably for non-canonical address", "oops"),
        ("[ 9.0] kernel BUG at drivers/xen/sg.c:10!", "oops"),
        ("[ 9.0] Unable to handle kernel paging request at virtual address 0", "oops"),
        ("[ 9.0] RIP: 0010:sg_map+0x1d/0x90", "oops"),
        ("[ 9.0] watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [insmod:99]", "hang"),
        ("[ 9.0] rcu: INFO: rcu_sched detected stalls on CPUs/tasks:", "hang"),
        ("qemu-system-x86_64: -drive file=x.img: Could not open 'x.img'", "qemu_error"),
    ],
)
def test_linux_and_qemu_fatal_lines(line: str, kind: str) -> None:
    assert classify(BOOT + line + "\nSGKIT-DONE\n", "SGKIT-DONE").kind == kind


@pytest.mark.parametrize(
    "line",
    [
        "(XEN) RIP:    e008:[<ffff82d040234567>] do_sg_op+0x42/0x80",  # Xen WARN dump
        "qemu-system-x86_64: warning: host doesn't support requested feature",
        "qemu-system-x86_64: terminating on signal 15 from pid 1234",
        "(XEN) ****************************************",
    ],
)
def test_harmless_lines_are_not_fatal(line: str) -> None:
    assert classify(BOOT + line + "\nSGKIT-DONE\n", "SGKIT-DONE").kind == "ok"


def test_warnings_are_fatal_by_default() -> None:
    verdict = classify(BOOT + WARNING + "SGKIT-DONE\n", "SGKIT-DONE")
    assert verdict.kind == "oops"
    assert verdict.line is not None and "WARNING: CPU: 0" in verdict.line


def test_warning_dump_is_not_fatal_when_warnings_are_allowed() -> None:
    text = BOOT + WARNING + "SGKIT-DONE\n"
    assert classify(text, "SGKIT-DONE", warnings_fatal=False).kind == "ok"
    # ...but an oops after the warning's dump ended still is.
    assert classify(BOOT + WARNING + OOPS, "SGKIT-DONE", warnings_fatal=False).kind == "oops"


def test_watcher_done_marker_split_across_chunks() -> None:
    watcher = ConsoleWatcher(done_marker="SGKIT-DONE")
    watcher.feed("[ 6.0] SGKIT-D")
    assert not watcher.done
    assert watcher.lines == 0
    watcher.feed("ONE")
    assert not watcher.done  # not a complete line yet
    watcher.feed("\r\n")
    assert watcher.done
    assert watcher.lines == 1
    assert watcher.verdict is None


def test_watcher_flags_panic_as_soon_as_the_line_completes() -> None:
    watcher = ConsoleWatcher("SGKIT-DONE")
    watcher.feed(BOOT)
    assert watcher.verdict is None
    watcher.feed("(XEN) Panic on")
    assert watcher.verdict is None
    watcher.feed(" CPU 1:\n(XEN) Kernel panic - not syncing\n")
    assert watcher.verdict is not None
    assert watcher.verdict.kind == "xen_panic"
    assert watcher.verdict.line_no == BOOT.count("\n") + 1
    assert watcher.lines == BOOT.count("\n") + 2


def test_watcher_close_flushes_a_trailing_partial_line() -> None:
    watcher = ConsoleWatcher("SGKIT-DONE")
    watcher.feed("[ 9.0] Kernel panic - not syncing: x")
    assert watcher.verdict is None
    watcher.close()
    assert watcher.verdict is not None and watcher.verdict.kind == "kernel_panic"


def test_fatal_patterns_table_covers_every_fatal_kind() -> None:
    kinds = {kind for kind, _ in FATAL_PATTERNS}
    assert kinds == {"xen_panic", "kernel_panic", "oops", "hang", "qemu_error"}


def test_context_marks_the_line() -> None:
    text = "\n".join(f"line {n}" for n in range(1, 41))
    shown = context(text, 30, before=2, after=1).splitlines()
    assert len(shown) == 4
    assert shown[2].startswith(">") and shown[2].endswith("line 30")
    assert shown[0].endswith("line 28") and shown[-1].endswith("line 31")
    assert context(text, 1, before=5, after=0).splitlines()[0].startswith(">")
