"""Classify a serial console capture of Xen, dom0 and guests.

``ConsoleWatcher`` is fed the serial output live (by the QEMU runner) and flags
the first fatal line as soon as it arrives; ``classify`` does the same for a
whole saved log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

VERDICT_KINDS = ("ok", "xen_panic", "kernel_panic", "oops", "hang", "qemu_error", "incomplete")


@dataclass(frozen=True)
class Verdict:
    kind: str  # one of VERDICT_KINDS
    line_no: int | None  # 1-based line of the console log, when one line decided it
    line: str | None
    reason: str


_WARNING = re.compile(r"WARNING: CPU: \d+ PID: \d+")
_WARNING_END = re.compile(r"---\[ end trace")
_RIP = re.compile(r"\bRIP: [0-9a-f]{4}:")  # Linux x86 oops register dump (not Xen's "RIP:    e008")

# (kind, pattern), searched anywhere in a line, first match wins. Xen's own
# patterns come first so that e.g. a Xen "FATAL TRAP ... general protection
# fault" is a xen_panic, not a Linux oops.
FATAL_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    # Xen panics: the "Panic on CPU n:" banner (between "****" lines), BUG(),
    # fatal traps and page faults, a failed ASSERT() and the reboot notice.
    ("xen_panic", re.compile(r"Panic on CPU \d+|\*{4,}\s*Panic")),
    ("xen_panic", re.compile(r"Xen BUG at ")),
    ("xen_panic", re.compile(r"FATAL (?:TRAP|PAGE FAULT)")),
    ("xen_panic", re.compile(r"\(XEN\).*Assertion '.*' failed")),
    ("xen_panic", re.compile(r"Reboot in five seconds|Manual reset required")),
    # Xen reports that dom0's kernel died (its own panic line may be missing).
    ("kernel_panic", re.compile(r"\(XEN\).*(?:Domain 0|Dom0) crashed")),
    # Linux.
    ("kernel_panic", re.compile(r"Kernel panic - not syncing")),
    ("oops", re.compile(r"BUG: unable to handle|BUG: kernel NULL pointer")),
    # "general protection fault:" or "...fault, probably for..."; a user process's
    # "traps: prog[1] general protection fault ip:..." is not a kernel crash.
    ("oops", re.compile(r"\bOops: |general protection fault[:,]|kernel BUG at ")),
    ("oops", re.compile(r"Unable to handle kernel")),
    ("oops", _RIP),  # ignored inside a WARNING dump when warnings are not fatal
    ("oops", _WARNING),  # only when warnings_fatal
    ("hang", re.compile(r"watchdog: BUG: soft lockup|watchdog: Watchdog detected hard LOCKUP")),
    ("hang", re.compile(r"rcu: INFO: rcu_\w+ (?:self-)?detected stall")),
    # QEMU's own errors on the same stream (not warnings, not a runner's kill).
    ("qemu_error", re.compile(r"^qemu(?:-system-[\w-]+)?: (?!warning|terminating on signal)")),
    ("qemu_error", re.compile(r"KVM internal error")),
]

_DESCRIPTIONS = {
    "xen_panic": "Xen panicked",
    "kernel_panic": "a Linux kernel panicked",
    "oops": "a Linux kernel oopsed",
    "hang": "a Linux kernel reported a lockup or stall",
    "qemu_error": "QEMU reported an error",
}


class ConsoleWatcher:
    """Watch console output as it arrives, one chunk at a time.

    ``verdict`` becomes the first fatal Verdict seen (and then never changes);
    ``done`` becomes True once a complete line contains ``done_marker``;
    ``lines`` counts complete lines.
    """

    def __init__(self, done_marker: str, warnings_fatal: bool = True) -> None:
        self.done_marker = done_marker
        self.warnings_fatal = warnings_fatal
        self.verdict: Verdict | None = None
        self.done = False
        self.done_line_no: int | None = None
        self.lines = 0
        self._partial = ""
        self._in_warning = False

    def feed(self, chunk: str) -> None:
        *complete, self._partial = (self._partial + chunk).split("\n")
        for line in complete:
            self._line(line.rstrip("\r"))

    def close(self) -> None:
        """The output ended: treat a trailing partial line as complete."""
        if self._partial:
            self._partial, line = "", self._partial
            self._line(line.rstrip("\r"))

    def _line(self, line: str) -> None:
        self.lines += 1
        if not self.done and self.done_marker in line:
            self.done, self.done_line_no = True, self.lines
        kind = self._fatal_kind(line)
        if kind is not None and self.verdict is None:
            reason = f"{_DESCRIPTIONS[kind]} (console line {self.lines}): {line.strip()}"
            self.verdict = Verdict(kind, self.lines, line, reason)

    def _fatal_kind(self, line: str) -> str | None:
        if _WARNING_END.search(line):
            self._in_warning = False
        for kind, pattern in FATAL_PATTERNS:
            if not pattern.search(line):
                continue
            if pattern is _WARNING and not self.warnings_fatal:
                self._in_warning = True
            elif not (pattern is _RIP and self._in_warning):
                return kind
        return None


def classify(text: str, done_marker: str, warnings_fatal: bool = True) -> Verdict:
    """Whole-log verdict: the first fatal line wins; else "ok" if the done marker
    appears; else "incomplete"."""
    watcher = ConsoleWatcher(done_marker, warnings_fatal)
    watcher.feed(text)
    watcher.close()
    if watcher.verdict is not None:
        return watcher.verdict
    if watcher.done:
        line = text.split("\n")[watcher.done_line_no - 1].rstrip("\r")
        return Verdict("ok", watcher.done_line_no, line, f"{done_marker} seen")
    return Verdict(
        "incomplete",
        None,
        None,
        f"the console ended after {watcher.lines} lines without {done_marker!r} "
        "and without a recognised crash",
    )


def context(text: str, line_no: int, before: int = 20, after: int = 5) -> str:
    """Numbered console lines around ``line_no`` (1-based), the line itself marked ``>``."""
    lines = text.split("\n")
    first, last = max(1, line_no - before), min(len(lines), line_no + after)
    return "\n".join(
        f"{'>' if n == line_no else ' '} {n:6d} | {lines[n - 1].rstrip(chr(13))}"
        for n in range(first, last + 1)
    )
