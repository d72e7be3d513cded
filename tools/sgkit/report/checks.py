"""The checks the host makes itself on a lab or deploy run, written once.

lab.test, lab.net and a deploy with domUs read the same lines from dom0
(``sgkit.report.protocol``): the steps of its init, how each domU ended, the
free memory before and after the domUs, the domains left after ``xl
destroy``.  Each check here is one ``Result`` of domain "host"; the runs pick
the checks that apply to them, in their order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sgkit.report import protocol
from sgkit.report.publish import Result


def host_result(suite: str, test: str, ok: bool, why: str | None) -> Result:
    """A pass, or a fail that says ``why``."""
    return Result("host", suite, test, "pass" if ok else "fail", None if ok else why)


def failed_steps(text: str) -> list[str]:
    """dom0's SGKIT-STEP lines that did not exit 0: ``what rc=N``."""
    return [f"{m['what']} rc={m['rc']}" for m in protocol.STEP.iter(text) if m["rc"] != "0"]


def domu_states(text: str) -> dict[str, tuple[str, int]]:
    """How each domU ended as dom0 saw it: name -> (done|timeout|gone, seconds)."""
    return {m["name"]: (m["state"], int(m["seconds"])) for m in protocol.DOMU.iter(text)}


def free_memory(text: str) -> tuple[int, int] | None:
    """``xl info`` free_memory (MB) before the domUs were created and after they were destroyed."""
    found = protocol.FREE_MEMORY.last(text)
    if found is None or not found["before"] or not found["after"]:
        return None
    return int(found["before"]), int(found["after"])


def dom0_setup(suite: str, failed: Sequence[str]) -> Result:
    return host_result(suite, "dom0_setup", not failed, "dom0 steps failed: " + ", ".join(failed))


def domus_finished(
    suite: str,
    domus: Sequence[str],
    states: Mapping[str, tuple[str, int]],
    logs: Mapping[str, str],
) -> list[Result]:
    """``NAME_finished``: dom0 saw each domU end by itself, and its console got to SGKIT-DONE."""
    out = []
    for name in domus:
        state, seconds = states.get(name, ("unreported", 0))
        log = logs.get(name)
        problems = []
        if state != "done":
            problems.append(f"dom0 saw the domU end as {state!r} after {seconds}s")
        if log is None:
            problems.append("its console log is missing")
        elif not protocol.DONE.seen(log):
            problems.append(f"its console log has no {protocol.DONE.name}")
        out.append(host_result(suite, f"{name}_finished", not problems, "; ".join(problems)))
    return out


def free_memory_returned(suite: str, memory: tuple[int, int] | None, slack_mb: int = 0) -> Result:
    """Free memory after destroy is what it was before (at most ``slack_mb`` short)."""
    name = "free_memory_returned"
    if memory is None:
        return host_result(suite, name, False, f"dom0 printed no {protocol.FREE_MEMORY.name} line")
    before, after = memory
    why = f"xl info free_memory was {before} MB before create, {after} MB after destroy"
    if slack_mb:
        why += f" (up to {slack_mb} MB short allowed)"
    return host_result(suite, name, 0 <= before - after <= slack_mb, why)


def no_domain_left(suite: str, text: str) -> Result:
    """After ``xl destroy``, ``xl list`` shows dom0 alone."""
    left = protocol.DOMAINS_LEFT.first(text)
    if left is None:
        return host_result(
            suite, "no_domain_left", False, f"dom0 printed no {protocol.DOMAINS_LEFT.name} line"
        )
    why = f"after xl destroy, xl list still shows: {left['names'].strip() or 'nothing'}"
    return host_result(suite, "no_domain_left", left["count"] == "0", why)


def sections_complete(suite: str, unterminated: Sequence[str]) -> list[Result]:
    """A fail if the serial log ends inside a marked section (none otherwise)."""
    if not unterminated:
        return []
    why = "the serial log ends inside: " + ", ".join(unterminated)
    return [host_result(suite, "console_sections_complete", False, why)]
