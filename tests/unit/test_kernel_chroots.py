"""Kernels of other Debian suites: naming, package closure, cache keys, the chroot command."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from sgkit.build import debian_suites, kernel_chroots, prerequisites
from sgkit.build.debian_suites import SuiteIndex, memo, parse_depends, parse_stanza
from sgkit.build.driver_build import headers_for, make_warnings
from sgkit.build.kernel_chroots import (
    abi_of,
    chroot_argv,
    host_has_headers,
    is_foreign,
    kernel_packages,
    resolve,
    suite_of_release,
)
from sgkit.errors import KitError

# Control fields as trixie's index gives them (apt-cache show, trimmed).
TRIXIE = {
    "linux-headers-6.12.117+deb13-amd64": """Package: linux-headers-6.12.117+deb13-amd64
Version: 6.12.117-1
Depends: linux-base (>= 4.12~), linux-headers-6.12.117+deb13-common (= 6.12.117-1),
 linux-image-6.12.117+deb13-amd64 (= 6.12.117-1) | linux-image-6.12.117+deb13-amd64-unsigned
 (= 6.12.117-1), linux-kbuild-6.12.117+deb13, gcc-14
Description: Header files for Linux 6.12.117+deb13-amd64
""",
    "linux-headers-6.12.117+deb13-common": """Package: linux-headers-6.12.117+deb13-common
Version: 6.12.117-1
""",
    "linux-kbuild-6.12.117+deb13": """Package: linux-kbuild-6.12.117+deb13
Version: 6.12.117-1
Depends: libc6 (>= 2.38), libelf1t64 (>= 0.144), libssl3t64 (>= 3.0.0), zlib1g, pahole
""",
}


def _lookup(stanzas):
    return lambda name: parse_stanza(stanzas[name]) if name in stanzas else None


def test_release_names_say_their_suite():
    assert abi_of("6.12.117+deb13-amd64") == ("6.12.117+deb13", "amd64")
    assert abi_of("6.12.115+deb13.1-cloud-amd64") == ("6.12.115+deb13.1", "cloud-amd64")
    assert abi_of("6.1.0-50-amd64") is None
    assert suite_of_release("6.12.117+deb13-amd64") == "trixie"
    assert suite_of_release("7.2.13+deb14-amd64") == "sid"
    assert suite_of_release("6.1.0-50-amd64") is None
    assert suite_of_release("9.9.9+deb99-amd64") is None


def test_foreign_kernels_are_suites_series_and_tagged_releases():
    assert all(is_foreign(k) for k in ("trixie", "sid", "6.12", "6.12.117+deb13-amd64"))
    assert not any(is_foreign(k) for k in ("6.1.0-50-amd64", "bookworm-ish", "6"))


def test_parse_stanza_joins_continuation_lines_and_depends_keeps_alternatives():
    fields = parse_stanza(TRIXIE["linux-headers-6.12.117+deb13-amd64"] + "\nPackage: other\n")
    assert fields["Package"] == "linux-headers-6.12.117+deb13-amd64"
    groups = parse_depends(fields["Depends"])
    assert groups[0] == ["linux-base"]
    assert groups[2] == [
        "linux-image-6.12.117+deb13-amd64",
        "linux-image-6.12.117+deb13-amd64-unsigned",
    ]
    assert groups[-1] == ["gcc-14"]
    assert parse_depends("a:any (>= 1) [amd64], b") == [["a"], ["b"]]


def test_kernel_packages_unpack_the_kernel_and_bootstrap_the_toolchain():
    pkgs = kernel_packages("trixie", "6.12.117+deb13-amd64", _lookup(TRIXIE))
    assert pkgs.unpacked == {
        "linux-headers-6.12.117+deb13-amd64": "6.12.117-1",
        "linux-headers-6.12.117+deb13-common": "6.12.117-1",
        "linux-kbuild-6.12.117+deb13": "6.12.117-1",
    }
    # No kernel image, no linux-base: only the compiler, make and kbuild's libraries.
    assert pkgs.toolchain == (
        "gcc-14",
        "libc6",
        "libelf1t64",
        "libssl3t64",
        "make",
        "pahole",
        "zlib1g",
    )


def test_kernel_packages_name_a_missing_package():
    stanzas = dict(TRIXIE)
    del stanzas["linux-kbuild-6.12.117+deb13"]
    with pytest.raises(KitError, match=r"trixie has no package linux-kbuild-6\.12\.117"):
        kernel_packages("trixie", "6.12.117+deb13-amd64", _lookup(stanzas))


def test_root_key_follows_versions_and_mirror():
    pkgs = kernel_packages("trixie", "6.12.117+deb13-amd64", _lookup(TRIXIE))
    key = pkgs.key("http://deb.debian.org/debian")
    assert key == pkgs.key("http://deb.debian.org/debian") and len(key) == 16
    assert key != pkgs.key("http://mirror.example/debian")
    rebuilt = TRIXIE["linux-kbuild-6.12.117+deb13"].replace("6.12.117-1", "6.12.117-2")
    newer = kernel_packages(
        "trixie",
        "6.12.117+deb13-amd64",
        _lookup({**TRIXIE, "linux-kbuild-6.12.117+deb13": rebuilt}),
    )
    assert newer.key("http://deb.debian.org/debian") != key


def test_unknown_releases_name_the_fix(monkeypatch):
    with pytest.raises(KitError, match="cannot tell which Debian suite") as e:
        resolve("6.12.117+deb99-amd64")
    assert "+deb13 (trixie)" in (e.value.fix or "")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    with pytest.raises(KitError, match="cannot tell which Debian suite"):
        headers_for("7.0.1+deb14")  # no flavour: not a release
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(KitError, match="needs root") as e:
        headers_for("6.12")
    assert "--kdir" in (e.value.fix or "")


def test_a_release_the_suite_lacks_lists_the_ones_it_has(monkeypatch, tmp_path):
    index = SuiteIndex("trixie", tmp_path)
    monkeypatch.setattr(kernel_chroots, "suite_index", lambda suite: index)
    monkeypatch.setattr(kernel_chroots, "show", lambda index, name: None)
    monkeypatch.setattr(
        kernel_chroots,
        "package_names",
        lambda index, prefix: [
            "linux-headers-6.12.117+deb13-amd64",
            "linux-headers-6.12.117+deb13-cloud-amd64",
            "linux-headers-6.12.117+deb13-common",
            "linux-headers-amd64",
        ],
    )
    with pytest.raises(KitError, match=r"trixie has no headers for 6\.12\.1\+deb13") as e:
        resolve("6.12.1+deb13-amd64")
    assert e.value.fix == "use one it has: 6.12.117+deb13-amd64; or --kernel trixie for its current"


def test_a_series_no_suite_carries_names_what_they_have(monkeypatch):
    current = {"trixie": "6.12.117+deb13-amd64", "sid": "7.2.13+deb14-amd64"}
    monkeypatch.setattr(kernel_chroots, "_current_release", current.__getitem__)
    assert resolve("6.12") == ("trixie", "6.12.117+deb13-amd64")
    assert resolve("7.2") == ("sid", "7.2.13+deb14-amd64")
    with pytest.raises(KitError, match=r"carries Linux 7\.0 \(trixie has 6\.12\.117"):
        resolve("7.0")


def test_memo_forgets_answers_when_the_index_is_refreshed(tmp_path):
    index = SuiteIndex("sid", tmp_path)
    index.stamp.touch()
    calls = []
    assert memo(index, "x", lambda: calls.append(1) or 7) == 7
    assert memo(index, "x", lambda: calls.append(1) or 8) == 7
    later = time.time() + 10
    os.utime(index.stamp, (later, later))
    assert memo(index, "x", lambda: calls.append(1) or 9) == 9
    assert len(calls) == 2


def test_suite_index_options_keep_the_hosts_apt_out(tmp_path):
    opts = SuiteIndex("trixie", tmp_path).options()
    pairs = dict(o.split("=", 1) for o in opts[1::2])
    assert pairs["Dir::State::Lists"] == str(tmp_path / "lists")
    assert pairs["Dir::Etc::sourceparts"] == "/nonexistent"
    assert pairs["Dir::State::status"] == "/dev/null"
    assert debian_suites.sources_line("sid", "http://m/debian").endswith(
        " http://m/debian sid main\n"
    )


def test_chroot_command_binds_the_workdir_and_mounts_proc_privately():
    argv = chroot_argv(Path("/c/root"), Path("/b/work"), ["make", "-C", "/usr/src/x"])
    assert argv[:5] == ["unshare", "--mount", "--propagation", "private", "--"]
    script = argv[7]
    assert 'mount --bind "$2" "$r/sgkit"' in script and 'mount -t proc proc "$r/proc"' in script
    assert argv[9:] == ["/c/root", "/b/work", "make", "-C", "/usr/src/x"]


def test_host_headers_count_only_on_the_same_debian_version(tmp_path):
    os_release = tmp_path / "os-release"
    os_release.write_text('ID=debian\nVERSION_ID="12"\n')
    assert not host_has_headers("6.12.117+deb13-amd64", os_release)
    assert not host_has_headers("6.1.0-50-amd64", os_release)


def test_make_warnings_collects_compiler_and_modpost_lines():
    log = (
        "  CC [M]  /sgkit/src/sgnet/sgnet.o\n"
        "sgnet/sgnet.c:405:35: warning: unused variable 'x' [-Wunused-variable]\n"
        "WARNING: modpost: missing MODULE_DESCRIPTION() in sgnet/sgnet.o\n"
        "sgnet/sgnet.c:405:35: warning: unused variable 'x' [-Wunused-variable]\n"
        "  LD [M]  /sgkit/src/sgnet/sgnet.ko\n"
    )
    assert make_warnings(log) == [
        "sgnet/sgnet.c:405:35: warning: unused variable 'x' [-Wunused-variable]",
        "WARNING: modpost: missing MODULE_DESCRIPTION() in sgnet/sgnet.o",
    ]
    assert make_warnings("  CC [M]  a.o\n") == []


def test_setup_installs_no_host_headers_for_another_suites_kernel():
    for kernel in ("6.12", "trixie", "7.2.13+deb14-amd64"):
        pkgs = prerequisites.required_packages(kernel)
        assert not [p for p in pkgs if p.startswith("linux-headers-")], kernel
        assert {"debootstrap", "debian-archive-keyring"} <= set(pkgs)
