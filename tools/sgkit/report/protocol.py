"""The console protocol of the guest scripts: every ``SGKIT-*`` line, defined once.

The shell scripts in ``images/guest/`` print one line per event, on the lab's
serial console or, on a real host, on the deploy script's output; ``lab`` and
``deploy`` read them back.  It lives in ``report`` because both pipelines
read it and neither may import the other.  Each marker is defined here once, with its
fields as a regular expression and an example line, and read through its own
parser (``Marker.all``, ``Marker.last``, ``Marker.seen``).  No other module
spells an ``SGKIT-`` regex; a unit test holds the scripts, this module and the
table in docs/lab.md to the same set of markers.

The sgtest module's own KTAP diagnostics (``# sgtest.query ...`` and
``# sgtest.global ...``) are read here as well, with ``query_of`` and
``global_of``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from sgkit.report import ktap


@dataclass(frozen=True)
class Marker:
    """One console line kind: ``name`` then fields matching ``fields``."""

    name: str
    fields: str  # a regex with named groups for the rest of the line ("" if none)
    example: str  # a real line of this kind, checked against the regex by the tests
    meaning: str
    emitted_by: str  # the scripts that print it
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # A marker name never continues with a letter, digit or dash, so SGKIT-NET
        # does not match SGKIT-NETSTAT or SGKIT-NET-AFTER.
        rest = f" {self.fields}" if self.fields else ""
        regex = rf"{re.escape(self.name)}(?![\w-]){rest}"
        object.__setattr__(self, "pattern", re.compile(regex))

    def all(self, text: str) -> list[re.Match[str]]:
        """Every line of this kind in ``text``, in order."""
        return list(self.pattern.finditer(text))

    def iter(self, text: str) -> Iterator[re.Match[str]]:
        return self.pattern.finditer(text)

    def last(self, text: str) -> re.Match[str] | None:
        found = self.all(text)
        return found[-1] if found else None

    def first(self, text: str) -> re.Match[str] | None:
        return self.pattern.search(text)

    def seen(self, text: str) -> bool:
        return self.pattern.search(text) is not None


@dataclass(frozen=True)
class Block:
    """A section of the console between ``NAME-BEGIN [label]`` and ``NAME-END [label]``."""

    name: str
    meaning: str
    emitted_by: str

    @property
    def begin(self) -> str:
        return f"{self.name}-BEGIN"

    @property
    def end(self) -> str:
        return f"{self.name}-END"


_SH_DOM0_LAB = "dom0-lab-init.sh"
_SH_SGNET = "sgnet-lab.sh"
_SH_BENCH = "bench-net.sh"
_SH_DEPLOY = "deploy-domus.sh"
_SH_DOMU = "domU-init.sh"
_SH_SMOKE = "dom0-smoke-init.sh"
_SH_LIB = "lib.sh"

# -- the life of a domain -------------------------------------------------------
INIT = Marker(
    "SGKIT-INIT",
    r"kernel=(?P<kernel>\S+) domain=(?P<domain>\S+)(?: guest=(?P<guest>\S+))?(?P<rest>[^\n]*)",
    'SGKIT-INIT kernel=6.1.0-50-amd64 domain=dom0 lab=multi domus="sg-a sg-b"',
    "init started: the kernel release and the domain; a domU adds guest= (PV, PVH or HVM,"
    " from /sys/hypervisor/guest_type)",
    f"{_SH_SMOKE}, {_SH_DOM0_LAB}, {_SH_DOMU}",
)
STEP = Marker(
    "SGKIT-STEP",
    r"(?P<what>\S+) rc=(?P<rc>-?\d+)",
    "SGKIT-STEP xl-create-sg-a rc=0",
    "a setup step and its exit status",
    f"{_SH_LIB}, {_SH_DOM0_LAB}, {_SH_SGNET}, {_SH_BENCH}, {_SH_DEPLOY}",
)
INSMOD = Marker(
    "SGKIT-INSMOD",
    r"(?P<module>\S+) rc=(?P<rc>-?\d+)",
    "SGKIT-INSMOD sgtest rc=0",
    "a module was loaded (rc is insmod's exit status)",
    f"{_SH_LIB}, {_SH_DOM0_LAB}, {_SH_BENCH}, {_SH_DEPLOY}",
)
DONE = Marker(
    "SGKIT-DONE",
    "",
    "SGKIT-DONE",
    "a domain ran all its modules (smoke dom0, every domU)",
    f"{_SH_SMOKE}, {_SH_DOMU}",
)
LAB_DONE = Marker(
    "SGKIT-LAB-DONE",
    "",
    "SGKIT-LAB-DONE",
    "the multi-domain lab's end; the host may stop the machine",
    _SH_DOM0_LAB,
)
DOMUS_DONE = Marker(
    "SGKIT-DOMUS-DONE", "", "SGKIT-DOMUS-DONE", "the deploy script's end", _SH_DEPLOY
)
DOMU = Marker(
    "SGKIT-DOMU",
    r"(?P<name>\S+) state=(?P<state>\S+) seconds=(?P<seconds>\d+)",
    "SGKIT-DOMU sg-a state=done seconds=41",
    "a domU's end: done, timeout, gone or create-failed",
    _SH_LIB,
)
DOMAINS_LEFT = Marker(
    "SGKIT-DOMAINS-LEFT",
    r"count=(?P<count>\d+) ?(?P<names>[^\n]*)",
    "SGKIT-DOMAINS-LEFT count=0",
    "domains other than dom0 still in `xl list` at the end",
    _SH_LIB,
)
FREE_MEMORY_BEFORE = Marker(
    "SGKIT-FREE-MEMORY-BEFORE",
    r"(?P<before>\d*)",
    "SGKIT-FREE-MEMORY-BEFORE 1502",
    "`xl info` free_memory (MB) before the domUs are created (progress only)",
    _SH_DOM0_LAB,
)
FREE_MEMORY = Marker(
    "SGKIT-FREE-MEMORY",
    r"before=(?P<before>\d*) after=(?P<after>\d*)",
    "SGKIT-FREE-MEMORY before=1502 after=1502",
    "`xl info` free_memory (MB) before create and after destroy",
    _SH_DOM0_LAB,
)

# -- sections of dom0's console --------------------------------------------------
GUEST_LOG = Block("SGKIT-GUEST-LOG", "a domU's console log, label: its name", _SH_DOM0_LAB)
DOM0_BEFORE = Block("SGKIT-DOM0-BEFORE", "sgtest in dom0 before any domU exists", _SH_DOM0_LAB)
DOM0_AFTER = Block("SGKIT-DOM0-AFTER", "sgtest in dom0 after the domUs are gone", _SH_DOM0_LAB)
XL_DMESG = Block("SGKIT-XL-DMESG", "`xl dmesg`, the hypervisor's log", _SH_DOM0_LAB)
BLOCKS = (GUEST_LOG, DOM0_BEFORE, DOM0_AFTER, XL_DMESG)
_BLOCK_EDGE = re.compile(
    r"(?P<name>"
    + "|".join(re.escape(b.name) for b in BLOCKS)
    + r")-(?P<edge>BEGIN|END)(?: +(?P<label>\S+))?\s*$"
)

# -- sgnet links (lab.net, deploy --run sgnet) -------------------------------------
NET = Marker(
    "SGKIT-NET",
    r"(?P<dom>\S+) devid=(?P<devid>\d+) if=(?P<ifc>\S+) state=(?P<state>\S+)"
    r" carrier=(?P<carrier>\S+)(?: mtu=(?P<mtu>\d+))?",
    "SGKIT-NET sg-a devid=0 if=eth1 state=up carrier=1 mtu=65535",
    "an sgnet interface was set up",
    _SH_SGNET,
)
PING = Marker(
    "SGKIT-PING",
    r"from=(?P<src>\S+) to=(?P<dst>\S+) if=(?P<ifc>\S+) rc=(?P<rc>-?\d+)(?: tries=(?P<tries>\d+))?",
    "SGKIT-PING from=dom0 to=sg-a if=eth1 rc=0 tries=1",
    "ping's exit status over a link",
    _SH_SGNET,
)
BIGPING = Marker(
    "SGKIT-BIGPING",
    r"from=(?P<src>\S+) to=(?P<dst>\S+) if=\S+ size=(?P<size>\d+) rc=(?P<rc>-?\d+)",
    "SGKIT-BIGPING from=sg-a to=sg-b if=eth2 size=65507 rc=0",
    "the largest ping the link's MTU allows",
    _SH_SGNET,
)
NETSTAT = Marker(
    "SGKIT-NETSTAT",
    r"(?P<dom>\S+) if=(?P<ifc>\S+)(?P<rest>[^\n]*)",
    "SGKIT-NETSTAT dom0-preburst if=vsg0.0 tx_packets=3 rx_packets=4",
    "the driver's counters (ethtool -S), tagged with a domain or a moment",
    _SH_SGNET,
)
NET_AFTER = Marker(
    "SGKIT-NET-AFTER",
    r"dom0 if=(?P<ifc>\S+) carrier=(?P<carrier>\S+)",
    "SGKIT-NET-AFTER dom0 if=vsg0.0 carrier=0",
    "dom0's end of a link after its peer died",
    _SH_SGNET,
)
RELOAD = Marker(
    "SGKIT-RELOAD",
    r"(?P<dom>\S+) unbind=(?P<u>-?\d+) rmmod=(?P<r>-?\d+) insmod=(?P<i>-?\d+)",
    "SGKIT-RELOAD sg-b unbind=0 rmmod=0 insmod=0",
    "sgnet was reloaded in a domU",
    _SH_SGNET,
)
BACKEND_RELOAD = Marker(
    "SGKIT-BACKEND-RELOAD",
    r"dom=(?P<dom>\S+) to=(?P<to>\S+) unbind=(?P<u>-?\d+) rmmod=(?P<r>-?\d+)"
    r" fe_state=(?P<state>\S+) insmod=(?P<i>-?\d+) rc=(?P<rc>-?\d+)",
    "SGKIT-BACKEND-RELOAD dom=dom0 to=169.254.77.2 unbind=0 rmmod=0 fe_state=4 insmod=0 rc=0",
    "dom0's backend reloaded under a connected frontend",
    _SH_SGNET,
)
BURST = Marker(
    "SGKIT-BURST",
    r"from=(?P<src>\S+) to=(?P<dst>\S+) if=\S+ rc=(?P<rc>-?\d+)"
    r" sent=(?P<sent>\d+) received=(?P<received>\d+)",
    "SGKIT-BURST from=dom0 to=sg-a if=vsg0.0 rc=0 sent=64 received=64",
    "dom0's burst, between SGKIT-NETSTAT dom0-preburst and dom0-postburst",
    _SH_SGNET,
)
PAUSED_BURST = Marker(
    "SGKIT-PAUSED-BURST",
    r"to=(?P<to>\S+) pause=(?P<pause>-?\d+) full=(?P<full>\d) seconds=\d+"
    r" resume=(?P<resume>-?\d+) rc=(?P<rc>-?\d+) sent=(?P<sent>\d+) received=(?P<received>\d+)",
    "SGKIT-PAUSED-BURST to=169.254.77.2 pause=0 full=1 seconds=3 resume=0 rc=0 sent=80 received=80",
    "a burst into a paused receiver, then its resume",
    _SH_SGNET,
)
PAUSED_ONEWAY = Marker(
    "SGKIT-PAUSED-ONEWAY",
    r"to=(?P<to>\S+) frames=(?P<frames>\d+) pause=(?P<pause>-?\d+) sent=(?P<sent>-?\d+)"
    r" stalled=(?P<stalled>\d) seconds=(?P<seconds>\d+)",
    "SGKIT-PAUSED-ONEWAY to=10.77.1.2 frames=128 pause=0 sent=0 stalled=1 seconds=9",
    "frames sent one way into a paused receiver, until all went through after its resume",
    _SH_SGNET,
)
HC = Marker(
    "SGKIT-HC",
    r"(?P<when>\S+) hypercalls\s+T=\s*(?P<total>\d+)(?P<values>[\d ]*)",
    "SGKIT-HC dom0-paused hypercalls T= 120 3 4",
    "xenperf's hypercall counts (every domain) around a paused receiver's resume",
    _SH_SGNET,
)
IPERF = Marker(
    "SGKIT-IPERF",
    r"test=(?P<test>\S+) to=(?P<to>\S+) rc=(?P<rc>-?\d+) json=(?P<json>[^\n]*)",
    'SGKIT-IPERF test=tcp to=169.254.77.2 rc=0 json={"end": {}}',
    "dom0's iperf3 -J, one line",
    _SH_SGNET,
)
TCPEXT = Marker(
    "SGKIT-TCPEXT",
    r"(?P<when>\S+)(?P<rest>[^\n]*)",
    "SGKIT-TCPEXT pretcp TCPOFOQueue=0 TCPSACKReorder=0",
    "dom0's TCP reordering counters around the TCP runs",
    _SH_SGNET,
)
ETHTOOL_K = Marker(
    "SGKIT-ETHTOOL-K",
    r"if=(?P<ifc>\S+) off=(?P<off>-?\d+) tso=(?P<tso>\S+) tx=(?P<tx>\S+) on=(?P<on>-?\d+)",
    "SGKIT-ETHTOOL-K if=vsg0.0 off=0 tso=off tx=off on=0",
    "offloads switched off (and back on) for one TCP run",
    _SH_SGNET,
)
FLOOD_PING = Marker(
    "SGKIT-FLOOD-PING",
    r"to=(?P<to>\S+) rc=(?P<rc>-?\d+)",
    "SGKIT-FLOOD-PING to=169.254.77.2 rc=0",
    "a ping after the UDP flood",
    _SH_SGNET,
)
BUSY_DESTROY = Marker(
    "SGKIT-BUSY-DESTROY",
    r"dom=(?P<dom>\S+) running=(?P<running>\d) destroy=(?P<destroy>-?\d+)"
    r" carrier=(?P<carrier>\S+) client=(?P<client>\S+) seconds=(?P<seconds>\d+)",
    "SGKIT-BUSY-DESTROY dom=sg-a running=1 destroy=0 carrier=0 client=exited seconds=1",
    "a domU destroyed in the middle of a transfer",
    _SH_SGNET,
)
HOSTILE = Marker(
    "SGKIT-HOSTILE",
    r"case=(?P<case>\S+) reply=(?P<reply>-?\d+) off=(?P<off>\d) off_after=(?P<off_after>\d+)"
    r" stall_ms=(?P<stall_ms>\d+) back=(?P<back>\d) ping=(?P<ping>-?\d+)"
    r" seconds=(?P<seconds>\d+) cpu_dom0_ms=(?P<cpu_dom0>-?\d+)"
    r" cpu_domu_ms=(?P<cpu_domu>-?\d+)(?P<rest>[^\n]*)",
    "SGKIT-HOSTILE case=credit reply=0 off=1 off_after=4 stall_ms=3000 back=1 ping=0 seconds=19"
    " cpu_dom0_ms=800 cpu_domu_ms=2100 sghostile: mode=credit victim=0 grants=12000 failed=0"
    " ms=14000",
    "a domU played a hostile sgnet peer against dom0, then behaved",
    _SH_SGNET,
)
RINGPARAM = Marker(
    "SGKIT-RINGPARAM",
    r"if=(?P<ifc>\S+) set=(?P<set>-?\d+) rx=(?P<rx>\S+) buf_len=(?P<buf_len>\S+)"
    r" xs_rx=(?P<xs_rx>\S+) xs_len=(?P<xs_len>\S+) ping=(?P<ping>-?\d+)"
    r" back=(?P<back>-?\d+) back_ping=(?P<back_ping>-?\d+) xs_back=(?P<xs_back>\S*)",
    "SGKIT-RINGPARAM if=sgnet0 set=0 rx=32 buf_len=8192 xs_rx=32 xs_len=8192 ping=0 back=0"
    " back_ping=0 xs_back=64",
    "ethtool -G on dom0's end of a connected link: its buffers set up again, the link back",
    _SH_SGNET,
)
BRIDGE = Marker(
    "SGKIT-BRIDGE",
    r"dom=(?P<dom>\S+) to=(?P<to>\S+) vif=(?P<vif>\S+) sgnet=(?P<sgnet>\S+)"
    r" bridge=(?P<bridge>-?\d+) rc=(?P<rc>-?\d+) json=(?P<json>[^\n]*)",
    'SGKIT-BRIDGE dom=sg-b to=10.77.1.2 vif=vif2.0 sgnet=sgnet0 bridge=0 rc=0 json={"end": {}}',
    "a netfront domU's iperf3 --bidir to an sgnet domU across dom0's bridge",
    _SH_SGNET,
)
SGOP = Marker(
    "SGKIT-SGOP",
    r"when=(?P<when>\S+) scope=(?P<scope>\S+)(?P<rest>[^\n]*)",
    "SGKIT-SGOP when=presave scope=global regs=390 pinned_pages=6534 bindings=396 addrs=396"
    " domains=3 continuations=0",
    "Xen's sg_op totals (scope=global) or a domain's usage (scope=domN), read by dom0",
    _SH_SGNET,
)
RESTORE = Marker(
    "SGKIT-RESTORE",
    r"dom=(?P<dom>\S+) old=(?P<old>\d+) new=(?P<new>\d*) save=(?P<save>-?\d+)"
    r" gone=(?P<gone>\d) restore=(?P<restore>-?\d+) connect=(?P<connect>-?\d+)"
    r" unpause=(?P<unpause>-?\d+) seconds=(?P<seconds>\d+)",
    "SGKIT-RESTORE dom=sg-b old=2 new=4 save=0 gone=1 restore=0 connect=0 unpause=0 seconds=41",
    "a domU saved and restored (xl save, xl restore -p), its vsg nodes made for the new domid",
    _SH_SGNET,
)
RELINK = Marker(
    "SGKIT-RELINK",
    r"dom=(?P<dom>\S+) be=(?P<be>\S+) devid=(?P<devid>\d+) if=(?P<ifc>\S+)"
    r" configure=(?P<configure>-?\d+) ping=(?P<ping>-?\d+)",
    "SGKIT-RELINK dom=sg-b be=dom0 devid=2 if=sgnet2 configure=0 ping=0",
    "a backend's end of a restored domU's link: configured, and its ping",
    _SH_SGNET,
)
SHUTDOWN = Marker(
    "SGKIT-SHUTDOWN",
    r"dom=(?P<dom>\S+) rc=(?P<rc>-?\d+) state=(?P<state>\S+) seconds=(?P<seconds>\d+)"
    r" carrier=(?P<carrier>\S+) be_state=(?P<be_state>\S+)",
    "SGKIT-SHUTDOWN dom=sg-b rc=0 state=--ps-- seconds=6 carrier=0 be_state=6",
    "xl shutdown of a domU with live links; dom0's end of its link",
    _SH_SGNET,
)

# -- bench.net ------------------------------------------------------------------
BENCH_DOMU = Marker(
    "SGKIT-BENCH-DOMU",
    r"(?P<rest>[^\n]*)",
    "SGKIT-BENCH-DOMU ready eth0=1",
    "the bench domU's setup (progress only)",
    _SH_BENCH,
)
# bench.net --repeat: the round of a run ("round=R" absent in older logs: round 1).
_ROUND = r"(?: round=(?P<round>\d+))?"
BENCH_SNAP = Marker(
    "SGKIT-BENCH-SNAP",
    rf"drv=(?P<drv>\S+){_ROUND} test=(?P<test>\S+) when=(?P<when>\S+)"
    r" side=(?P<side>\S+) if=(?P<ifc>\S+)(?P<rest>[^\n]*)",
    "SGKIT-BENCH-SNAP drv=sgnet round=1 test=udp64 when=before side=dom0 if=vsg1.0 rx_packets=1",
    "counters around one benchmark run",
    _SH_BENCH,
)
BENCH_HC = Marker(
    "SGKIT-BENCH-HC",
    rf"drv=(?P<drv>\S+){_ROUND} test=(?P<test>\S+) when=(?P<when>\S+)"
    r" hypercalls\s+T=\s*(?P<total>\d+)(?P<values>[\d ]*)",
    "SGKIT-BENCH-HC drv=sgnet round=1 test=udp64 when=after hypercalls T= 120 3 4",
    "xenperf's hypercall counts around one run",
    _SH_BENCH,
)
BENCH_CPU = Marker(
    "SGKIT-BENCH-CPU",
    rf"drv=(?P<drv>\S+){_ROUND} test=(?P<test>\S+) when=(?P<when>\S+)(?P<rest>[^\n]*)",
    "SGKIT-BENCH-CPU drv=sgnet round=1 test=udp64 when=after Domain-0=81.2 sg-a=30.5",
    "every domain's CPU seconds (xl list) around one run",
    _SH_BENCH,
)
BENCH_RUN = Marker(
    "SGKIT-BENCH-RUN",
    rf"drv=(?P<drv>\S+){_ROUND} test=(?P<test>\S+) rc=(?P<rc>-?\d+) json=(?P<json>[^\n]*)",
    'SGKIT-BENCH-RUN drv=sgnet round=1 test=tcp rc=0 json={"end": {}}',
    "one benchmark run's iperf3 -J, one line",
    _SH_BENCH,
)
BENCH_PING = Marker(
    "SGKIT-BENCH-PING",
    rf"drv=(?P<drv>\S+){_ROUND} rc=(?P<rc>-?\d+) rtt=(?P<rtt>\S*)",
    "SGKIT-BENCH-PING drv=sgnet round=1 rc=0 rtt=0.1/0.2/0.3/0.05",
    "the round-trip time of a 20-echo ping",
    _SH_BENCH,
)
BENCH_SET = Marker(
    "SGKIT-BENCH-SET",
    r"(?P<drv>\S+) domU (?P<rest>[^\n]*)",
    "SGKIT-BENCH-SET sgnet-before domU rx_return=1 rc=0",
    "an sgnet variant's module parameter (or IF:name, an interface's NAPI deferral) as the"
    " domU set it (bench-set.sh)",
    _SH_BENCH,
)
BENCH_VARIANT = Marker(
    "SGKIT-BENCH-VARIANT",
    r"(?P<drv>\S+) round=(?P<round>\d+) if=(?P<ifc>\S+)(?P<rest>[^\n]*)",
    "SGKIT-BENCH-VARIANT sgnet-before round=1 if=vsg1.0 irq_lateeoi=N rx_return=1",
    "an sgnet variant set up in dom0: its interface, module parameters and the interface's"
    " NAPI deferral",
    _SH_BENCH,
)
BENCH_IF = Marker(
    "SGKIT-BENCH-IF",
    r"sgnet=(?P<sgnet>\S+) netfront=(?P<netfront>\S+)",
    "SGKIT-BENCH-IF sgnet=vsg1.0 netfront=vif1.0",
    "dom0's interface for each driver",
    _SH_BENCH,
)
BENCH_END = Marker("SGKIT-BENCH-END", "", "SGKIT-BENCH-END", "the bench's end", _SH_BENCH)

MARKERS: tuple[Marker, ...] = tuple(v for v in list(globals().values()) if isinstance(v, Marker))


def block_edge(line: str) -> re.Match[str] | None:
    """A ``Block``'s BEGIN or END line: groups ``name``, ``edge`` and ``label``."""
    return _BLOCK_EDGE.search(line)


def marker_names() -> set[str]:
    """Every name the protocol defines, block edges included."""
    names = {m.name for m in MARKERS}
    for b in BLOCKS:
        names |= {b.begin, b.end}
    return names


def query_of(text: str) -> dict[str, str] | None:
    """The fields of the first ``sgtest.query`` diagnostic in ``text``'s KTAP."""
    return next((f for d in ktap.parse(text) if (f := ktap.diag_fields(d, "sgtest.query"))), None)


GLOBAL_KEYS = ("regs", "pinned_pages", "bindings", "addrs", "domains")


def global_of(text: str | None) -> dict[str, int] | None:
    """The hypervisor-wide counters of the first ``sgtest.global`` line, if any.

    None when the line is missing (a hypervisor or sgtest that does not
    report them yet) or any of ``GLOBAL_KEYS`` is missing or not a number.
    """
    if not text:
        return None
    for doc in ktap.parse(text):
        fields = ktap.diag_fields(doc, "sgtest.global")
        if fields is None:
            continue
        if not all(fields.get(key, "").isdigit() for key in GLOBAL_KEYS):
            return None
        return {key: int(fields[key]) for key in GLOBAL_KEYS}
    return None


def markdown_table() -> str:
    """The table docs/lab.md carries (a unit test keeps the two equal)."""
    rows = ["| marker | fields | meaning | printed by |", "| --- | --- | --- | --- |"]
    for m in MARKERS:
        shown = m.example.removeprefix(m.name).strip() or "(none)"
        rows.append(f"| `{m.name}` | `{shown}` | {m.meaning} | {m.emitted_by} |")
    for b in BLOCKS:
        rows.append(f"| `{b.begin}` .. `{b.end}` | (a section) | {b.meaning} | {b.emitted_by} |")
    return "\n".join(rows) + "\n"
