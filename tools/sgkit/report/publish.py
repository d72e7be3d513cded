"""Merge test results from several domains and write them as JSON, JUnit and text.

The JUnit file is well-formed whatever the consoles contained (characters
XML 1.0 cannot carry are written as ``\\xNN``), valid against the Jenkins
xunit ``junit-10.xsd``, carries each failure's diagnostics in the
``<failure>``/``<error>`` body (where GitLab and GitHub show them), and keeps
test names unique within each suite (GitLab folds duplicates into one).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import junitparser

from sgkit.report.console_log import Verdict
from sgkit.report.ktap import KtapDocument, TestCase, iter_leaf_results

STATUSES = ("pass", "fail", "skip", "error")
FLAT_SUITE = "ktap"  # suite of a top-level test that has no subtests
PROTOCOL_TEST = "ktap_protocol"  # test name of a document's protocol errors


@dataclass
class Result:
    domain: str
    suite: str
    test: str
    status: str  # one of STATUSES
    reason: str | None = None
    diagnostics: list[str] = field(default_factory=list)


def results_from_ktap(docs: list[KtapDocument], domain: str) -> list[Result]:
    """One Result per leaf test; a document's protocol errors add one "error" Result.

    The suite is the top-level test's name, the test the rest of the path. A
    suite that failed although none of its tests did also gets a "(suite)" Result.
    """
    results: list[Result] = []
    for doc in docs:
        for path, case in iter_leaf_results(doc):
            suite, _, test = path.partition(".")
            suite, test = (suite, test) if test else (FLAT_SUITE, suite)
            results.append(_result(domain, suite, test, case))
        for case in doc.tests:
            if case.subtests and case.status in ("fail", "error") and not _failing_leaf(case):
                reason = case.directive_reason or "the suite failed but none of its tests did"
                results.append(Result(domain, case.name, "(suite)", case.status, reason))
        if doc.errors:
            suite = doc.tests[0].name if len(doc.tests) == 1 else FLAT_SUITE
            reason = "; ".join(doc.errors)
            results.append(Result(domain, suite, PROTOCOL_TEST, "error", reason, list(doc.errors)))
    return results


def _result(domain: str, suite: str, test: str, case: TestCase) -> Result:
    return Result(domain, suite, test, case.status, case.directive_reason, list(case.diagnostics))


def _failing_leaf(case: TestCase) -> bool:
    if not case.subtests:
        return case.status in ("fail", "error")
    return any(_failing_leaf(sub) for sub in case.subtests)


def _counts(results: list[Result]) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    for result in results:
        counts[result.status if result.status in counts else "error"] += 1
    counts["total"] = len(results)
    return counts


@dataclass
class RunReport:
    name: str
    results: list[Result]
    verdict: Verdict | None
    started: str  # ISO 8601
    duration_s: float
    meta: dict[str, Any] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """Results per status (an unknown status counts as "error") and "total"."""
        return _counts(self.results)

    def ok(self) -> bool:
        """No failures or errors, a clean console, and at least one result."""
        counts = self.counts()
        console_ok = self.verdict is None or self.verdict.kind == "ok"
        return console_ok and counts["total"] > 0 and counts["fail"] == counts["error"] == 0


def _write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_json(report: RunReport, path: str | os.PathLike[str]) -> None:
    data = dataclasses.asdict(report)
    data["counts"], data["ok"] = report.counts(), report.ok()
    _write_atomic(path, (json.dumps(data, indent=2, default=str) + "\n").encode())


# Characters XML 1.0 cannot carry at all (NUL, ESC and other C0 controls,
# surrogates, U+FFFE/U+FFFF).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    """``text`` with every character XML cannot carry written as ``\\xNN``/``\\uNNNN``."""
    return _NOT_XML.sub(lambda m: repr(m.group(0))[1:-1], text)


def _junit_case(
    name: str, classname: str, status: str, reason: str | None, body: str = ""
) -> junitparser.TestCase:
    case = junitparser.TestCase(xml_text(name), classname=xml_text(classname))
    message = xml_text(reason or "")
    if status == "skip":
        case.result = [junitparser.Skipped(message or "skipped")]
    elif status == "fail":
        case.result = [junitparser.Failure(message or "failed", type_="fail")]
    elif status != "pass":
        case.result = [junitparser.Error(message or status, type_=xml_text(status))]
    if status in ("fail", "error") and body:
        case.result[0].text = xml_text(body)
    return case


def _unique(name: str, taken: set[str]) -> str:
    """``name``, or ``name (2)``, ``name (3)``... the first one not yet in ``taken``."""
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name} ({n})"
    taken.add(candidate)
    return candidate


def _seconds(value: float) -> float:
    """A duration the schema's SUREFIRE_TIME accepts: at most three decimals, not negative."""
    return round(max(value, 0.0), 3)


def write_junit(report: RunReport, path: str | os.PathLike[str]) -> None:
    """One testsuite per domain and suite; a bad console or an empty run adds a failure."""
    suites: dict[str, junitparser.TestSuite] = {}
    names: dict[str, set[str]] = {}
    for result in report.results:
        classname = f"{result.domain}.{result.suite}"
        suite = suites.setdefault(classname, junitparser.TestSuite(xml_text(classname)))
        name = _unique(result.test, names.setdefault(classname, set()))
        body = "\n".join(result.diagnostics)
        case = _junit_case(name, classname, result.status, result.reason, body)
        if result.diagnostics:
            case.system_out = xml_text(body)
        suite.add_testcase(case)
    run = junitparser.TestSuite("sgkit")
    if report.verdict is not None and report.verdict.kind != "ok":
        line = report.verdict.line or ""
        case = _junit_case("console", "sgkit", "fail", report.verdict.reason, line)
        case.result[0].type = xml_text(report.verdict.kind)
        run.add_testcase(case)
    if not report.results:
        run.add_testcase(_junit_case("results", "sgkit", "fail", "the run produced no results"))
    xml = junitparser.JUnitXml(xml_text(report.name))
    for suite in [*suites.values(), run]:
        if len(list(suite)):
            suite.timestamp = report.started
            xml.add_testsuite(suite)
    xml.update_statistics()
    xml.time = _seconds(report.duration_s)
    # junit-10.xsd allows no "skipped" on <testsuites> (only on each <testsuite>),
    # and junitparser has no API to leave it out.
    xml._elem.attrib.pop("skipped", None)
    _write_atomic(path, xml.tostring())


def summary(report: RunReport, max_listed: int = 20) -> str:
    """A few lines for a terminal: verdict, counts per domain, failures."""
    counts = report.counts()
    state = "PASS" if report.ok() else "FAIL"
    lines = [f"{report.name}: {state} ({_count_text(counts)}) in {report.duration_s:.1f}s"]
    if report.verdict is not None and report.verdict.kind != "ok":
        lines.append(f"  console: {report.verdict.kind}: {report.verdict.reason}")
    if not report.results:
        lines.append("  no test results were collected")
    for domain in dict.fromkeys(result.domain for result in report.results):
        mine = _counts([result for result in report.results if result.domain == domain])
        lines.append(f"  {domain}: {_count_text(mine)}")
    bad = [r for r in report.results if r.status in ("fail", "error")]
    for result in bad[:max_listed]:
        why = f": {result.reason}" if result.reason else ""
        lines.append(f"  {result.status.upper()} {result.domain} {result.suite}.{result.test}{why}")
    if len(bad) > max_listed:
        lines.append(f"  ... and {len(bad) - max_listed} more")
    return "\n".join(lines)


def _count_text(counts: dict[str, int]) -> str:
    parts = [f"{counts[status]} {status}" for status in STATUSES if counts[status]]
    return ", ".join(parts) if parts else "no results"


def new_run_dir(root: Path, kind: str) -> Path:
    """A fresh ``root/<kind>-<time>`` directory; never one another run already has."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    root.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        path = root / (f"{kind}-{stamp}" if n == 1 else f"{kind}-{stamp}-{n}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"no free run directory for {kind} in {root}")


def publish(report: RunReport, out: Path, text_summary: str, latest: str) -> None:
    """Write results.json, junit.xml and summary.txt into ``out`` and point ``latest`` at it."""
    write_json(report, out / "results.json")
    write_junit(report, out / "junit.xml")
    (out / "summary.txt").write_text(text_summary.rstrip("\n") + "\n")
    link = out.parent / latest
    tmp = out.parent / f".{latest}.tmp"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(out.name)
    tmp.replace(link)
