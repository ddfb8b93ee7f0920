"""Environments, images and endpoints of a remote workspace: the methods of
:class:`~serving.registry.EnvironmentRegistry`, :class:`~serving.registry.ImageRegistry`
and :class:`~serving.registry.EndpointRegistry` that the CLI and SDK call, returning the
same records, over the server's routes.

What a server does not offer is absent, not faked: images are built and endpoints
deployed, scaled or deleted where the workspace folder is (the CLI says so in one line).
Endpoint records from a server carry no spec, runtime or keys (``keys()`` asks for them:
a read-write token only).
"""

from __future__ import annotations

import builtins
import dataclasses
from collections.abc import Mapping
from typing import Any

from serving.hub.remote.transport import HubClient, segment
from serving.registry import EndpointRecord, EnvironmentRecord, ImageRecord, Ref
from serving.registry.names import check_model_name


def environment_record(data: Mapping[str, Any]) -> EnvironmentRecord:
    return EnvironmentRecord(
        id=0,
        name=str(data["name"]),
        version=int(data["version"]),
        content_hash=str(data["content_hash"]),
        python=str(data["python"]),
        spec=dict(data["spec"]),
        source_text=str(data.get("source_text") or ""),
        source_name=str(data.get("source") or ""),
        created_at=str(data["created_at"]),
    )


_IMAGE_FIELDS = {f.name for f in dataclasses.fields(ImageRecord)}


def image_record(data: Mapping[str, Any]) -> ImageRecord:
    """An :class:`ImageRecord` from JSON; keys that are not fields were its ``extra``."""
    return ImageRecord(
        id=0,
        name=str(data["name"]),
        version=int(data["version"]),
        tag=str(data["tag"]),
        image_id=str(data["image_id"]),
        models=tuple(data.get("models") or ()),
        entry_script=str(data.get("entry_script") or ""),
        env_hash=str(data.get("env_hash") or ""),
        python=str(data.get("python") or ""),
        flavour=str(data.get("flavour") or ""),
        base_image=str(data.get("base_image") or ""),
        size_bytes=int(data.get("size_bytes") or 0),
        labels=dict(data.get("labels") or {}),
        created_at=str(data["created_at"]),
        build_key="",
        extra={k: v for k, v in data.items() if k not in _IMAGE_FIELDS},
    )


@dataclasses.dataclass(frozen=True)
class RemoteEndpointRecord(EndpointRecord):
    """An endpoint as a server shows it: no keys (``auth_enabled`` says whether it has
    them; :meth:`RemoteEndpoints.keys` asks for them)."""

    auth_enabled: bool = False

    def to_dict(self, *, with_keys: bool = False) -> dict[str, Any]:
        return super().to_dict(with_keys=with_keys) | {"auth_enabled": self.auth_enabled}


def endpoint_record(data: Mapping[str, Any]) -> RemoteEndpointRecord:
    return RemoteEndpointRecord(
        name=str(data["name"]),
        target=str(data["target"]),
        state=str(data["state"]),
        scoring_uri=data.get("scoring_uri"),
        swagger_uri=data.get("swagger_uri"),
        spec={},
        runtime={},
        keys=(),
        error=data.get("error"),
        created_at=str(data["created_at"]),
        updated_at=str(data["updated_at"]),
        models=tuple(data.get("models") or ()),
        auth_enabled=bool(data.get("auth_enabled")),
    )


class RemoteEnvironments:
    """The environments of the workspace behind ``client``."""

    def __init__(self, client: HubClient) -> None:
        self.client = client

    def register(
        self,
        name: str,
        *,
        spec: dict[str, Any],
        content_hash: str,
        python: str,
        source_text: str,
        source_name: str,
    ) -> tuple[EnvironmentRecord, bool]:
        """Record a new version unless the latest has the same content; the server
        rebuilds the spec and computes ``content_hash`` and ``python`` itself."""
        check_model_name(name, "environment")
        body = {"spec": spec, "source_text": source_text, "source_name": source_name}
        answer = self.client.send("POST", f"/environments/{segment(name)}", body)
        return environment_record(answer), bool(answer["created"])

    def get(self, ref: Ref) -> EnvironmentRecord:
        version = "latest" if ref.version is None else str(ref.version)
        return environment_record(self.client.get(f"/environments/{segment(ref.name)}/{version}"))

    def list(
        self, *, name: str | None = None, latest: bool = False
    ) -> builtins.list[EnvironmentRecord]:
        found = self.client.items("/environments", name=name, latest=latest or None)
        return [environment_record(item) for item in found]


class RemoteImages:
    """The built-image records of the workspace behind ``client`` (reads only)."""

    def __init__(self, client: HubClient) -> None:
        self.client = client

    def get(self, ref: str) -> ImageRecord:
        """By ``name:version``, ``name`` (latest), or the Docker tag it was given."""
        name, _, version = ref.rpartition(":")
        if not (name and version.isdigit()):
            name, version = ref, "latest"
        return image_record(self.client.get(f"/images/{segment(name)}/{version}"))

    def list(self, *, name: str | None = None) -> builtins.list[ImageRecord]:
        return [image_record(item) for item in self.client.items("/images", name=name)]


class RemoteEndpoints:
    """The endpoints of the workspace behind ``client``: states as the server observes
    them (``endpoints show`` reconciles the same way), logs, and keys."""

    def __init__(self, client: HubClient) -> None:
        self.client = client

    def get(self, name: str) -> EndpointRecord:
        return endpoint_record(self.client.get(f"/endpoints/{segment(name)}"))

    def list(self) -> builtins.list[EndpointRecord]:
        return [endpoint_record(item) for item in self.client.items("/endpoints")]

    def logs(self, name: str, tail: int, replica: str | None = None) -> str:
        answer = self.client.get(f"/endpoints/{segment(name)}/logs", tail=tail, replica=replica)
        return str(answer["text"])

    def keys(self, name: str) -> tuple[str, ...]:
        """The primary and secondary keys (empty when deployed without auth)."""
        answer = self.client.get(f"/endpoints/{segment(name)}/keys")
        return tuple(
            str(answer[k]) for k in ("primary_key", "secondary_key") if answer.get(k) is not None
        )
