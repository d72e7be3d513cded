"""The JUnit the kit writes is valid against the Jenkins xunit junit-10.xsd.

The schema is not copied into this project: pytest ships it in its source
distribution (testing/example_scripts/junit-10.xsd, MIT, from the Jenkins
xunit plugin), so the test fetches the sdist of the installed pytest from
PyPI once into the kit's download cache and validates against that file.
"""

from __future__ import annotations

import sys
import tarfile
from importlib.metadata import version
from pathlib import Path

import pytest
import xmlschema

from sgkit.lab.boot import split_console
from sgkit.paths import downloads_dir
from sgkit.procs import run
from sgkit.report import ktap
from sgkit.report.console_log import Verdict
from sgkit.report.publish import Result, RunReport, results_from_ktap, write_junit

DATA = Path(__file__).parents[1] / "unit" / "test_data"


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    pinned = version("pytest")
    cache = downloads_dir() / "pypi" / f"pytest-{pinned}"
    xsd = cache / "junit-10.xsd"
    if not xsd.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "--no-binary",
                ":all:",
                "-d",
                str(cache),
                f"pytest=={pinned}",
            ],
            what=f"pip download of the pytest {pinned} sdist (for junit-10.xsd)",
            timeout=300,
        )
        [sdist] = cache.glob("pytest-*.tar.gz")
        with tarfile.open(sdist) as tar:
            member = tar.getmember(f"pytest-{pinned}/testing/example_scripts/junit-10.xsd")
            data = tar.extractfile(member)
            assert data is not None
            xsd.write_bytes(data.read())
    return xmlschema.XMLSchema(str(xsd))


def test_junit_of_a_real_lab_run_is_valid(schema, tmp_path):
    console = split_console((DATA / "lab-test-4.17.log").read_text(errors="replace"))
    results = []
    for domain, body in [("dom0", console.dom0), *console.guests.items()]:
        results += results_from_ktap(ktap.parse(body, domain=domain), domain)
    verdict = Verdict("ok", 10, "SGKIT-LAB-DONE", "done")
    write_junit(
        RunReport("lab-test", results, verdict, "2026-12-02T13:08:00Z", 397.41234),
        tmp_path / "j.xml",
    )
    schema.validate(tmp_path / "j.xml")


def test_junit_with_control_characters_and_a_crash_is_valid(schema, tmp_path):
    nasty = [
        Result("dom0", "sg\x00op", "t\x1b[0m", "fail", "why\x07", ["a\x00b", "\ud800"]),
        Result("dom0", "sg\x00op", "t\x1b[0m", "error", None, []),
        Result("sg-a", "s", "skipped", "skip", "no sg_op"),
    ]
    panic = Verdict("xen_panic", 3, "(XEN) Panic on CPU 0:\x1b", "Xen panicked")
    write_junit(RunReport("r", nasty, panic, "2026-12-02T13:08:00Z", 1e-9), tmp_path / "j.xml")
    schema.validate(tmp_path / "j.xml")
    write_junit(RunReport("empty", [], None, "2026-12-02T13:08:00Z", 0.5), tmp_path / "e.xml")
    schema.validate(tmp_path / "e.xml")
