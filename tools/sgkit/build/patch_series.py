"""Render the patch series in patches/ for one Xen version.

A patch template is a mail: a ``Subject:`` line, a description, a line of
``---``, then a unified diff.  Hunk headers in templates carry only start
lines (``@@ -113 +113 @@``); the renderer counts the lines and writes full
headers, so templates never carry line counts by hand.  ``new_file("path")``
turns ``patches/files/<path>`` (rendered when it is ``<path>.j2``) into a diff that
creates the file.

Rendering is deterministic: the same templates and context give the same
bytes, and the series digest names them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from sgkit.build.versions import load_context, series_of
from sgkit.errors import KitError
from sgkit.paths import PATCHES_DIR

HUNK_RE = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@(.*)$")


@dataclass(frozen=True)
class FileStat:
    path: str
    added: int
    removed: int


@dataclass(frozen=True)
class RenderedPatch:
    number: int
    name: str  # e.g. 0002-xen-public-add-the-sg_op-hypercall-interface.patch
    subject: str
    description: str
    diff: str

    def stats(self) -> list[FileStat]:
        return diff_stats(self.diff)

    def text(self, author: str) -> str:
        """The patch as a mail (From, Subject, description, Signed-off-by, diffstat, diff)."""
        return (
            f"From: {author}\n"
            f"Subject: {self.subject}\n\n"
            f"{self.description}\n\n"
            f"Signed-off-by: {author}\n"
            f"---\n"
            f"{format_diffstat(self.stats())}\n"
            f"{self.diff}"
        )


@dataclass(frozen=True)
class RenderedSeries:
    xen: str  # the series, e.g. "4.17"
    author: str
    patches: tuple[RenderedPatch, ...]

    @property
    def digest(self) -> str:
        """sha256 over every rendered patch: names the series in build manifests."""
        h = hashlib.sha256()
        for p in self.patches:
            h.update(p.name.encode() + b"\0" + p.text(self.author).encode() + b"\0")
        return h.hexdigest()

    def write(self, out_dir: Path) -> list[Path]:
        """Write NNNN-*.patch files and a quilt-style ``series`` file; returns the patches."""
        out_dir.mkdir(parents=True, exist_ok=True)
        for stale in out_dir.glob("[0-9][0-9][0-9][0-9]-*.patch"):
            stale.unlink()
        paths = []
        for p in self.patches:
            path = out_dir / p.name
            path.write_text(p.text(self.author))
            paths.append(path)
        (out_dir / "series").write_text("".join(f"{p.name}\n" for p in self.patches))
        return paths


def read_series_file(patches_dir: Path = PATCHES_DIR) -> list[str]:
    series = patches_dir / "series"
    names = []
    for raw in series.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            names.append(line)
    if not names:
        raise KitError(f"{series} lists no patches", "add template names to it")
    return names


def render_series(
    xen: str, patches_dir: Path = PATCHES_DIR, context: dict[str, Any] | None = None
) -> RenderedSeries:
    """Render every template named in patches/series for Xen version ``xen``."""
    context = context or load_context(xen, patches_dir)
    env = _environment(patches_dir, context)
    patches = []
    for number, template_name in enumerate(read_series_file(patches_dir), start=1):
        if not template_name.endswith(".patch.j2"):
            raise KitError(
                f"patches/series entry {template_name!r} is not a .patch.j2 template",
                "name templates NNNN-subject.patch.j2",
            )
        try:
            template = env.get_template(f"templates/{template_name}")
            text = template.render(**context)
        except jinja2.TemplateNotFound as e:
            raise KitError(
                f"patches/series names {template_name}, but {e.name} does not exist",
                "add the template or remove it from patches/series",
            ) from None
        except jinja2.UndefinedError as e:
            raise KitError(
                f"rendering {template_name} for Xen {series_of(xen)}: {e.message}",
                f"define it in patches/contexts/{series_of(xen)}.toml or patches/sgkit.toml",
            ) from None
        subject, description, diff = _split_mail(template_name, text)
        patches.append(
            RenderedPatch(
                number=number,
                name=template_name.removesuffix(".j2"),
                subject=subject,
                description=description,
                diff=normalize_diff(diff, template_name),
            )
        )
    return RenderedSeries(xen=series_of(xen), author=context["author"], patches=tuple(patches))


def _environment(patches_dir: Path, context: dict[str, Any]) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(patches_dir)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )

    def as_context(lines: list[str]) -> str:
        return "\n".join(" " + line for line in lines)

    def table_row(name: str, *callers: str) -> str:
        # hypercall-defs.c aligns the name in 35 columns and each caller in 9.
        row = f"{name:<35}" + "".join(f"{c:<9}" for c in callers)
        return row.rstrip()

    def new_file(path: str, **extra: Any) -> str:
        body = _file_body(patches_dir, env, path, {**context, "target": "xen", **extra})
        lines = body.splitlines()
        added = "\n".join("+" + line for line in lines)
        return f"--- /dev/null\n+++ b/{path}\n@@ -0,0 +1,{len(lines)} @@\n{added}"

    env.filters["context"] = as_context
    env.globals["new_file"] = new_file
    env.globals["table_row"] = table_row
    return env


def render_file(
    path: str,
    xen: str,
    target: str,
    patches_dir: Path = PATCHES_DIR,
    context: dict[str, Any] | None = None,
) -> str:
    """Render one file under patches/files/ (e.g. the public header for Linux)."""
    context = context or load_context(xen, patches_dir)
    env = _environment(patches_dir, context)
    return _file_body(patches_dir, env, path, {**context, "target": target})


def _file_body(
    patches_dir: Path, env: jinja2.Environment, path: str, context: dict[str, Any]
) -> str:
    """files/PATH.j2 rendered, or files/PATH as it is: only templated files carry .j2."""
    template = patches_dir / "files" / f"{path}.j2"
    plain = patches_dir / "files" / path
    if template.is_file():
        return env.get_template(f"files/{path}.j2").render(**context)
    if plain.is_file():
        return plain.read_text()
    raise KitError(
        f"new_file({path!r}): neither {plain} nor {template} exists",
        "add the file under patches/files/ (with .j2 only if it uses Jinja)",
    )


def _split_mail(name: str, text: str) -> tuple[str, str, str]:
    head, sep, diff = text.partition("\n---\n")
    if not sep:
        raise KitError(
            f"template {name} has no '---' line between description and diff",
            "write Subject:, a description, a line of ---, then the diff",
        )
    lines = head.strip("\n").splitlines()
    if not lines or not lines[0].startswith("Subject: "):
        raise KitError(f"template {name} must start with a Subject: line")
    subject = lines[0].removeprefix("Subject: ").strip()
    description = "\n".join(lines[1:]).strip("\n")
    return subject, description, diff


def normalize_diff(diff: str, name: str = "<diff>") -> str:
    """Give every hunk its line counts and each file a ``diff --git`` header.

    New start lines are recomputed from the old ones and the size of the
    earlier hunks in the same file, so templates only state where a hunk
    begins in the pristine file.
    """
    lines = diff.strip("\n").splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("--- "):
            if i + 1 >= len(lines) or not lines[i + 1].startswith("+++ "):
                raise KitError(f"{name}: '--- ' line {i + 1} is not followed by '+++ '")
            old, new = line[4:].strip(), lines[i + 1][4:].strip()
            path = new.removeprefix("b/") if new != "/dev/null" else old.removeprefix("a/")
            out.append(f"diff --git a/{path} b/{path}")
            if old == "/dev/null":
                out.append("new file mode 100644")
            elif new == "/dev/null":
                out.append("deleted file mode 100644")
            out += [line, lines[i + 1]]
            i += 2
            delta = 0
            while i < len(lines) and lines[i].startswith("@@"):
                m = HUNK_RE.match(lines[i])
                if not m:
                    raise KitError(f"{name}: malformed hunk header {lines[i]!r}")
                old_start, rest = int(m.group(1)), m.group(3)
                j = i + 1
                body = []
                while j < len(lines) and not lines[j].startswith(("@@", "--- ", "diff ")):
                    body.append(lines[j] if lines[j] else " ")
                    j += 1
                bad = [b for b in body if b[0] not in " +-\\"]
                if bad:
                    raise KitError(f"{name}: hunk at line {old_start} has a bad line {bad[0]!r}")
                _check_symmetric(name, old_start, body)
                n_old = sum(1 for b in body if b[0] in " -")
                n_new = sum(1 for b in body if b[0] in " +")
                new_start = 0 if n_new == 0 else old_start + delta
                if n_old == 0:
                    old_start = 0
                    new_start = 1
                out.append(f"@@ -{_range(old_start, n_old)} +{_range(new_start, n_new)} @@{rest}")
                out += body
                delta += n_new - n_old
                i = j
            continue
        if line.strip():
            raise KitError(f"{name}: unexpected line outside a file diff: {line!r}")
        i += 1
    return "\n".join(out) + "\n"


def _check_symmetric(name: str, start: int, body: list[str]) -> None:
    """GNU patch anchors a hunk with uneven context to the start or end of a file."""
    if start <= 1 or all(b[0] == "+" for b in body):
        return
    lead = next((k for k, b in enumerate(body) if b[0] != " "), len(body))
    trail = next((k for k, b in enumerate(reversed(body)) if b[0] != " "), len(body))
    if lead != trail:
        raise KitError(
            f"{name}: the hunk at line {start} has {lead} lines of context before "
            f"the change and {trail} after",
            "give it the same number on both sides (three, as diff -u does)",
        )


def _range(start: int, count: int) -> str:
    return str(start) if count == 1 else f"{start},{count}"


def diff_stats(diff: str) -> list[FileStat]:
    stats: list[FileStat] = []
    path, added, removed = None, 0, 0
    for line in diff.splitlines():
        if line.startswith("diff --git "):
            if path is not None:
                stats.append(FileStat(path, added, removed))
            path, added, removed = line.split(" b/", 1)[1], 0, 0
        elif line.startswith(("+++ ", "--- ")):
            continue
        elif line.startswith("+"):
            added += 1
        elif line.startswith("-"):
            removed += 1
    if path is not None:
        stats.append(FileStat(path, added, removed))
    return stats


def format_diffstat(stats: list[FileStat], width: int = 72) -> str:
    """A diffstat in the shape ``git format-patch`` writes."""
    if not stats:
        return ""
    name_w = max(len(s.path) for s in stats)
    most = max(s.added + s.removed for s in stats)
    num_w = len(str(most))
    bar_w = max(10, width - name_w - num_w - 5)
    lines = []
    for s in stats:
        total = s.added + s.removed
        scale = min(1.0, bar_w / most) if most else 1.0
        plus, minus = round(s.added * scale), round(s.removed * scale)
        if s.added and not plus:
            plus = 1
        if s.removed and not minus:
            minus = 1
        lines.append(f" {s.path:<{name_w}} | {total:>{num_w}} {'+' * plus}{'-' * minus}")
    files = len(stats)
    ins = sum(s.added for s in stats)
    dels = sum(s.removed for s in stats)
    summary = f" {files} file{'s' if files != 1 else ''} changed"
    if ins:
        summary += f", {ins} insertion{'s' if ins != 1 else ''}(+)"
    if dels:
        summary += f", {dels} deletion{'s' if dels != 1 else ''}(-)"
    return "\n".join([*lines, summary]) + "\n"
