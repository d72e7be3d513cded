"""Unit tests for sgkit.build.elf_checks, on real ELF files compiled with gcc from fixtures/elf."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from sgkit.build.elf_checks import (
    check_module,
    check_xen_syms,
    read_build_id,
    read_modinfo,
    read_symvers,
)
from sgkit.errors import KitError

FIXTURES = Path(__file__).parent / "fixtures" / "elf"
DEBIAN_RELEASE = "6.1.0-50-amd64"
DEBIAN_SYMVERS = Path(f"/usr/src/linux-headers-{DEBIAN_RELEASE}/Module.symvers")

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is needed")


def gcc(out: Path, source: str, *flags: str) -> Path:
    subprocess.run(["gcc", *flags, "-o", str(out), str(FIXTURES / source)], check=True)
    return out


def xen_syms(out_dir: Path, source: str, build_id: str = "sha1") -> Path:
    """Link a fixture like xen-syms: static, no libc, GNU build-id."""
    out = out_dir / source.replace(".c", ".syms")
    flags = ["-O0", "-fno-pie", "-no-pie", "-nostdlib", f"-Wl,--build-id={build_id}"]
    return gcc(out, source, *flags, "-Wl,-e,pv_hypercall")


@pytest.fixture(scope="module")
def bins(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("elf")
    return {
        "wired": xen_syms(d, "xen_wired.c"),
        "no_handler": xen_syms(d, "xen_no_handler.c"),
        "hvm_unwired": xen_syms(d, "xen_hvm_unwired.c"),
        "no_build_id": gcc(
            d / "no_build_id", "xen_wired.c", "-nostdlib", "-no-pie", "-fno-pie",
            "-Wl,--build-id=none", "-Wl,-e,pv_hypercall",
        ),
        "ko": gcc(
            d / "sgtest.ko", "module.c", "-c", "-O0", "-fno-pie", "-fno-stack-protector"
        ),
    }  # fmt: skip


# --- build id ---------------------------------------------------------------


def test_read_build_id_matches_readelf(bins: dict[str, Path]) -> None:
    build_id = read_build_id(bins["wired"])
    assert len(build_id) == 40  # sha1
    int(build_id, 16)
    readelf = shutil.which("readelf")
    if readelf:
        notes = subprocess.run(
            [readelf, "-n", str(bins["wired"])], capture_output=True, text=True, check=True
        ).stdout
        assert f"Build ID: {build_id}" in notes


def test_read_build_id_rejects_missing_non_elf_and_no_note(
    bins: dict[str, Path], tmp_path: Path
) -> None:
    with pytest.raises(KitError, match=r"cannot read .*nope"):
        read_build_id(tmp_path / "nope")
    text = tmp_path / "xen-syms"
    text.write_text("#!/bin/sh\necho not an ELF\n")
    with pytest.raises(KitError, match=re.escape(f"{text} is not an ELF file")):
        read_build_id(text)
    with pytest.raises(KitError, match="has no GNU build-id"):
        read_build_id(bins["no_build_id"])


# --- xen-syms ---------------------------------------------------------------


def test_wired_xen_syms_passes(bins: dict[str, Path]) -> None:
    result = check_xen_syms(bins["wired"])
    assert result.path == bins["wired"]
    assert result.handler == "do_sg_op"
    assert result.build_id == read_build_id(bins["wired"])
    assert result.handler_addr > 0
    assert set(result.callers) == {"pv_hypercall", "hvm_hypercall"}
    assert all(n >= 1 for n in result.callers.values())


def test_expected_build_id(bins: dict[str, Path]) -> None:
    build_id = read_build_id(bins["wired"])
    assert check_xen_syms(bins["wired"], expected_build_id=build_id.upper()).build_id == build_id
    with pytest.raises(KitError) as err:
        check_xen_syms(bins["wired"], expected_build_id="ab" * 20)
    assert build_id in str(err.value) and "ab" * 20 in str(err.value)


def test_xen_syms_without_handler_is_rejected(bins: dict[str, Path]) -> None:
    with pytest.raises(KitError) as err:
        check_xen_syms(bins["no_handler"])
    assert str(err.value).startswith(
        f"xen-syms {bins['no_handler']} has no do_sg_op: the sg_op patch series is not in"
    )


def test_dispatcher_not_calling_handler_is_rejected(bins: dict[str, Path]) -> None:
    with pytest.raises(KitError) as err:
        check_xen_syms(bins["hvm_unwired"])
    assert str(err.value).startswith(
        f"hvm_hypercall in {bins['hvm_unwired']} never calls do_sg_op: "
        "the hypercall is not wired into the dispatch table"
    )
    # pv_hypercall alone is fine.
    ok = check_xen_syms(bins["hvm_unwired"], dispatchers=("pv_hypercall",))
    assert ok.callers["pv_hypercall"] >= 1


def test_missing_dispatcher_is_rejected(bins: dict[str, Path]) -> None:
    with pytest.raises(KitError, match="has no function compat_hypercall"):
        check_xen_syms(bins["wired"], dispatchers=("compat_hypercall",))


def test_other_handler_name(bins: dict[str, Path]) -> None:
    result = check_xen_syms(bins["no_handler"], handler="do_xen_version")
    assert result.callers == {"pv_hypercall": 1, "hvm_hypercall": 1}


def test_non_elf_xen_syms_is_rejected(tmp_path: Path) -> None:
    junk = tmp_path / "xen-syms"
    junk.write_bytes(b"\x7fELG" + bytes(100))
    with pytest.raises(KitError, match="is not an ELF file"):
        check_xen_syms(junk)


def test_stripped_xen_syms_is_rejected(bins: dict[str, Path], tmp_path: Path) -> None:
    strip = shutil.which("strip")
    if strip is None:
        pytest.skip("strip (binutils) is not installed")
    stripped = tmp_path / "xen-syms"
    subprocess.run([strip, "-o", str(stripped), str(bins["wired"])], check=True)
    with pytest.raises(KitError, match=r"has no \.symtab"):
        check_xen_syms(stripped)


# --- kernel modules -------------------------------------------------------


def write_symvers(path: Path, symbols: dict[str, int]) -> Path:
    path.write_text(
        "".join(f"{crc:#010x}\t{s}\tvmlinux\tEXPORT_SYMBOL\t\n" for s, crc in symbols.items())
    )
    return path


GOOD_SYMVERS = {
    "module_layout": 0xBCE1A965,
    "_printk": 0x92997ED8,
    "some_unexported_symbol": 0x12345678,
}


def test_read_modinfo(bins: dict[str, Path]) -> None:
    info = read_modinfo(bins["ko"])
    assert info["vermagic"] == ["6.1.0-47-amd64 SMP preempt mod_unload modversions "]
    assert info["name"] == ["sgtest"]
    assert info["license"] == ["GPL"]


def test_read_symvers(tmp_path: Path) -> None:
    symvers = tmp_path / "Module.symvers"
    symvers.write_text(
        "0x92997ed8\t_printk\tvmlinux\tEXPORT_SYMBOL\t\n"
        "0x84b45156\tinsert_resource_expand_to_fit\tvmlinux\tEXPORT_SYMBOL_GPL\tCXL\n"
    )
    assert read_symvers(symvers) == {"_printk", "insert_resource_expand_to_fit"}
    with pytest.raises(KitError, match=r"cannot read Module\.symvers"):
        read_symvers(tmp_path / "missing")
    symvers.write_text("garbage\n")
    with pytest.raises(KitError, match=r"Module.symvers:1 is not a Module.symvers line"):
        read_symvers(symvers)


def test_matching_module_passes(bins: dict[str, Path], tmp_path: Path) -> None:
    symvers = write_symvers(tmp_path / "Module.symvers", GOOD_SYMVERS)
    result = check_module(bins["ko"], "6.1.0-47-amd64", symvers)
    assert result.name == "sgtest"
    assert result.vermagic.split()[0] == result.kernel_release == "6.1.0-47-amd64"
    assert result.undefined == ("_printk", "some_unexported_symbol")
    assert result.versions == ("_printk", "module_layout")


def test_module_for_other_kernel_is_rejected(bins: dict[str, Path], tmp_path: Path) -> None:
    symvers = write_symvers(tmp_path / "Module.symvers", GOOD_SYMVERS)
    with pytest.raises(KitError) as err:
        check_module(bins["ko"], "6.1.0-50-amd64", symvers)
    assert str(err.value) == (
        f"{bins['ko']} was built for 6.1.0-47-amd64, not 6.1.0-50-amd64\n"
        "  fix: rebuild with invoke driver.build --kernel 6.1.0-50-amd64"
    )


def test_unexported_symbol_is_rejected(bins: dict[str, Path], tmp_path: Path) -> None:
    exports = {k: v for k, v in GOOD_SYMVERS.items() if k != "some_unexported_symbol"}
    symvers = write_symvers(tmp_path / "Module.symvers", exports)
    with pytest.raises(KitError) as err:
        check_module(bins["ko"], "6.1.0-47-amd64", symvers)
    message = str(err.value)
    assert str(bins["ko"]) in message
    assert "does not export" in message and "some_unexported_symbol" in message
    assert "_printk" not in message.split("export")[-1]


def test_modversions_crc_mismatch_is_rejected(bins: dict[str, Path], tmp_path: Path) -> None:
    symvers = write_symvers(tmp_path / "Module.symvers", {**GOOD_SYMVERS, "_printk": 0xDEADBEEF})
    with pytest.raises(KitError) as err:
        check_module(bins["ko"], "6.1.0-47-amd64", symvers)
    message = str(err.value)
    assert "modversions CRCs that do not match" in message
    assert "_printk (module 0x92997ed8, kernel 0xdeadbeef)" in message
    assert "module_layout" not in message


def test_missing_symvers_and_module(bins: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(KitError) as err:
        check_module(bins["ko"], "6.1.0-47-amd64", tmp_path / "Module.symvers")
    assert str(tmp_path / "Module.symvers") in str(err.value)
    assert "install linux-headers-6.1.0-47-amd64 / run invoke setup" in str(err.value)
    with pytest.raises(KitError, match=r"cannot read .*absent\.ko"):
        check_module(tmp_path / "absent.ko", "6.1.0-47-amd64", tmp_path / "Module.symvers")


def test_object_without_modinfo_is_rejected(bins: dict[str, Path], tmp_path: Path) -> None:
    symvers = write_symvers(tmp_path / "Module.symvers", GOOD_SYMVERS)
    with pytest.raises(KitError, match=r"has no \.modinfo section"):
        check_module(bins["wired"], "6.1.0-47-amd64", symvers)


@pytest.mark.skipif(not DEBIAN_SYMVERS.is_file(), reason=f"{DEBIAN_SYMVERS} is not installed")
def test_real_debian_symvers_exports_what_the_driver_needs() -> None:
    exported = read_symvers(DEBIAN_SYMVERS)
    assert {"printk", "_printk"} & exported
    assert {"__SCT__xen_hypercall", "xen_start_info"} & exported
    assert "module_layout" in exported
