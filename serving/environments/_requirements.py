"""pip requirement lines: canonical form, merging, options and requirements files.

Shared by the conda parser (its ``pip:`` section) and the requirements.txt parser.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from serving.errors import EnvironmentSpecError, NotFoundError

AZURE_META_PACKAGES = frozenset(
    {
        "azureml-defaults",
        "azureml-core",
        "azureml-inference-server-http",
        "azureml-contrib-services",
        "azureml-monitoring",
    }
)
"""Azure ML packages whose job the serving runtime does; dropped from environments."""

# Options allowed in requirement lines, by long name; short spellings map onto them.
_VALUE_OPTIONS = {
    "--index-url",
    "--extra-index-url",
    "--find-links",
    "--trusted-host",
    "--only-binary",
    "--no-binary",
    "--constraint",
}
_FLAG_OPTIONS = {"--no-index", "--pre", "--prefer-binary"}
_SHORT = {
    "-i": "--index-url",
    "-f": "--find-links",
    "-c": "--constraint",
    "-r": "--requirement",
    "-e": "--editable",
}
_COMMENT = re.compile(r"(^|\s+)#.*$")
_URL = re.compile(r"^((git|hg|svn|bzr)\+|[a-z][a-z0-9+.-]*://|file:)", re.IGNORECASE)
_ARCHIVE = (".whl", ".tar.gz", ".tgz", ".tar.bz2", ".zip")
_PER_REQUIREMENT_OPTION = re.compile(r"\s--?[a-z]")


def canonical_specifier(specifier: SpecifierSet) -> str:
    """Specifiers with normalised versions, sorted, comma-joined (``<2,>=1.3``)."""
    parts = []
    for spec in specifier:
        version = spec.version
        if spec.operator != "===":
            wildcard = version.endswith(".*")
            try:
                version = str(Version(version[:-2] if wildcard else version))
            except InvalidVersion:
                version = spec.version
            else:
                version += ".*" if wildcard else ""
        parts.append(spec.operator + version)
    return ",".join(sorted(parts))


@dataclass
class _Entry:
    name: str
    extras: set[str]
    specifier: str
    url: str | None
    marker: str | None

    def line(self) -> str:
        text = self.name + (f"[{','.join(sorted(self.extras))}]" if self.extras else "")
        text += f" @ {self.url}" if self.url else self.specifier
        if self.marker:
            text += f" ; {self.marker}" if self.url else f"; {self.marker}"
        return text


def _entry(req: Requirement) -> _Entry:
    return _Entry(
        name=canonicalize_name(req.name),
        extras={canonicalize_name(e) for e in req.extras},
        specifier=canonical_specifier(req.specifier),
        url=req.url,
        marker=str(req.marker) if req.marker else None,
    )


def canonical_requirement(req: Requirement) -> str:
    """PEP 503 name, sorted normalised extras, normalised sorted specifiers, marker."""
    return _entry(req).line()


@dataclass
class RequirementSet:
    """Requirement lines of one section, merged per package; options kept in order."""

    source: str
    entries: dict[tuple[str, str | None], _Entry] = field(default_factory=dict)
    verbatim: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)
    replaced: set[str] = field(default_factory=set)
    notices: list[str] = field(default_factory=list)

    def add(self, req: Requirement) -> None:
        """Add one requirement; identical or compatible repeats merge, pins must agree."""
        new = _entry(req)
        if new.name in AZURE_META_PACKAGES:
            if new.name not in self.replaced:
                self.notices.append(
                    f"{new.name} is replaced by the serving runtime (not installed)"
                )
            self.replaced.add(new.name)
            return
        key = (new.name, new.marker)
        old = self.entries.get(key)
        if old is None:
            self.entries[key] = new
            return
        clash = (old.url and new.url and old.url != new.url) or (
            old.specifier and new.specifier and old.specifier != new.specifier
        )
        if clash or (old.url and new.specifier) or (new.url and old.specifier):
            raise EnvironmentSpecError(
                f"{self.source}: conflicting requirements for {new.name}: "
                f"{old.line()!r} and {new.line()!r}",
                hint="keep one pin per package",
            )
        old.extras |= new.extras
        old.specifier = old.specifier or new.specifier
        old.url = old.url or new.url

    def add_verbatim(self, line: str) -> None:
        """Add a line pip understands but packaging cannot parse (VCS, URL, path)."""
        if line not in self.verbatim:
            self.verbatim.append(line)

    def add_option(self, line: str) -> None:
        """Add a pip option line (``--extra-index-url URL``); repeats are dropped."""
        if line not in self.options:
            self.options.append(line)

    def names(self) -> set[str]:
        """Canonical names of the named requirements in this set."""
        return {name for name, _ in self.entries}

    def lines(self, exclude: Iterable[str] = ()) -> list[str]:
        """Canonical lines, leaving out the packages named in ``exclude``."""
        skip = set(exclude)
        return [e.line() for (name, _), e in self.entries.items() if name not in skip]

    def line_for(self, name: str) -> str:
        """All lines of one package, joined (for notices)."""
        return ", ".join(e.line() for (n, _), e in self.entries.items() if n == name)


def read_text(path: Path, where: str) -> str:
    """Read a UTF-8 environment file, with errors that name it."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise NotFoundError(f"{where}: file {path} not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise EnvironmentSpecError(f"{where}: cannot read {path}: {exc}") from exc


def logical_lines(text: str, source: str) -> list[tuple[str, str]]:
    """Requirements-file lines as ``(where, line)``: continuations joined, comments gone."""
    out: list[tuple[str, str]] = []
    buffer, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        if not buffer:
            start = number
        if raw.endswith("\\"):
            buffer += raw[:-1]
            continue
        line = _COMMENT.sub("", buffer + raw).strip()
        buffer = ""
        if line:
            out.append((f"{source} line {start}", line))
    if buffer.strip():
        out.append((f"{source} line {start}", _COMMENT.sub("", buffer).strip()))
    return out


def _local_path(value: str, base_dir: Path) -> str:
    return os.path.normpath(base_dir / Path(value).expanduser())


def _split_option(line: str) -> tuple[str, str]:
    match = re.match(r"^(-[-\w]*)(?:\s*=\s*|\s+|$)(.*)$", line)
    if match is None:
        return line, ""
    option, value = match.group(1), match.group(2).strip()
    return _SHORT.get(option, option), value


def add_pip_lines(
    target: RequirementSet,
    lines: Iterable[tuple[str, str]],
    base_dir: Path,
    seen: frozenset[Path] = frozenset(),
) -> None:
    """Add pip requirement lines (as ``(where, line)``) to ``target``.

    ``-r file`` is read relative to ``base_dir`` (cycles are an error); relative local
    paths become absolute so the build does not depend on the working directory.
    """
    for where, raw in lines:
        line = _COMMENT.sub("", raw).strip()
        if not line:
            continue
        if line.startswith("-"):
            _add_option(target, where, line, base_dir, seen)
        elif _URL.match(line):
            target.add_verbatim(line)
        elif line.startswith((".", "/", "~")) or (
            line.lower().endswith(_ARCHIVE) and "@" not in line
        ):
            target.add_verbatim(_local_path(line, base_dir))
        else:
            _add_requirement(target, where, line, base_dir)


def _add_requirement(target: RequirementSet, where: str, line: str, base_dir: Path) -> None:
    if _PER_REQUIREMENT_OPTION.search(line):
        raise EnvironmentSpecError(
            f"{where}: per-requirement options are not supported: {line!r}",
            hint="remove options such as --hash from the requirement line",
        )
    try:
        target.add(Requirement(line))
    except InvalidRequirement as exc:
        if "/" in line or "\\" in line:
            target.add_verbatim(_local_path(line, base_dir))
            return
        raise EnvironmentSpecError(
            f"{where}: invalid requirement {line!r}: {str(exc).splitlines()[0]}",
            hint="use pip requirement syntax, e.g. numpy==1.26.4",
        ) from exc


def _add_option(
    target: RequirementSet, where: str, line: str, base_dir: Path, seen: frozenset[Path]
) -> None:
    option, value = _split_option(line)
    if option in _FLAG_OPTIONS:
        if value:
            raise EnvironmentSpecError(f"{where}: pip option {option} takes no value: {line!r}")
        target.add_option(option)
        return
    if option not in (*_VALUE_OPTIONS, "--requirement", "--editable"):
        raise EnvironmentSpecError(
            f"{where}: unsupported pip option {option}",
            hint="supported: " + ", ".join(sorted(_VALUE_OPTIONS | _FLAG_OPTIONS)) + ", -r, -e",
        )
    if not value:
        raise EnvironmentSpecError(f"{where}: pip option {option} needs a value")
    if option == "--requirement":
        path = Path(_local_path(value, base_dir))
        if path in seen:
            raise EnvironmentSpecError(f"{where}: requirements file {path} includes itself")
        text = read_text(path, where)
        add_pip_lines(target, logical_lines(text, path.name), path.parent, seen | {path})
        return
    if option in ("--editable", "--constraint", "--find-links") and not _URL.match(value):
        value = _local_path(value, base_dir)
    if option == "--editable":
        target.add_verbatim(f"--editable {value}")
    else:
        target.add_option(f"{option} {value}")
