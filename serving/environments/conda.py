"""Conda environment files (``env.yml``) to :class:`EnvSpec`.

Conda match specs become pip requirements (``numpy=1.26`` -> ``numpy==1.26.*``), conda
names map to PyPI names (``pytorch`` -> ``torch``), and Azure ML meta-packages are
replaced by the serving runtime. When a package is listed both as a conda dependency
and in the ``pip:`` section, the ``pip:`` line wins: it is the more specific request
and is what conda itself installs last.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

from serving.environments._conda_names import is_conda_only, pypi_name
from serving.environments._python import default_python, python_from_specifier
from serving.environments._requirements import RequirementSet, add_pip_lines, read_text
from serving.environments.spec import EnvSpec, check_variable
from serving.errors import EnvironmentSpecError

_NAME = re.compile(r"^([A-Za-z0-9_][A-Za-z0-9_.\-]*)(.*)$")
_BRACKET = re.compile(r"\[(.*)\]\s*$")
_BRACKET_ITEM = re.compile(r"""(\w+)\s*=\s*(?:'([^']*)'|"([^"]*)"|([^,]*))""")
_OPERATOR = re.compile(r"^(==|>=|<=|!=|~=|>|<|=)?(.*)$")
_TOOLING = frozenset({"pip", "python"})
_DROPPED_WITH_NOTICE = frozenset({"setuptools", "wheel"})


def _fuzzy(version: str) -> str:
    return version.rstrip("*").rstrip(".") + ".*"


def _conda_version_to_pip(version: str, spec: str, source: str) -> str:
    """A conda version expression (``=1.26``, ``>=1.3,<2``, ``1.26.*``) as a pip specifier."""
    version = version.strip()
    if not version:
        return ""
    if "|" in version:
        raise EnvironmentSpecError(
            f"{source}: {spec!r}: alternatives with '|' cannot be expressed for pip",
            hint="pin one version range instead",
        )
    if version.startswith("=") and not version.startswith("=="):
        # name=VERSION (fuzzy: 1.26 -> 1.26.*) or name=VERSION=BUILD (exact version).
        parts = version[1:].split("=")
        exact = len(parts) > 1 and not parts[0].endswith("*")
        pip = "==" + (parts[0] if exact else _fuzzy(parts[0]))
    else:
        version = re.sub(r"\s*,\s*", ",", version)
        version = re.sub(r"(==|>=|<=|!=|~=|>|<)\s+", r"\1", version)
        # "VERSION BUILD": the build string is dropped; "==1.2=build" likewise.
        first = version.split()[0]
        pip = ",".join(_conda_clause(clause) for clause in first.split(","))
    try:
        SpecifierSet(pip)
    except InvalidSpecifier as exc:
        raise EnvironmentSpecError(f"{source}: cannot convert {spec!r} to a pip version") from exc
    return pip


def _conda_clause(clause: str) -> str:
    match = _OPERATOR.match(clause)
    operator, version = (match.group(1) or "", match.group(2)) if match else ("", clause)
    if operator == "==":
        version = version.split("=")[0]
    if operator in ("", "==", "="):
        exact = operator != "=" and not version.endswith("*")
        return "==" + (version if exact else _fuzzy(version))
    return operator + version.rstrip("*").rstrip(".")


def parse_match_spec(spec: str, source: str) -> tuple[str, str]:
    """Split a conda match spec into ``(conda name, pip specifier)``.

    The channel prefix (``conda-forge::``) and build string are dropped.
    """
    text = spec.strip().split("::", 1)[-1].strip()
    match = _NAME.match(text)
    if match is None:
        raise EnvironmentSpecError(f"{source}: invalid conda dependency {spec!r}")
    name, rest = match.group(1), match.group(2).strip()
    bracket = _BRACKET.search(rest)
    if bracket is not None:
        keys = {
            m.group(1): next(g for g in m.groups()[1:] if g is not None)
            for m in _BRACKET_ITEM.finditer(bracket.group(1))
        }
        rest = rest[: bracket.start()].strip()
        if keys.get("version"):
            if rest:
                raise EnvironmentSpecError(f"{source}: {spec!r} gives the version twice")
            rest = keys["version"]
    return name, _conda_version_to_pip(rest, spec, source)


def _load(text: str, source: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source} line {mark.line + 1}" if mark else source
        problem = exc.problem or exc.context or "invalid YAML"
        raise EnvironmentSpecError(f"{where}: invalid YAML: {problem}") from exc
    except yaml.YAMLError as exc:
        raise EnvironmentSpecError(f"{source}: invalid YAML: {exc}") from exc
    if data is None:
        raise EnvironmentSpecError(
            f"{source} is empty", hint="a conda environment file needs a dependencies: list"
        )
    if not isinstance(data, dict):
        raise EnvironmentSpecError(
            f"{source}: expected a mapping with a dependencies: list, got {type(data).__name__}"
        )
    if not isinstance(data.get("dependencies"), list):
        raise EnvironmentSpecError(
            f"{source}: no dependencies: list",
            hint="list packages under dependencies:, e.g. '- numpy' and '- pip: [joblib]'",
        )
    return data


def _string_list(value: object, what: str, source: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise EnvironmentSpecError(f"{source}: {what} must be a list of strings")
    return value


def _variables(value: object, source: str) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise EnvironmentSpecError(f"{source}: variables: must be a mapping of NAME: value")
    out: dict[str, str] = {}
    for key, raw in value.items():
        if not isinstance(key, str):
            raise EnvironmentSpecError(f"{source}: invalid variable name {key!r} in variables:")
        if isinstance(raw, (dict, list)):
            raise EnvironmentSpecError(f"{source}: variable {key} must be a single value")
        text = "" if raw is None else str(raw).lower() if isinstance(raw, bool) else str(raw)
        check_variable(key, text, source)
        out[key] = text
    return tuple(sorted(out.items()))


class _CondaSection:
    """Conda dependencies converted to pip requirements, plus what was dropped."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.requirements = RequirementSet(source)
        self.python: tuple[SpecifierSet, str] | None = None
        self.conda_only: list[str] = []

    def add(self, spec: str) -> None:
        name, specifier = parse_match_spec(spec, self.source)
        lowered = name.lower()
        if lowered == "python":
            if specifier:
                written = spec.strip().split("::", 1)[-1][len(name) :].lstrip("= ")
                self.python = (SpecifierSet(specifier), written)
        elif lowered in _TOOLING:
            return
        elif lowered in _DROPPED_WITH_NOTICE:
            self.requirements.notices.append(
                f"{lowered} is not taken from the conda dependencies (pip provides it); "
                "list it under pip: to pin it"
            )
        elif is_conda_only(name):
            self.conda_only.append(name)
        else:
            pip_name = pypi_name(name)
            if pip_name != canonicalize_name(name):
                self.requirements.notices.append(f"conda package {name} is installed as {pip_name}")
            try:
                self.requirements.add(Requirement(pip_name + specifier))
            except InvalidRequirement as exc:
                raise EnvironmentSpecError(f"{self.source}: invalid dependency {spec!r}") from exc


def _dependencies(
    items: list[Any], source: str, base: Path
) -> tuple[_CondaSection, RequirementSet]:
    """The ``dependencies:`` list: conda specs and the ``pip:`` section, read apart."""
    conda = _CondaSection(source)
    pip = RequirementSet(source)
    for index, item in enumerate(items, 1):
        if isinstance(item, str):
            conda.add(item)
        elif isinstance(item, dict) and set(item) == {"pip"}:
            lines = _string_list(item["pip"], "the pip: section", source)
            add_pip_lines(
                pip, [(f"{source} pip: item {i}", s) for i, s in enumerate(lines, 1)], base
            )
        else:
            raise EnvironmentSpecError(
                f"{source}: dependencies item {index} must be a package spec or a pip: list, "
                f"got {item!r}"
            )
    if conda.conda_only:
        names = ", ".join(sorted(set(conda.conda_only)))
        raise EnvironmentSpecError(
            f"{source}: conda-only packages cannot be installed with pip: {names}",
            hint="remove them, or list the PyPI package under pip: instead",
        )
    return conda, pip


def parse_conda_text(
    text: str, source: str = "env.yml", name: str | None = None, *, base_dir: Path | None = None
) -> EnvSpec:
    """Parse conda environment YAML into an :class:`EnvSpec`.

    ``source`` names the file in messages; ``name`` overrides the file's ``name:``;
    ``base_dir`` resolves relative paths in the ``pip:`` section (default: the cwd).
    Raises :class:`~serving.errors.EnvironmentSpecError` for anything pip cannot install.
    """
    data = _load(text, source)
    conda, pip = _dependencies(data["dependencies"], source, base_dir or Path.cwd())
    if conda.python is None:
        python = default_python()
    else:
        python = python_from_specifier(*conda.python, source)
    conda_reqs = conda.requirements
    notices = conda_reqs.notices + pip.notices
    for overridden in sorted(conda_reqs.names() & pip.names()):
        notices.append(
            f"{overridden}: the pip: line {pip.line_for(overridden)!r} is used instead of "
            f"the conda dependency {conda_reqs.line_for(overridden)!r}"
        )
    requirements = conda_reqs.lines(exclude=pip.names()) + pip.lines()
    requirements += conda_reqs.verbatim + pip.verbatim
    declared = data.get("name")
    return EnvSpec(
        name=name or (declared if isinstance(declared, str) and declared else Path(source).stem),
        python=python,
        requirements=tuple(sorted(set(requirements))),
        pip_options=tuple(dict.fromkeys(conda_reqs.options + pip.options)),
        variables=_variables(data.get("variables"), source),
        channels=tuple(_string_list(data.get("channels"), "channels:", source)),
        replaced=tuple(sorted(conda_reqs.replaced | pip.replaced)),
        notices=tuple(notices),
        source_format="conda",
    )


def parse_conda_file(path: str | Path, name: str | None = None) -> EnvSpec:
    """Parse a conda environment file; relative pip paths resolve against its folder."""
    file = Path(path)
    text = read_text(file, str(file))
    return parse_conda_text(text, source=file.name, name=name, base_dir=file.parent.resolve())
