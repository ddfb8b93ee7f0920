"""``Model.package``: Azure ML v1's model packaging, building on this machine's Docker Engine.

::

    package = Model.package(ws, [model], inference_config, image_name="digits")
    package.wait_for_creation(show_output=True)
    print(package.location)            # serving/digits:1, a local image

    package = Model.package(ws, [model], inference_config, generate_dockerfile=True)
    package.save("./digits-context")   # Dockerfile, wheelhouse, models, code
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serving.catalog import resolve_env
from serving.deploy.service import check_script, resolve_models
from serving.environments import EnvSpec
from serving.errors import ConflictError, UserInputError
from serving.images.build import ImageBuilder
from serving.images.model import BuildRequest
from serving.images.package import PackageResult, package_image
from serving.registry import ImageRecord
from serving.registry.images import parse_image_tag
from serving.workspace import Workspace

if TYPE_CHECKING:
    from serving.sdk.model import Model
    from serving.sdk.webservice import InferenceConfig


class ModelPackage:
    """A built image (``location``) or a generated build context (``save()``)."""

    def __init__(
        self,
        workspace: Workspace,
        request: BuildRequest,
        logs: list[str],
        *,
        image: ImageRecord | None = None,
        context: PackageResult | None = None,
    ) -> None:
        self.workspace = workspace
        self.request = request
        self.image = image
        self.context = context
        self._logs = logs

    @property
    def location(self) -> str | None:
        """The image's tag on this machine's Docker Engine (None for a Dockerfile package)."""
        return self.image.tag if self.image is not None else None

    def wait_for_creation(self, show_output: bool = False) -> None:
        """Packaging finished before :func:`package` returned; this prints its log."""
        if show_output:
            print("\n".join(self._logs))

    def get_logs(self, decode: bool = True, offset: int = 0) -> str:
        return "\n".join(self._logs[offset:])

    def get_container_registry(self) -> None:
        """No registry is involved: the image is in the local Docker Engine."""
        return None

    def pull(self) -> str | None:
        """Nothing to pull: returns the local image's tag."""
        return self.location

    def save(self, output_directory: str | Path) -> str:
        """Write the build context (Dockerfile, wheelhouse, models, code) to a new folder."""
        dest = Path(output_directory)
        if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
            raise ConflictError(f"{dest} already exists and is not empty")
        if self.context is not None:
            shutil.copytree(self.context.path, dest, dirs_exist_ok=True)
        else:
            package_image(self.workspace, self.request, dest, progress=self._logs.append)
        return str(dest)

    def serialize(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "location": self.location,
            "models": [m.ref for m in self.request.models],
        }
        if self.image is not None:
            out["image"] = self.image.to_dict()
        if self.context is not None:
            out["dockerfile"] = str(self.context.dockerfile)
        return out

    def __repr__(self) -> str:
        return f"ModelPackage(location={self.location!r})"


def _env(workspace: Workspace, value: Any) -> EnvSpec:
    if isinstance(value, EnvSpec):
        return value
    return resolve_env(workspace, str(value)).spec


def package(
    workspace: Workspace,
    models: Sequence[Model],
    inference_config: InferenceConfig,
    generate_dockerfile: bool = False,
    image_name: str | None = None,
    image_label: str | None = None,
) -> ModelPackage:
    """Build an image of ``models`` served by the inference config's entry script, or with
    ``generate_dockerfile`` only write its build context (see :meth:`ModelPackage.save`)."""
    if not models:
        raise UserInputError("Model.package needs at least one model")
    records = resolve_models(workspace, [m.id for m in models])
    source = inference_config.source_directory
    script, source_dir = check_script(inference_config.script(), Path(source) if source else None)
    name, label = parse_image_tag(image_name) if image_name else (None, None)
    request = BuildRequest(
        records,
        script,
        source_dir,
        _env(workspace, inference_config.env_value()),
        name=name,
        label=image_label or label,
    )
    logs: list[str] = []
    if generate_dockerfile:
        folder = Path(tempfile.mkdtemp(prefix="package-", dir=workspace.path))
        result = package_image(workspace, request, folder / "context", progress=logs.append)
        return ModelPackage(workspace, request, logs, context=result)
    built = ImageBuilder(workspace).build(request, logs.append)
    return ModelPackage(workspace, request, logs, image=built.record)
