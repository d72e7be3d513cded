"""Parse KTAP test results out of a serial console log.

The console mixes Xen, dom0 and guest output. Each line may carry a Xen source
prefix (``(XEN) ``, ``(d1) ``) and a printk timestamp (``[    4.123456] ``);
both are stripped (in one pass, linear in the line's length) before the
indentation (4 columns per nesting level; a TAB counts as one level) is
measured.  The log is split on ``\n`` only: a form feed or other control
character inside a diagnostic stays inside it.  Lines from different Xen
sources (unprefixed, ``(d1)``, ``(XEN)``...) are parsed as separate streams, so
a guest printing through Xen does not corrupt dom0's document.  Lines that
are not KTAP syntax are ignored, and so are diagnostic lines for the nesting
structure: only version, subtest and plan lines open a level; result and
bail-out lines close them.

A document starts at a ``KTAP version N`` (or ``TAP version N``) line and ends
when its plan is satisfied, when another version line starts at the same or a
lower indentation, or when the log ends. A document that ends early (the domain
crashed mid-suite) gets errors, and each test it planned but never reported is
recorded with status ``"error"`` (the first ``MAX_MISSING_LISTED`` of them one by
one, the rest as one entry and a count, so that ``1..10000000`` costs nothing).
Nothing here recurses: deep nesting is walked with explicit stacks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

MAX_MISSING_LISTED = 64

_PREFIX = re.compile(r"\((?P<src>d\d+|XEN)\) ?|\[\s*\d+\.\d+\] ?(?:\[\s*[TC]\d+\] ?)?")
_VERSION = re.compile(r"K?TAP version \d+")
_SUBTEST = re.compile(r"# Subtest: (?P<name>.*)")
_PLAN = re.compile(r"1\.\.(?P<count>\d+)(?:\s*#.*)?")
_RESULT = re.compile(r"(?P<ok>ok|not ok) +(?P<num>\d+)(?: +(?:- )?(?P<rest>.*))?")
_DIRECTIVE = re.compile(r"(?P<kind>SKIP|TODO)\b\s*(?P<reason>.*)", re.IGNORECASE)
_DIAG = re.compile(r"#(?: (?P<text>.*))?")
_BAIL = re.compile(r"Bail out!\s*(?P<reason>.*)")
_KINDS = (
    ("version", _VERSION),
    ("subtest", _SUBTEST),
    ("plan", _PLAN),
    ("result", _RESULT),
    ("diag", _DIAG),
    ("bail", _BAIL),
)


@dataclass
class TestCase:
    __test__ = False  # not a pytest test class

    name: str
    number: int
    status: str  # "pass" | "fail" | "skip" | "error"
    directive_reason: str | None = None
    diagnostics: list[str] = field(default_factory=list)
    subtests: list[TestCase] = field(default_factory=list)


@dataclass
class KtapDocument:
    tests: list[TestCase] = field(default_factory=list)
    plan: int | None = None
    diagnostics: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    domain: str | None = None
    missing: int = 0  # planned tests never reported, at any level


@dataclass
class _Frame:
    """One nesting level while it is being read."""

    indent: int
    numbered: bool = True  # False for a synthetic top level (see _Builder.feed)
    name: str | None = None
    versioned: bool = False
    plan: int | None = None
    tests: list[TestCase] = field(default_factory=list)
    diags: list[str] = field(default_factory=list)  # not yet attached to a test
    child: _Frame | None = None  # closed nested level waiting for its result line


class _Builder:
    """Builds one KtapDocument from classified lines of one console stream."""

    def __init__(self, doc: KtapDocument, indent: int) -> None:
        self.doc = doc
        self.base = indent  # indentation of the document's version line
        self.stack = [_Frame(indent, versioned=True)]
        self.closed = False

    def feed(self, indent: int, kind: str, match: re.Match[str]) -> None:
        if kind == "diag":
            self._diag_frame(indent).diags.append(match["text"] or "")
            return
        if kind == "bail":
            self.doc.errors.append(f"bail out: {match['reason'] or 'no reason given'}")
            self.finish()
            return
        root = self.stack[0]
        if self.complete and not (kind == "result" and indent < root.indent):
            return  # stray line after the document's last planned result
        while len(self.stack) > 1 and self.stack[-1].indent > indent:
            self._pop()
        top = self.stack[-1]
        if indent > top.indent and kind != "result":
            top = self._push(indent)  # a version, subtest or plan line opens a level
        elif indent < top.indent:  # only the top level can be deeper than the line
            if kind != "result":
                return
            # A suite printed on its own (a KUnit module loaded after boot) is
            # followed by its result at a lower level: wrap it in a new top level.
            self.stack = [_Frame(indent, numbered=False, child=top)]
            top = self.stack[0]
        getattr(self, f"_{kind}")(top, match)

    def _version(self, top: _Frame, match: re.Match[str]) -> None:
        frame = self._sibling(top) if top.versioned or top.plan is not None or top.tests else top
        if frame is not None:
            frame.versioned = True

    def _subtest(self, top: _Frame, match: re.Match[str]) -> None:
        taken = top.name is not None or top.plan is not None or bool(top.tests)
        frame = self._sibling(top) if taken else top
        if frame is not None:
            frame.name = match["name"].strip()

    def _plan(self, top: _Frame, match: re.Match[str]) -> None:
        if top.plan is not None:
            self.doc.errors.append(f"second plan line in {_label(top, self.stack)}")
            return
        top.plan = int(match["count"])

    def _result(self, top: _Frame, match: re.Match[str]) -> None:
        number = int(match["num"])
        name, _, directive = (match["rest"] or "").partition("#")
        case = TestCase(name.strip() or f"test {number}", number, _status(match["ok"]))
        if found := _DIRECTIVE.match(directive.strip()):
            reason = found["reason"].strip() or None
            if found["kind"].upper() == "SKIP":
                case.status, case.directive_reason = "skip", reason
            else:  # TODO: an expected failure is not counted as one
                case.status = "skip" if case.status == "fail" else case.status
                case.directive_reason = f"TODO {reason or ''}".strip()
        case.diagnostics, top.diags = top.diags, []
        if top.child is not None:
            child, top.child = top.child, None
            self._settle(child)
            case.subtests = child.tests
            case.diagnostics += child.diags
        expected = len(top.tests) + 1
        if top.numbered and number != expected:
            self.doc.errors.append(
                f"expected test number {expected} in {_label(top, self.stack)}, saw {number}"
            )
        top.tests.append(case)

    def finish(self) -> None:
        """Close every open level and fill in the document."""
        if self.closed:
            return
        while len(self.stack) > 1:
            self._pop()
        root = self.stack[0]
        self._settle(root)
        if not root.tests and not self.doc.errors:
            self.doc.errors.append("KTAP document has no test results")
        self.doc.tests, self.doc.plan = root.tests, root.plan
        self.doc.diagnostics.extend(root.diags)
        self.closed = True

    @property
    def complete(self) -> bool:
        """The top level has all the results its plan announced."""
        root = self.stack[0]
        return len(self.stack) == 1 and root.plan is not None and len(root.tests) >= root.plan

    def _diag_frame(self, indent: int) -> _Frame:
        fitting = [frame for frame in self.stack if frame.indent <= indent]
        return fitting[-1] if fitting else self.stack[0]

    def _push(self, indent: int) -> _Frame:
        parent = self.stack[-1]
        if parent.child is not None:
            self._orphan(parent)
        frame = _Frame(indent)
        self.stack.append(frame)
        return frame

    def _pop(self) -> None:
        frame = self.stack.pop()
        parent = self.stack[-1]
        if parent.child is not None:
            self._orphan(parent)
        parent.child = frame

    def _sibling(self, top: _Frame) -> _Frame | None:
        """A new nested level starts at the indentation of an unfinished one."""
        if top is self.stack[0]:
            return None  # the top level cannot restart; ignore the line
        self._pop()
        return self._push(top.indent)

    def _settle(self, frame: _Frame) -> None:
        """Check a closed level against its plan; planned but unseen tests become errors."""
        if frame.child is not None:
            self._orphan(frame)
        seen, label = len(frame.tests), _label(frame, self.stack)
        if frame.plan is None or seen == frame.plan:
            return
        problem = f"expected {frame.plan} tests in {label}, saw {seen}"
        self.doc.errors.append(problem)
        if seen > frame.plan:
            return
        self.doc.missing += frame.plan - seen
        listed = min(frame.plan, seen + MAX_MISSING_LISTED)
        for number in range(seen + 1, listed + 1):
            frame.tests.append(TestCase(f"missing test {number}", number, "error", problem))
        if listed < frame.plan:
            rest = f"missing tests {listed + 1}..{frame.plan}"
            why = f"{problem}; {frame.plan - listed} more not listed one by one"
            frame.tests.append(TestCase(rest, listed + 1, "error", why))

    def _orphan(self, parent: _Frame) -> None:
        """A nested level never got its result line: the output was cut short."""
        child, parent.child = parent.child, None
        assert child is not None
        self._settle(child)
        number = len(parent.tests) + 1
        name = child.name or f"subtest {number}"
        problem = f"{name} has no result line (output truncated?)"
        self.doc.errors.append(problem)
        parent.tests.append(TestCase(name, number, "error", problem, child.diags, child.tests))


def _status(ok: str) -> str:
    return "pass" if ok == "ok" else "fail"


def _label(frame: _Frame, stack: list[_Frame]) -> str:
    if frame.name:
        return frame.name
    return "the top level" if frame is stack[0] else f"the level indented {frame.indent}"


def _strip_prefixes(line: str) -> tuple[str | None, str]:
    """Remove Xen source prefixes and printk timestamps; return (source, rest).

    One pass with a moving position: a line of many repeated prefixes costs
    time linear in its length, not quadratic.
    """
    source, pos = None, 0
    while found := _PREFIX.match(line, pos):
        if found.end() == pos:
            break
        source = source or found["src"]
        pos = found.end()
    return source, line[pos:].rstrip()


def _indentation(line: str) -> tuple[int, str]:
    """(columns of leading whitespace, the rest); a TAB is one level of 4 columns."""
    body = line.lstrip(" \t")
    lead = line[: len(line) - len(body)]
    return len(lead.expandtabs(4)), body


def _classify(body: str) -> tuple[str, re.Match[str]] | None:
    for kind, pattern in _KINDS:
        if found := pattern.fullmatch(body):
            return kind, found
    return None


def parse(text: str, domain: str | None = None) -> list[KtapDocument]:
    """Every KTAP document in ``text``, in the order they start.

    ``domain`` is stored on each document; when it is None, a document read
    from ``(dN)``-prefixed lines gets ``"dN"`` and one from ``(XEN)`` lines ``"xen"``.
    """
    docs: list[KtapDocument] = []
    open_docs: dict[str | None, _Builder] = {}
    for raw in text.split("\n"):
        source, line = _strip_prefixes(raw)
        indent, body = _indentation(line)
        classified = _classify(body)
        if classified is None:
            continue
        kind, found = classified
        builder = open_docs.get(source)
        if kind == "version" and (builder is None or builder.complete or indent <= builder.base):
            if builder is not None:
                builder.finish()
            doc = KtapDocument(domain=domain or (source.lower() if source else None))
            docs.append(doc)
            open_docs[source] = _Builder(doc, indent)
        elif builder is not None:
            builder.feed(indent, kind, found)
            if builder.closed:  # bailed out
                del open_docs[source]
    for builder in open_docs.values():
        builder.finish()
    return docs


def iter_leaf_results(doc: KtapDocument) -> Iterator[tuple[str, TestCase]]:
    """Yield ``("suite.test", case)`` for every test that has no subtests, in order."""
    stack: list[tuple[str, TestCase]] = [("", case) for case in reversed(doc.tests)]
    while stack:
        prefix, case = stack.pop()
        path = f"{prefix}{case.name}"
        if case.subtests:
            stack.extend((f"{path}.", sub) for sub in reversed(case.subtests))
        else:
            yield path, case


def iter_cases(cases: list[TestCase]) -> Iterator[TestCase]:
    """Every test case of a tree, depth first, parents before their subtests."""
    stack = list(reversed(cases))
    while stack:
        case = stack.pop()
        yield case
        stack.extend(reversed(case.subtests))


def _all_diagnostics(doc: KtapDocument) -> Iterator[str]:
    for case in iter_cases(doc.tests):
        yield from case.diagnostics
    yield from doc.diagnostics


def diag_fields(doc: KtapDocument, key: str) -> dict[str, str] | None:
    """The ``k=v`` pairs of the first diagnostic line starting with ``key``, at any level.

    ``# sgtest.query rc=0 max_regs=256`` gives ``{"rc": "0", "max_regs": "256"}``.
    """
    for line in _all_diagnostics(doc):
        words = line.split()
        if words and words[0] == key:
            return dict(word.split("=", 1) for word in words[1:] if "=" in word)
    return None
