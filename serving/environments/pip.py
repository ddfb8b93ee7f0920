"""pip requirements files (``requirements.txt``) to :class:`EnvSpec`."""

from __future__ import annotations

from pathlib import Path

from serving.environments._python import check_python, default_python
from serving.environments._requirements import (
    RequirementSet,
    add_pip_lines,
    logical_lines,
    read_text,
)
from serving.environments.spec import EnvSpec


def _parse(
    text: str, source: str, name: str, python: str | None, base_dir: Path, seen: frozenset[Path]
) -> EnvSpec:
    version = check_python(python, source) if python else default_python()
    requirements = RequirementSet(source)
    add_pip_lines(requirements, logical_lines(text, source), base_dir, seen)
    return EnvSpec(
        name=name,
        python=version,
        requirements=tuple(sorted(set(requirements.lines() + requirements.verbatim))),
        pip_options=tuple(requirements.options),
        replaced=tuple(sorted(requirements.replaced)),
        notices=tuple(requirements.notices),
        source_format="pip",
    )


def parse_pip_requirements_text(
    text: str,
    source: str = "requirements.txt",
    name: str = "requirements",
    python: str | None = None,
    *,
    base_dir: Path | None = None,
) -> EnvSpec:
    """Parse requirements.txt content into an :class:`EnvSpec`.

    Handles comments, blank lines, ``\\`` continuations, option lines (to
    ``pip_options``), ``-r other.txt`` (relative to ``base_dir``, default the cwd) and
    Azure ML meta-packages (replaced by the serving runtime). ``python`` is ``X.Y``;
    by default the running interpreter's version when supported, else 3.11.
    """
    return _parse(text, source, name, python, base_dir or Path.cwd(), frozenset())


def parse_pip_requirements_file(
    path: str | Path, name: str | None = None, python: str | None = None
) -> EnvSpec:
    """Parse a requirements file; ``-r`` and relative paths resolve against its folder.

    ``name`` defaults to the file name without its suffix.
    """
    file = Path(path).resolve()
    text = read_text(file, str(path))
    return _parse(text, file.name, name or file.stem, python, file.parent, frozenset({file}))
