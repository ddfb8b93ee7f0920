"""v1's dictionary views of a workspace (``ws.models``, ``ws.environments``): the registries
themselves, answering the mapping protocol too.

Azure ML v1 code reads ``ws.models`` and ``ws.environments`` as ``{name: latest object}``
dictionaries; the rest of this code base calls the same attributes as registries
(``ws.models.register(...)``, ``ws.environments.get(ref)``). A view subclasses its registry
and adds ``__getitem__``/``__iter__``/``items()``..., so both uses hold on one attribute and
no caller had to change. ``get`` answers both: a :class:`Ref` goes to the registry, a name
to the mapping (``ws.models.get("digits")`` is the latest version's ``Model`` or None).

Import-light (training scripts reach the SDK workspace): the SDK classes load on first use.
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterator, KeysView, Mapping, ValuesView
from typing import TYPE_CHECKING, Any

from serving.registry import EnvironmentRegistry, ModelRegistry, Ref
from serving.registry.artifacts import ArtifactStore
from serving.registry.db import Database

if TYPE_CHECKING:
    from serving.workspace import Workspace


class _MappingMixin:
    """The read-only mapping protocol over ``_snapshot()`` (name -> SDK object)."""

    def _snapshot(self) -> dict[str, Any]:
        raise NotImplementedError

    def __getitem__(self, name: str) -> Any:
        snapshot = self._snapshot()
        if name not in snapshot:
            raise KeyError(name)
        return snapshot[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._snapshot())

    def __len__(self) -> int:
        return len(self._snapshot())

    def __contains__(self, name: object) -> bool:
        return name in self._snapshot()

    def keys(self) -> KeysView[str]:
        return self._snapshot().keys()

    def items(self) -> ItemsView[str, Any]:
        return self._snapshot().items()

    def values(self) -> ValuesView[Any]:
        return self._snapshot().values()


class ModelsView(_MappingMixin, ModelRegistry):
    """``ws.models``: the model registry, and ``{name: latest Model}`` for v1 code."""

    def __init__(self, db: Database, store: ArtifactStore, workspace: Workspace) -> None:
        super().__init__(db, store)
        self._workspace = workspace

    def _snapshot(self) -> dict[str, Any]:
        from serving.sdk.model import Model

        records = ModelRegistry.list(self, latest=True)
        return {r.name: Model._wrap(self._workspace, r) for r in records}

    def get(self, ref: Ref | str, default: Any = None) -> Any:
        if isinstance(ref, Ref):
            return ModelRegistry.get(self, ref)
        return self._snapshot().get(ref, default)


class EnvironmentsView(_MappingMixin, EnvironmentRegistry):
    """``ws.environments``: the environment registry, and ``{name: Environment}`` (latest
    versions, curated names included) for v1 code."""

    def __init__(self, db: Database, workspace: Workspace) -> None:
        super().__init__(db)
        self._workspace = workspace

    def _snapshot(self) -> dict[str, Any]:
        from serving.sdk.environment import Environment

        return Environment.list(self._workspace)

    def get(self, ref: Ref | str, default: Any = None) -> Any:
        if isinstance(ref, Ref):
            return EnvironmentRegistry.get(self, ref)
        return self._snapshot().get(ref, default)


# isinstance(ws.models, Mapping) holds, as for v1's dicts (json, pandas, dict() accept them)
Mapping.register(ModelsView)
Mapping.register(EnvironmentsView)

__all__ = ["EnvironmentsView", "ModelsView"]
