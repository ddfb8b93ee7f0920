"""Which files of a user's folder are copied: source folders (app folders, images) and
model folders (registration).

Rules, the same on every target (the README's "What goes into an app folder or image"):

- Always left out: ``.serving/`` folders and any folder holding a workspace database
  (``workspace.db``), at any depth; from source folders also ``__pycache__/``, ``*.pyc``
  and ``.git``. A source or model folder that is itself a workspace is refused.
- A source folder's ``.amlignore`` (Azure's file, gitignore syntax) is honoured; without
  one, its ``.dockerignore`` (Docker's syntax: patterns are relative to the folder, and a
  ``!`` line can bring back a file inside a left-out folder).
- Symbolic links are followed only inside the folder: a link pointing inside is copied as
  its target (a file's content, a folder's files), never kept as a link; a link pointing
  outside, a broken link and a link loop are refused with a one-line error naming the link
  (relative to the folder) and its target, and so is a link pointing at something the rules
  leave out (into a workspace folder, at a ``.git`` file, at an ignored file), which would
  otherwise be copied all the same. A link that the rules leave out is not looked at.
- Sockets, pipes and devices are refused, naming the file.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pathspec is imported when rules are read: training runs import this
    from pathspec import GitIgnoreSpec

from serving.errors import UserInputError

WORKSPACE_MARKER = ".serving"
"""The folder name of a project's workspace (``serving.workspace.MARKER_DIR`` is this)."""
WORKSPACE_DB = "workspace.db"
"""A workspace's database file (``serving.workspace.DB_NAME`` is this): its folder is a
workspace."""
IGNORE_FILES = (".amlignore", ".dockerignore")
"""Ignore files of a source folder, first found wins."""
SOURCE_LEFT_OUT = ("__pycache__", "*.pyc", ".git")
"""Names always left out of a source folder, besides workspaces."""


def is_workspace(folder: Path) -> bool:
    """Whether ``folder`` is a workspace (named ``.serving`` or holding ``workspace.db``)."""
    return folder.name == WORKSPACE_MARKER or (folder / WORKSPACE_DB).is_file()


@dataclass(frozen=True)
class IgnoreRules:
    """Patterns that leave paths (relative to a folder, '/') out of a copy."""

    file: str | None = None
    """The ignore file they came from (None: no ignore file)."""
    spec: GitIgnoreSpec | None = None
    descend_excluded: bool = False
    """Look inside left-out folders (Docker's syntax, when a ``!`` line could match there)."""

    def excluded(self, rel: str, is_dir: bool) -> bool:
        if self.spec is None:
            return False
        return self.spec.match_file(rel + "/" if is_dir else rel)


def _docker_pattern(line: str) -> str | None:
    """A ``.dockerignore`` line as an anchored gitignore pattern (None: nothing to match)."""
    negate = line.startswith("!")
    body = line[1:].strip() if negate else line
    body = os.path.normpath(body.lstrip("/")).replace(os.sep, "/") if body else ""
    if body in ("", "."):
        return None
    return f"{'!' if negate else ''}/{body}"


def ignore_rules(folder: Path, names: tuple[str, ...] = IGNORE_FILES) -> IgnoreRules:
    """The rules of the first of ``names`` in ``folder`` (default: ``.amlignore``, else
    ``.dockerignore``), else none. ``.amlignore`` and ``.gitignore`` use gitignore syntax,
    ``.dockerignore`` Docker's."""
    from pathspec import GitIgnoreSpec

    for name in names:
        path = folder / name
        if not path.is_file():
            continue
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise UserInputError(f"cannot read {path}: {exc}") from None
        if name in (".amlignore", ".gitignore"):
            return IgnoreRules(name, GitIgnoreSpec.from_lines(lines))
        patterns = [
            p
            for line in lines
            if (text := line.strip()) and not text.startswith("#")
            if (p := _docker_pattern(text)) is not None
        ]
        negations = any(p.startswith("!") for p in patterns)
        return IgnoreRules(name, GitIgnoreSpec.from_lines(patterns), descend_excluded=negations)
    return IgnoreRules()


@dataclass(frozen=True)
class Entry:
    """One thing to copy: ``rel`` ('/'-separated) and the real path it is copied from."""

    rel: str
    path: Path
    is_dir: bool


@dataclass
class _Walk:
    root: Path
    real_root: Path
    what: str
    rules: IgnoreRules
    left_out: tuple[str, ...]
    leave_out: str | None
    """How to leave a refused path out instead (None: it cannot be)."""
    entries: list[Entry] = field(default_factory=list)

    def fail(self, message: str, fix: str) -> UserInputError:
        hint = f"{fix}, or {self.leave_out}" if self.leave_out else fix
        return UserInputError(message, hint=hint)

    def link_error(self, rel: str, problem: str, fix: str) -> UserInputError:
        return self.fail(f"symbolic link {rel!r} in {self.what} {self.root} {problem}", fix)

    def resolve_link(self, path: str, rel: str) -> Path:
        """The target of the link at ``path``, which must exist and lie inside the root."""
        target = os.readlink(path)
        try:
            real = Path(os.path.realpath(path, strict=True))
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise self.loop(rel, target) from None
            raise self.link_error(
                rel, f"is broken: its target {target} does not exist", "remove the link"
            ) from None
        if real != self.real_root and not real.is_relative_to(self.real_root):
            raise self.link_error(
                rel, f"points outside the folder, to {target}", "copy its target into the folder"
            )
        problem = self.left_out_target(real)
        if problem is not None:
            raise self.link_error(rel, f"points {problem}, to {target}", "remove the link")
        return real

    def left_out_target(self, real: Path) -> str | None:
        """Why the walk would leave out ``real`` (inside the root), None if it would not: a
        link there must not copy it all the same (a workspace's database, say)."""
        parts = real.relative_to(self.real_root).parts
        for depth in range(1, len(parts) + 1):
            is_dir = depth < len(parts) or real.is_dir()
            if is_dir and is_workspace(self.real_root.joinpath(*parts[:depth])):
                return "into a workspace folder"
            if any(fnmatch(parts[depth - 1], pattern) for pattern in self.left_out):
                return "to a left-out path"
            if self.rules.excluded("/".join(parts[:depth]), is_dir) and (
                depth == len(parts) or not self.rules.descend_excluded
            ):
                return "to a left-out path"
        return None

    def loop(self, rel: str, target: str) -> UserInputError:
        return self.link_error(rel, f"makes a loop (it points to {target})", "remove the link")

    def walk(self, folder: Path, prefix: str, stack: frozenset[Path]) -> None:
        """Add the entries under ``folder`` (a real path; ``stack``: the real folders above
        it, ``folder`` included)."""
        try:
            with os.scandir(folder) as scan:
                children = sorted(scan, key=lambda e: e.name)
        except OSError as exc:
            where = prefix.rstrip("/") or "."
            raise self.fail(
                f"cannot read {where!r} in {self.what} {self.root}: {exc.strerror}",
                "make it readable",
            ) from None
        for child in children:
            rel = prefix + child.name
            if any(fnmatch(child.name, pattern) for pattern in self.left_out):
                continue
            is_dir = os.path.isdir(child.path)
            if self.rules.excluded(rel, is_dir):
                if is_dir and self.rules.descend_excluded and not child.is_symlink():
                    self.descend(Path(child.path), rel, stack, hidden=True)
                continue
            real = self.resolve_link(child.path, rel) if child.is_symlink() else Path(child.path)
            if is_dir:
                self.descend(real, rel, stack, hidden=False)
            elif real.is_file():
                self.entries.append(Entry(rel, real, False))
            else:
                raise self.fail(
                    f"{rel!r} in {self.what} {self.root} is not a regular file or folder "
                    "(a socket, pipe or device)",
                    "remove it",
                )

    def descend(self, real: Path, rel: str, stack: frozenset[Path], *, hidden: bool) -> None:
        """Walk folder ``real`` at ``rel``; ``hidden``: it is left out itself, so only what
        a ``!`` rule brings back is added."""
        if is_workspace(real):
            return
        if real in stack:
            raise self.loop(rel, os.readlink(self.root / rel))
        if not hidden:
            self.entries.append(Entry(rel, real, True))
        self.walk(real, rel + "/", stack | {real})


def _walk(
    root: Path, what: str, rules: IgnoreRules, left_out: Iterable[str], leave_out: str | None
) -> _Walk:
    root = Path(root)
    real_root = Path(os.path.realpath(root))
    if not real_root.is_dir():
        raise UserInputError(f"{what} {root} is not a folder")
    if is_workspace(real_root):
        raise UserInputError(
            f"{what} {root} is a serving workspace folder",
            hint="point at the folder of your code or model files instead",
        )
    walk = _Walk(root, real_root, what, rules, tuple(left_out), leave_out)
    walk.walk(real_root, "", frozenset({real_root}))
    return walk


def source_entries(
    root: Path, ignore_files: tuple[str, ...] = IGNORE_FILES
) -> tuple[list[Entry], IgnoreRules]:
    """What of source folder ``root`` is copied (folders before their files), and the rules
    used (from the first of ``ignore_files`` that exists)."""
    rules = ignore_rules(Path(os.path.realpath(root)), ignore_files)
    leave_out = f"list it in {rules.file or '.amlignore'} to leave it out"
    walk = _walk(root, "source folder", rules, (WORKSPACE_MARKER, *SOURCE_LEFT_OUT), leave_out)
    return walk.entries, rules


def model_entries(root: Path) -> list[Entry]:
    """The files (and folders) of model folder ``root`` to register, workspaces left out."""
    return _walk(root, "model folder", IgnoreRules(), (WORKSPACE_MARKER,), None).entries


def copy_entries(entries: Iterable[Entry], dest: Path) -> None:
    """Copy ``entries`` (from :func:`source_entries`) into ``dest`` (created; must not
    exist): links were resolved, so each file is a copy of its target."""
    dest.mkdir()
    folders = []
    for entry in entries:
        out = dest / entry.rel
        if entry.is_dir:
            out.mkdir(parents=True, exist_ok=True)
            folders.append((entry.path, out))
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(entry.path, out)
    for source, out in reversed(folders):  # after their files: a read-only folder is fine
        shutil.copystat(source, out)
