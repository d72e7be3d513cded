"""Where Xen source comes from: Debian's source package, a release tarball, git, a local tree.

Every provider ends in a *pristine tree* in the cache: extracted once,
verified, never built in and never patched.  Builds work on fresh copies
(see patch_apply).  A pristine tree records its hash in
``.sgkit-source.json``; ``fetch`` re-hashes it on every use, so a tree that
was changed by hand is found out and extracted again.

Source specs, as given to ``--source``:

    (empty)                the version's default ([xen] default_source in its context)
    debian                 Debian's package for the Xen version (patches/contexts)
    debian:VERSION         a given Debian version of the ``xen`` source package
    tarball                the context's release tarball and its pinned sha256
    tarball:URL#sha256=HEX a tarball (http(s)://, file:// or shared:PATH) with its sha256
    git:URL#REF            a git repository at a tag, branch or commit
    local:PATH             a Xen tree on disk (copied, never modified)

``shared:PATH`` names a file under the shared directory beside the project
(``../shared``, or ``$SGKIT_SHARED_DIR``): upstream snapshots the build
machines cannot download are kept there (shared/xen-upstream/README.md).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sgkit import progress
from sgkit.build.trees import file_sha256, hash_tree
from sgkit.build.versions import DEFAULT_XEN, default_source, load_context, tree_version
from sgkit.errors import KitError
from sgkit.paths import downloads_dir, shared_dir, sources_dir
from sgkit.procs import require, run

MARKER = ".sgkit-source.json"


@dataclass(frozen=True)
class Source:
    """A resolved source spec: what to fetch and the cache key that names it."""

    kind: str  # debian | tarball | git | local
    location: str  # package=version, URL, URL#ref, or path
    sha256: str | None = None
    suite: str | None = None

    @property
    def key(self) -> str:
        raw = f"{self.kind}|{self.location}|{self.sha256 or ''}"
        slug = re.sub(r"[^A-Za-z0-9.+-]+", "-", self.location.rsplit("/", 1)[-1])[:48]
        return f"{self.kind}-{slug}-{hashlib.sha256(raw.encode()).hexdigest()[:12]}"


@dataclass(frozen=True)
class PristineTree:
    source: Source
    path: Path
    tree_hash: str
    xen_version: str  # e.g. 4.17.5

    def describe(self) -> dict[str, str]:
        return {
            "kind": self.source.kind,
            "location": self.source.location,
            "path": str(self.path),
            "tree_sha256": self.tree_hash,
            "xen_version": self.xen_version,
        }


def parse_spec(
    spec: str, xen: str = DEFAULT_XEN, context: Mapping[str, Any] | None = None
) -> Source:
    """Turn a ``--source`` spec into a Source, filling defaults from the version context."""
    context = context or load_context(xen)
    if not spec.strip():
        spec = default_source(xen, context)
    kind, _, rest = spec.partition(":")
    if kind not in {"debian", "tarball", "git", "local"}:
        if Path(spec).expanduser().is_dir():
            return Source("local", str(Path(spec).expanduser().resolve()))
        raise KitError(
            f"unknown Xen source {spec!r}",
            "use debian, debian:VERSION, tarball, tarball:URL#sha256=HEX, git:URL#REF "
            "or local:PATH",
        )
    sources = context.get("sources", {})
    if kind == "debian":
        deb = sources.get("debian", {})
        version = rest or deb.get("version")
        if not version:
            raise KitError(f"Xen {xen} has no Debian source package", "give debian:VERSION")
        package = deb.get("package", "xen")
        return Source("debian", f"{package}={version}", suite=deb.get("suite"))
    if kind == "tarball":
        if not rest:
            pinned = sources.get("tarball")
            if not pinned:
                raise KitError(f"Xen {xen} has no pinned tarball", "give tarball:URL#sha256=HEX")
            return Source("tarball", pinned["url"], sha256=pinned["sha256"].lower())
        url, _, frag = rest.partition("#")
        m = re.fullmatch(r"sha256=([0-9a-fA-F]{64})", frag)
        if not m:
            raise KitError(
                f"tarball source {url} has no sha256 pin",
                "append #sha256=<64 hex digits> to the URL: downloads are always verified",
            )
        return Source("tarball", url, sha256=m.group(1).lower())
    if kind == "git":
        if not rest:
            pinned = sources.get("git")
            if not pinned:
                raise KitError(f"Xen {xen} has no default git source", "give git:URL#REF")
            return Source("git", f"{pinned['url']}#{pinned['ref']}")
        url, _, ref = rest.partition("#")
        if not ref:
            raise KitError(f"git source {url} names no ref", "append #TAG, #BRANCH or #COMMIT")
        return Source("git", f"{url}#{ref}")
    path = Path(rest).expanduser()
    if not path.is_dir():
        raise KitError(f"local Xen source {path} is not a directory", "give local:PATH to a tree")
    return Source("local", str(path.resolve()))


def fetch(source: Source) -> PristineTree:
    """Make sure the pristine tree for ``source`` is in the cache and intact; return it."""
    if source.kind == "local":
        return _local_tree(source)
    dest = sources_dir() / source.key
    existing = _load_existing(source, dest)
    if existing is not None:
        return existing
    sources_dir().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=sources_dir(), prefix=".fetch-") as tmp:
        staging = Path(tmp) / "tree"
        if source.kind == "debian":
            _fetch_debian(source, staging)
        elif source.kind == "tarball":
            _fetch_tarball(source, staging)
        else:
            _fetch_git(source, staging)
        version = tree_version(staging)
        tree_hash = hash_tree(staging)
        (staging / MARKER).write_text(
            json.dumps({"source": source.location, "tree_sha256": tree_hash}, indent=2) + "\n"
        )
        if dest.exists():
            shutil.rmtree(dest)
        staging.rename(dest)
    progress.say(f"pristine Xen {version} tree at {dest}")
    return PristineTree(source, dest, tree_hash, version)


def _load_existing(source: Source, dest: Path) -> PristineTree | None:
    marker = dest / MARKER
    if not marker.is_file():
        if dest.exists():
            progress.say(f"{dest} is incomplete; fetching it again")
        return None
    recorded = json.loads(marker.read_text())["tree_sha256"]
    actual = hash_tree(dest)
    if actual != recorded:
        progress.say(f"{dest} was modified since it was extracted; extracting it again")
        return None
    return PristineTree(source, dest, actual, tree_version(dest))


def _local_tree(source: Source) -> PristineTree:
    path = Path(source.location)
    version = tree_version(path)
    return PristineTree(source, path, hash_tree(path), version)


def _fetch_debian(source: Source, staging: Path) -> None:
    package, _, version = source.location.partition("=")
    download = downloads_dir() / "debian" / f"{package}_{version}"
    dsc_name = f"{package}_{_strip_epoch(version)}.dsc"
    if not (download / dsc_name).is_file():
        require("apt-get")
        download.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=download.parent, prefix=".apt-") as tmp:
            with progress.step(f"apt-get source {package}={version}"):
                proc = run(
                    ["apt-get", "source", "--download-only", f"{package}={version}"],
                    cwd=Path(tmp),
                    check=False,
                )
            if proc.returncode != 0:
                raise KitError(
                    f"apt-get could not download the source package {package}={version}:\n"
                    + proc.stderr.strip()[-1500:],
                    "run `invoke setup` (it adds the deb-src entry and runs apt-get update); "
                    "check the version with `apt-cache showsrc xen`",
                )
            if download.exists():
                shutil.rmtree(download)
            Path(tmp).rename(download)
            download.mkdir(exist_ok=True)
    require("dpkg-source")
    # dpkg-source checks every file against the sizes and checksums in the .dsc
    # (which apt verified against the archive's signed Release file).
    run(
        ["dpkg-source", "--no-copy", "-x", download / dsc_name, staging],
        what=f"dpkg-source -x {dsc_name}",
        fix=f"the download in {download} may be damaged: delete it and fetch again",
    )


def _strip_epoch(version: str) -> str:
    return version.split(":", 1)[1] if ":" in version else version


def _fetch_tarball(source: Source, staging: Path) -> None:
    assert source.sha256
    url = source.location
    name = Path(urllib.parse.urlparse(url).path).name or "source.tar"
    if url.startswith("shared:"):
        name = Path(url).name
    dest = downloads_dir() / "tarballs" / f"{source.sha256[:16]}-{name}"
    if not dest.is_file() or file_sha256(dest) != source.sha256:
        download_verified(url, source.sha256, dest)
    with progress.step(f"extracting {dest.name}"):
        _extract_tarball(dest, staging)


def resolve_shared(url: str) -> str:
    """``shared:PATH`` -> the file:// URL of PATH under the shared directory."""
    if not url.startswith("shared:"):
        return url
    rel = url.removeprefix("shared:").lstrip("/")
    path = shared_dir() / rel
    if not path.is_file():
        raise KitError(
            f"{url} is not there: {path} is missing",
            "set SGKIT_SHARED_DIR to the directory holding xen-upstream/ (by default "
            "the kit looks in ../shared beside the project), or give --source "
            "tarball:URL#sha256=HEX / git:URL#REF / local:PATH",
        )
    return path.as_uri()


def download_verified(url: str, sha256: str, dest: Path) -> None:
    """Download url to dest, only if its sha256 matches: nothing else lands in dest."""
    url = resolve_shared(url)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=dest.parent, prefix=".dl-", delete=False) as tmp:
        tmp_path = Path(tmp.name)
        try:
            with progress.step(f"downloading {url}"):
                with urllib.request.urlopen(url, timeout=60) as response:
                    shutil.copyfileobj(response, tmp)
        except (urllib.error.URLError, OSError, ValueError) as e:
            tmp_path.unlink(missing_ok=True)
            reason = getattr(e, "reason", e)
            raise KitError(
                f"cannot download {url}: {reason}",
                "check the URL and the network (or use --source debian / local:PATH)",
            ) from None
    actual = file_sha256(tmp_path)
    if actual != sha256:
        tmp_path.unlink()
        raise KitError(
            f"{url} does not match its pinned sha256:\n  expected {sha256}\n  got      {actual}",
            "the download is corrupt or the pin is wrong; nothing was kept",
        )
    tmp_path.replace(dest)


def _extract_tarball(archive: Path, staging: Path) -> None:
    staging.mkdir(parents=True)
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(staging, filter="data")
    except (tarfile.TarError, OSError, EOFError) as e:
        raise KitError(
            f"{archive} is not a readable tarball: {e}",
            "delete it and fetch again; check the URL names a .tar.* release",
        ) from None
    entries = list(staging.iterdir())
    if len(entries) == 1 and entries[0].is_dir():
        inner = entries[0]
        tmp = staging.with_name(staging.name + ".inner")
        inner.rename(tmp)
        staging.rmdir()
        tmp.rename(staging)


def _fetch_git(source: Source, staging: Path) -> None:
    require("git")
    url, _, ref = source.location.partition("#")
    repo = staging.with_name(staging.name + ".git")
    with progress.step(f"git fetch {url} {ref}"):
        run(["git", "init", "-q", repo], what="git init")
        run(
            ["git", "-C", repo, "fetch", "-q", "--depth", "1", url, ref],
            what=f"git fetch {url} {ref}",
            fix="check the URL and that the ref (tag, branch or commit) exists",
        )
        staging.mkdir()
        run(
            [
                "git",
                "-C",
                repo,
                f"--work-tree={staging}",
                "checkout",
                "-q",
                "FETCH_HEAD",
                "--",
                ".",
            ],
            what="git checkout",
        )
    shutil.rmtree(repo)
