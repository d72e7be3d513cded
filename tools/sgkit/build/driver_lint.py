"""The kernel's own checks on the driver sources: checkpatch.pl --strict and sparse.

checkpatch.pl is not packaged on its own in Debian: it comes from the
``linux-source-6.1`` package (Debian's kernel source tarball, fetched with
``apt-get download`` like the lab's other packages), and only
``scripts/checkpatch.pl`` and the two data files it reads beside itself
(``spelling.txt``, ``const_structs.checkpatch``) are kept in the cache.  It
runs as upstream reviewers run it on a file: ``--strict --no-tree -f``.

sparse is Debian's package (``invoke setup`` installs it).  It runs through
kbuild (``make C=2 CHECK=sparse``) against the 6.1 headers, on a copy of the
sources in the build cache, like ``driver.build``'s.  Only what it reports
in the driver's own files counts; the kernel headers are not ours to fix.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sgkit import progress
from sgkit.build import debian_packages
from sgkit.build.driver_build import GENERATED_HEADER, source_files
from sgkit.build.kernels import find_headers
from sgkit.build.patch_series import render_file
from sgkit.build.versions import DEFAULT_XEN
from sgkit.errors import KitError
from sgkit.paths import LINUX_DRIVER_DIR, builds_dir, downloads_dir
from sgkit.procs import require, run

SOURCE_PACKAGE = "linux-source-6.1"
CHECKPATCH_FILES = ("checkpatch.pl", "spelling.txt", "const_structs.checkpatch")
# The drivers held to checkpatch --strict and sparse (sgtest is a test module).
LINT_DIRS = ("sgnet", "sghostile")
# CamelCase that is the kernel's, not ours: checkpatch --no-tree cannot know it.
KERNEL_CAMELCASE = re.compile(r"\b(XenbusState\w*|Qdisc)\b")
_CHECKPATCH_LINE = re.compile(r"^(?P<file>[^:\s]+):(?P<line>\d+): (?P<level>[A-Z]+):(?P<type>\w+):")
_SPARSE_LINE = re.compile(
    r"^(?P<file>[^:\s]+):(?P<line>\d+):(?P<col>\d+): (?P<level>warning|error): "
)


@dataclass(frozen=True)
class Finding:
    tool: str  # checkpatch or sparse
    file: str  # relative to linux-driver/
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.tool}: {self.file}:{self.line}: {self.text}"


def lint_sources(root: Path = LINUX_DRIVER_DIR) -> list[Path]:
    """The .c and .h files of the drivers in LINT_DIRS, relative to ``root``."""
    return [f for f in source_files(root) if f.parts[0] in LINT_DIRS and f.suffix in {".c", ".h"}]


def checkpatch_script() -> Path:
    """checkpatch.pl from Debian's kernel source package, extracted once into the cache."""
    deb = debian_packages.download(SOURCE_PACKAGE)
    home = downloads_dir() / "checkpatch" / deb.stem
    script = home / "checkpatch.pl"
    if (home / ".sgkit-complete").is_file():
        return script
    require("dpkg-deb")
    require("tar")
    home.parent.mkdir(parents=True, exist_ok=True)
    inner = f"./usr/src/{SOURCE_PACKAGE}.tar.xz"
    members = " ".join(shlex.quote(f"*/scripts/{name}") for name in CHECKPATCH_FILES)
    with tempfile.TemporaryDirectory(dir=home.parent, prefix=".extract-") as tmp:
        staging = Path(tmp) / "out"
        staging.mkdir()
        pipeline = (
            f"set -o pipefail; dpkg-deb --fsys-tarfile {shlex.quote(str(deb))}"
            f" | tar -xO {shlex.quote(inner)}"
            f" | tar -xJ -C {shlex.quote(str(staging))} --wildcards --strip-components=2 {members}"
        )
        with progress.step(f"extracting checkpatch.pl from {deb.name} (once)"):
            run(["bash", "-c", pipeline], what=f"extracting checkpatch.pl from {deb.name}")
        for name in CHECKPATCH_FILES:
            if not (staging / name).is_file():
                raise KitError(f"{deb.name} has no scripts/{name}", f"remove {deb} and retry")
        (staging / ".sgkit-complete").write_text(deb.name + "\n")
        if home.exists():
            shutil.rmtree(home)
        staging.rename(home)
    return script


def parse_checkpatch(output: str, allow_kernel_camelcase: bool = True) -> list[Finding]:
    """checkpatch --terse --show-types output as findings, less the kernel's own CamelCase."""
    found = []
    for line in output.splitlines():
        m = _CHECKPATCH_LINE.match(line)
        if m is None:
            continue
        if allow_kernel_camelcase and m["type"] == "CAMELCASE" and KERNEL_CAMELCASE.search(line):
            continue
        text = line[m.end() :].strip()
        found.append(Finding("checkpatch", m["file"], int(m["line"]), f"{m['type']}: {text}"))
    return found


def checkpatch(files: list[Path], root: Path = LINUX_DRIVER_DIR) -> list[Finding]:
    """checkpatch.pl --strict on each of ``files`` (relative to ``root``)."""
    require("perl")
    script = checkpatch_script()
    found: list[Finding] = []
    with tempfile.TemporaryDirectory(prefix="sgkit-checkpatch-") as cwd:
        # Outside any git tree: checkpatch would cache the tree's CamelCase there.
        for rel in files:
            proc = run(
                [
                    "perl",
                    script,
                    "--strict",
                    "--no-tree",
                    "--terse",
                    "--show-types",
                    "--no-summary",
                    "--color=never",
                    "-f",
                    str(root / rel),
                ],
                cwd=Path(cwd),
                check=False,
            )
            if proc.returncode not in (0, 1):
                raise KitError(f"checkpatch.pl failed on {rel}: {proc.stderr.strip()[-400:]}")
            for f in parse_checkpatch(proc.stdout):
                found.append(Finding(f.tool, str(rel), f.line, f.text))
    return found


def parse_sparse(log_text: str, src: Path) -> list[Finding]:
    """sparse's warnings and errors in files under ``src`` (kbuild prints absolute paths)."""
    found = []
    prefix = str(src).rstrip("/") + "/"
    for line in log_text.splitlines():
        m = _SPARSE_LINE.match(line)
        if m is None or not m["file"].startswith(prefix):
            continue
        rel = m["file"][len(prefix) :]
        found.append(Finding("sparse", rel, int(m["line"]), line[m.end() :].strip()))
    return list(dict.fromkeys(found))


def sparse(
    root: Path = LINUX_DRIVER_DIR,
    dirs: tuple[str, ...] = LINT_DIRS,
    kernel: str | None = None,
    xen: str = DEFAULT_XEN,
) -> list[Finding]:
    """sparse (make C=2) over the drivers in ``dirs`` of ``root``, against the host's 6.1
    headers; what it reports in their files."""
    require("sparse")
    require("make")
    headers = find_headers(kernel, None)
    workdir = builds_dir() / f"lint-{headers.release}"
    src = workdir / "src"
    if src.exists():
        shutil.rmtree(src)
    files = [f for f in source_files(root) if f.parts[0] in dirs or f.parts[0] == "generated"]
    for rel in files:
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, src / rel)
    (src / GENERATED_HEADER).parent.mkdir(parents=True, exist_ok=True)
    (src / GENERATED_HEADER).write_text(
        render_file("xen/include/public/sg_op.h", xen, target="linux")
    )
    (src / "Kbuild").write_text("".join(f"obj-m += {d}/\n" for d in dirs))
    log = workdir / "logs" / "sparse.log"
    with progress.step(f"sparse on {', '.join(dirs)} against {headers.release}"):
        run(
            [
                "make",
                f"-j{os.cpu_count() or 1}",
                "-C",
                headers.kdir,
                f"M={src}",
                "C=2",
                "CHECK=sparse",
                "modules",
            ],
            what=f"sparse (make C=2) against {headers.kdir}",
            log=log,
            fix=f"read {log}",
        )
    text = log.read_text(errors="replace")
    if "CHECK " not in text:
        raise KitError(f"make ran no sparse check (no CHECK line in {log})", "is sparse installed?")
    return parse_sparse(text, src)


def lint(root: Path = LINUX_DRIVER_DIR) -> list[Finding]:
    """checkpatch --strict and sparse on the drivers; every finding, none when clean."""
    return checkpatch(lint_sources(root), root) + sparse(root)
