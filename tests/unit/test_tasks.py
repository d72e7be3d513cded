"""tasks.py's lab tasks: the common options defined once, turned into one LabSpec."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from invoke import Context

import tasks
from sgkit.lab.spec import LabSpec

LAB_OPTIONS = {"xen", "source", "kernel", "accel", "timeout", "icount"}


def _options(task) -> dict[str, tuple[object, str | None]]:
    return {arg.name: (arg.default, arg.help) for arg in task.get_arguments()}


@pytest.mark.parametrize(
    ("task", "own", "timeout"),
    [
        (tasks.lab_smoke, {"hypervisor", "limits", "xsm"}, 600),
        (tasks.lab_test, {"suites", "hypervisor", "seed", "xsm", "pvh"}, 900),
        (tasks.lab_net, set(), 900),
        (tasks.bench_net, {"seconds", "repeat", "before", "ablation", "pin", "variant"}, 0),
    ],
)
def test_every_lab_task_has_the_lab_options_and_its_own(task, own, timeout):
    options = _options(task)
    assert set(options) == LAB_OPTIONS | own
    assert options["timeout"][0] == timeout and options["xen"][0] == tasks.DEFAULT_XEN
    assert all(help for _, help in options.values()), "an option without help"


def test_the_options_become_one_resolved_spec(monkeypatch):
    seen = {}

    def fake_run(spec, suites, seed=None, pvh=()):
        seen.update(spec=spec, suites=suites, seed=seed, pvh=pvh)
        report = SimpleNamespace(ok=lambda: True)
        return SimpleNamespace(text_summary="", results="r", report=report)

    monkeypatch.setattr("sgkit.lab.multidomain.run_lab_test", fake_run)
    tasks.lab_test(
        Context(),
        suites="sg_op",
        hypervisor="stock",
        xen="4.17",
        source="",
        kernel="6.1.0-50-amd64",
        accel="",
        timeout=0,
        icount="2",
        seed=7,
        xsm="",
        pvh="sg-a,sg-b",
    )
    spec = seen["spec"]
    assert isinstance(spec, LabSpec) and spec.context["abi"]
    assert (spec.hypervisor, spec.kernel, spec.accel, spec.timeout_s, spec.icount) == (
        "stock",
        "6.1.0-50-amd64",
        None,
        None,
        "2",
    )
    assert spec.timeout(900.0) == 900.0
    assert (seen["suites"], seen["seed"], seen["pvh"]) == ("sg_op", 7, ["sg-a", "sg-b"])
