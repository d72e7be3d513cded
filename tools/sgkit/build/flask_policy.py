"""The FLASK policy for enforcing runs: Xen's own policy plus sgkit's sg_op module.

Xen's tools/flask/policy (in the full source tree, e.g. Debian's 4.17
package; the upstream hypervisor-only tarballs lack it) is compiled the way
its Makefile.common does (m4, then checkpolicy -t Xen), from the *patched*
tree, so the access vectors include patch 0004's class sg_op, with
``xen-hypervisor/flask/sg_op.te`` appended to the modules modules.conf
enables.  The result is the binary policy Xen loads from a boot module
(``flask=enforcing``).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from sgkit.errors import KitError
from sgkit.paths import XEN_HYPERVISOR_DIR

SG_OP_MODULE = XEN_HYPERVISOR_DIR / "flask" / "sg_op.te"
# Makefile.common's POLICY_VER_LIST_HV: the newest checkpolicy can write.
POLICY_VERSIONS = (24, 30)
MLS = ("-D", "mls_num_sens=16", "-D", "mls_num_cats=256")


def enabled_modules(modules_conf: str) -> list[str]:
    """Module names modules.conf turns on (its awk: ``NAME = on``), in order."""
    names = []
    for line in modules_conf.splitlines():
        words = line.split()
        if len(words) >= 3 and line.lstrip()[:1].isalpha() and words[2] == "on":
            names.append(words[0])
    return names


def policy_sections(tree: Path, module: Path = SG_OP_MODULE) -> list[Path]:
    """Makefile.common's POLICY_SECTIONS, in its order, with ``module`` last of the modules."""
    pol = tree / "tools" / "flask" / "policy"
    flask = tree / "xen" / "xsm" / "flask" / "policy"
    if not (pol / "modules" / "modules.conf").is_file():
        raise KitError(
            f"{tree} has no tools/flask/policy",
            "an enforcing FLASK policy needs a full Xen source tree (Xen 4.17's Debian package)",
        )
    mods = pol / "modules"
    te = [mods / f"{name}.te" for name in enabled_modules((mods / "modules.conf").read_text())]
    te.append(module)
    return [
        flask / "security_classes",
        pol / "policy" / "security_classes",
        flask / "initial_sids",
        flask / "access_vectors",
        pol / "policy" / "access_vectors",
        *sorted((pol / "policy" / "support").glob("*.spt")),
        pol / "policy" / "mls",
        *[p.with_suffix(".if") for p in te if p.with_suffix(".if").is_file()],
        pol / "policy" / "global_tunables",
        *te,
        pol / "policy" / "users",
        *[p.with_suffix(".cons") for p in te if p.with_suffix(".cons").is_file()],
        pol / "policy" / "initial_sids",
        pol / "policy" / "device_contexts",
    ]


def _policy_version(checkpolicy: str) -> int:
    out = subprocess.run([checkpolicy, "-V"], capture_output=True, text=True, check=True).stdout
    newest = int(out.split()[0])
    return max([v for v in POLICY_VERSIONS if v <= newest] or [POLICY_VERSIONS[0]])


def build_policy(tree: Path, out: Path, module: Path = SG_OP_MODULE) -> Path:
    """Compile the policy of ``tree`` plus ``module`` to ``out`` (a binary xenpolicy)."""
    tools = {name: shutil.which(name) for name in ("m4", "checkpolicy")}
    missing = [name for name, path in tools.items() if path is None]
    if missing:
        raise KitError(
            f"{' and '.join(missing)} not found: needed for the FLASK policy",
            "run `invoke setup` (it installs checkpolicy and m4)",
        )
    sections = policy_sections(tree, module)
    out.parent.mkdir(parents=True, exist_ok=True)
    conf = out.with_suffix(".conf")
    m4 = subprocess.run(
        [tools["m4"], "-D", "self_contained_policy", "-s", *MLS, *map(str, sections)],
        capture_output=True,
        text=True,
    )
    if m4.returncode:
        raise KitError(f"m4 failed on the FLASK policy: {m4.stderr.strip()[-500:]}")
    conf.write_text(m4.stdout)
    version = _policy_version(str(tools["checkpolicy"]))
    cp = subprocess.run(
        [str(tools["checkpolicy"]), "-t", "Xen", "-c", str(version), str(conf), "-o", str(out)],
        capture_output=True,
        text=True,
    )
    if cp.returncode:
        why = (cp.stderr or cp.stdout).strip()[-800:]
        raise KitError(f"checkpolicy refused the FLASK policy ({conf}): {why}")
    return out
