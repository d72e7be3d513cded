"""Checks on build artifacts, read straight from their ELF files with pyelftools.

Two kinds of artifact are checked:

* ``xen-syms`` (the unstripped hypervisor): it must define the ``do_sg_op`` handler and
  the hypercall dispatchers (``pv_hypercall``, ``hvm_hypercall``) must call it. In
  Xen 4.17 the dispatch ``switch`` is inlined into those two functions, so a wired-in
  hypercall shows up as a direct ``call``/``jmp`` to the handler inside their code.
* Linux kernel modules (``.ko``): they must be built for the running kernel
  (``vermagic``) and only use symbols that kernel exports (``Module.symvers``), with
  matching CRCs when the module was built with modversions (``__versions``).

Every failed check raises :class:`KitError` naming the file and what is wrong.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import NoteSection, Symbol, SymbolTableSection

from sgkit.errors import KitError

# ---------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------


def _open_elf(path: Path, fix: str) -> ELFFile:
    """Parse ``path`` as ELF; ``fix`` tells the user how to get a good file."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise KitError(f"cannot read {path}: {e.strerror or e}", fix) from e
    try:
        # Parse from memory so no file handle has to outlive this call.
        elf = ELFFile(io.BytesIO(data))
        # pyelftools parses lazily: read every header now, so that a truncated or
        # damaged file fails here, with its name, rather than deep inside a check.
        for section in elf.iter_sections():
            section.data()
        list(elf.iter_segments())
    except (ELFError, ValueError, struct.error) as e:
        raise KitError(f"{path} is not an ELF file or is damaged ({e})", fix) from e
    return elf


def _symtab(elf: ELFFile, path: Path, fix: str) -> SymbolTableSection:
    symtab = elf.get_section_by_name(".symtab")
    if not isinstance(symtab, SymbolTableSection):
        raise KitError(f"{path} has no .symtab: it was stripped", fix)
    return symtab


def _build_id(elf: ELFFile) -> str | None:
    """Hex GNU build-id from the note sections, or from PT_NOTE segments if stripped."""
    notes = [s for s in elf.iter_sections() if isinstance(s, NoteSection)]
    if not notes:
        notes = [seg for seg in elf.iter_segments() if seg["p_type"] == "PT_NOTE"]
    for holder in notes:
        for note in holder.iter_notes():
            if note["n_type"] == "NT_GNU_BUILD_ID" and note["n_name"] == "GNU":
                return str(note["n_desc"])
    return None


def read_build_id(path: Path) -> str:
    """The GNU build-id (``NT_GNU_BUILD_ID`` note) of an ELF file, as lowercase hex."""
    elf = _open_elf(path, "rebuild the artifact")
    build_id = _build_id(elf)
    if build_id is None:
        raise KitError(
            f"{path} has no GNU build-id note (.note.gnu.build-id)",
            "link it with -Wl,--build-id=sha1 (Xen does this by default)",
        )
    return build_id


# ---------------------------------------------------------------------------
# xen-syms
# ---------------------------------------------------------------------------

_XEN_FIX = "rebuild Xen with the sg_op patches applied: invoke xen.build"


@dataclass(frozen=True)
class XenSymsCheck:
    path: Path
    build_id: str
    handler: str
    handler_addr: int
    callers: dict[str, int]  # dispatcher name -> call/jmp sites to the handler in it


def _branch_targets(code: bytes, start: int) -> Iterator[int]:
    """Targets of every rel32 ``call``/``jmp``/``jcc`` that *could* start in ``code``.

    We do not disassemble: every byte offset is tried as an opcode. A stray E8/E9/0F8x
    byte inside another instruction yields a garbage target, but callers only compare
    targets against one exact address, so such false positives are negligible.
    ``start`` is the virtual address of ``code[0]``; rel32 is relative to the next insn.
    Short (rel8) jumps are ignored: the handler lives in another object file than the
    dispatchers, and the assembler always emits rel32 for calls it cannot resolve.
    """
    for i, op in enumerate(code):
        if op in (0xE8, 0xE9) and i + 5 <= len(code):  # call rel32 / jmp rel32
            (rel,) = struct.unpack_from("<i", code, i + 1)
            yield start + i + 5 + rel
        elif op == 0x0F and i + 6 <= len(code) and 0x80 <= code[i + 1] <= 0x8F:  # jcc rel32
            (rel,) = struct.unpack_from("<i", code, i + 2)
            yield start + i + 6 + rel


def _function_bytes(elf: ELFFile, sym: Symbol) -> bytes:
    """The code of a FUNC symbol, found via the section whose addresses contain it."""
    addr, size = sym["st_value"], sym["st_size"]
    for section in elf.iter_sections():
        lo = section["sh_addr"]
        if (
            section["sh_flags"] & SH_FLAGS.SHF_ALLOC
            and section["sh_type"] != "SHT_NOBITS"
            and lo <= addr
            and addr + size <= lo + section["sh_size"]
        ):
            return section.data()[addr - lo : addr - lo + size]
    return b""


def check_xen_syms(
    path: Path,
    handler: str = "do_sg_op",
    dispatchers: tuple[str, ...] = ("pv_hypercall", "hvm_hypercall"),
    expected_build_id: str | None = None,
) -> XenSymsCheck:
    """Check that ``xen-syms`` defines ``handler`` and every dispatcher calls it."""
    elf = _open_elf(path, _XEN_FIX)
    build_id = _build_id(elf)
    if build_id is None:
        raise KitError(f"xen-syms {path} has no GNU build-id note", _XEN_FIX)
    if expected_build_id is not None and build_id != expected_build_id.lower():
        raise KitError(
            f"xen-syms {path} has build-id {build_id}, expected {expected_build_id}: "
            "it is not the hypervisor that was built/booted",
            "use the xen-syms from the same build as the booted xen.gz, or rebuild both",
        )

    functions: dict[str, list[Symbol]] = {}
    for sym in _symtab(elf, path, _XEN_FIX).iter_symbols():
        if sym["st_info"]["type"] == "STT_FUNC" and sym["st_shndx"] != "SHN_UNDEF":
            functions.setdefault(sym.name, []).append(sym)

    if handler not in functions:
        raise KitError(
            f"xen-syms {path} has no {handler}: the sg_op patch series is not in this build",
            _XEN_FIX,
        )
    handler_addr = functions[handler][0]["st_value"]
    # GCC may call a clone instead (do_sg_op.isra.0, .constprop.0, .part.0); those count.
    handler_addrs = {
        s["st_value"]
        for name, syms in functions.items()
        if name == handler or (name.startswith(handler + ".") and ".cold" not in name)
        for s in syms
    }

    callers: dict[str, int] = {}
    for dispatcher in dispatchers:
        syms = [s for s in functions.get(dispatcher, []) if s["st_size"] > 0]
        if not syms:
            raise KitError(
                f"xen-syms {path} has no function {dispatcher} (with a size) "
                "to check the hypercall dispatch in",
                "check that this is an x86 xen-syms from Xen 4.17",
            )
        callers[dispatcher] = sum(
            target in handler_addrs
            for s in syms
            for target in _branch_targets(_function_bytes(elf, s), s["st_value"])
        )
        if callers[dispatcher] == 0:
            raise KitError(
                f"{dispatcher} in {path} never calls {handler}: "
                "the hypercall is not wired into the dispatch table",
                "check the sg_op patch adds it to xen/include/hypercall-defs.c, then "
                "rebuild: invoke xen.build",
            )

    return XenSymsCheck(path, build_id, handler, handler_addr, callers)


# ---------------------------------------------------------------------------
# Kernel modules
# ---------------------------------------------------------------------------

_MODVERSION_RECORD = 64  # struct modversion_info: u64 crc + char name[56]


@dataclass(frozen=True)
class ModuleCheck:
    path: Path
    name: str
    vermagic: str
    kernel_release: str
    undefined: tuple[str, ...]
    versions: tuple[str, ...] = ()  # symbols with a CRC in __versions (modversions)


def _section_data(elf: ELFFile, name: str) -> bytes | None:
    section = elf.get_section_by_name(name)
    return None if section is None else section.data()


def _parse_modinfo(ko: Path, elf: ELFFile) -> dict[str, list[str]]:
    data = _section_data(elf, ".modinfo")
    if data is None:
        raise KitError(
            f"{ko} has no .modinfo section: it is not a kernel module",
            "build it with kbuild: invoke driver.build",
        )
    info: dict[str, list[str]] = {}
    for entry in data.split(b"\0"):
        key, sep, value = entry.decode("utf-8", "replace").partition("=")
        if sep:
            info.setdefault(key, []).append(value)
    return info


def read_modinfo(ko: Path) -> dict[str, list[str]]:
    """The ``key=value`` entries of a module's ``.modinfo`` (a key may repeat)."""
    return _parse_modinfo(ko, _open_elf(ko, "rebuild the module: invoke driver.build"))


def _read_symvers_crcs(path: Path) -> dict[str, int]:
    """Symbol -> CRC from Module.symvers (CRC, symbol, module, export type, namespace)."""
    try:
        text = path.read_text()
    except OSError as e:
        raise KitError(
            f"cannot read Module.symvers {path}: {e.strerror or e}",
            "install the matching linux-headers-<release> package: invoke setup",
        ) from e
    crcs: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        try:
            crcs[fields[1]] = int(fields[0], 16)
        except (IndexError, ValueError) as e:
            raise KitError(
                f"{path}:{lineno} is not a Module.symvers line: {line!r}",
                "reinstall the linux-headers package: invoke setup",
            ) from e
    return crcs


def read_symvers(path: Path) -> set[str]:
    """Names of the symbols a kernel exports, from its ``Module.symvers``."""
    return set(_read_symvers_crcs(path))


def _read_versions(ko: Path, elf: ELFFile) -> dict[str, int]:
    """Symbol -> CRC from a module's ``__versions`` section (empty without modversions)."""
    data = _section_data(elf, "__versions") or b""
    if len(data) % _MODVERSION_RECORD:
        raise KitError(
            f"{ko}: __versions is {len(data)} bytes, not a multiple of {_MODVERSION_RECORD}",
            "rebuild the module: invoke driver.build",
        )
    versions: dict[str, int] = {}
    for crc, raw_name in struct.iter_unpack("<Q56s", data):
        versions[raw_name.split(b"\0", 1)[0].decode(errors="replace")] = crc
    return versions


def check_module(
    ko: Path, kernel_release: str, symvers: Path, own_symvers: Path | None = None
) -> ModuleCheck:
    """Check a ``.ko`` was built for ``kernel_release`` and links against its exports, or
    those of the modules built with it (``own_symvers``: kbuild's Module.symvers of their
    tree; sgnet-front and sgnet-back use sgnet's)."""
    rebuild = f"rebuild with invoke driver.build --kernel {kernel_release}"
    elf = _open_elf(ko, rebuild)
    info = _parse_modinfo(ko, elf)
    name = (info.get("name") or [ko.stem])[0]

    vermagic = (info.get("vermagic") or [""])[0]
    if not vermagic.strip():
        raise KitError(f"{ko} has no vermagic in .modinfo", rebuild)
    built_for = vermagic.split()[0]
    if built_for != kernel_release:
        raise KitError(f"{ko} was built for {built_for}, not {kernel_release}", rebuild)

    if not symvers.is_file():
        raise KitError(
            f"Module.symvers for {kernel_release} not found at {symvers}",
            f"install linux-headers-{kernel_release} / run invoke setup",
        )
    exported = _read_symvers_crcs(symvers)
    if own_symvers is not None:
        exported.update(_read_symvers_crcs(own_symvers))

    defined: set[str] = set()
    needed: set[str] = set()
    for sym in _symtab(elf, ko, rebuild).iter_symbols():
        if sym.name:
            (needed if sym["st_shndx"] == "SHN_UNDEF" else defined).add(sym.name)
    undefined = tuple(sorted(needed - defined))

    versions = _read_versions(ko, elf)
    missing = sorted({s for s in (*undefined, *versions) if s not in exported})
    if missing:
        raise KitError(
            f"{ko} uses symbols that kernel {kernel_release} does not export "
            f"(not in {symvers}): {', '.join(missing)}",
            f"{rebuild}; if it still fails the module needs a symbol this kernel lacks",
        )
    stale = sorted(s for s, crc in versions.items() if crc != exported[s])
    if stale:
        details = ", ".join(
            f"{s} (module {versions[s]:#010x}, kernel {exported[s]:#010x})" for s in stale
        )
        raise KitError(
            f"{ko} has modversions CRCs that do not match {symvers}: {details}",
            rebuild,
        )

    return ModuleCheck(ko, name, vermagic, kernel_release, undefined, tuple(sorted(versions)))
