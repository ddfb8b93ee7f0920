"""Build a model image with the Docker SDK and record it.

Steps, each reused when its inputs are unchanged: base image -> runtime flavour image ->
environment image (keyed by the environment's hash) -> model image: the platform code, the
model files, then score.py and source, as three layers loaded on the environment image
(see :mod:`serving.images.layers`). The new image is smoke-checked before it is tagged and
recorded; when the check fails the image is removed and nothing is recorded.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import serving
from serving.config import PlatformSettings
from serving.environments import EnvSpec
from serving.images.bases import BaseFacts, ResolvedBase, check_python, probe, resolve_base
from serving.images.context import (
    APP_FOLDER,
    AppContext,
    write_code_context,
    write_model_files,
)
from serving.images.dockerfile import APP_ROOT, PLATFORM_LIB, USER_ID
from serving.images.engine import EngineUser, Progress, find_image, load_image
from serving.images.environment import EnvImage, ensure_environment
from serving.images.flavours import (
    FlavourImage,
    choose_flavour,
    ensure_flavour,
    write_platform_code,
)
from serving.images.layers import LayerSource, image_archive, image_config, write_layer
from serving.images.model import BuildRequest, ModelLayers, model_layers
from serving.images.smoke import smoke_check
from serving.registry import ImageRecord
from serving.registry.images import check_repository, parse_image_tag
from serving.scoring.layout import MODELS_FOLDER
from serving.workspace import Workspace

if TYPE_CHECKING:
    from docker import DockerClient

RUNTIME_FOLDER = "runtime"


@dataclass(frozen=True)
class BuiltImage:
    record: ImageRecord
    reused: bool
    """The same inputs were built before: that image was returned, nothing built."""
    env_reused: bool
    seconds: float
    reused_layers: int = 0
    """How many of the model image's own layers (platform code, models, code) were reused."""


def wheel_root(ws: Workspace) -> Path:
    """Where a workspace keeps its wheelhouses."""
    return ws.path / "wheelhouse"


def _layer_sources(context: Path, app: AppContext) -> list[LayerSource]:
    """The model image's own layers: platform code, model files, score.py and source."""
    return [
        LayerSource(
            context / RUNTIME_FOLDER,
            PLATFORM_LIB,
            keep_pyc=True,
            created_by=f"serving: platform code {serving.__version__}",
        ),
        LayerSource(
            context / MODELS_FOLDER,
            f"{APP_ROOT}/{MODELS_FOLDER}",
            parents={APP_ROOT: int(USER_ID)},
            created_by=f"serving: model files {', '.join(app.models)}",
        ),
        LayerSource(
            context / APP_FOLDER,
            APP_ROOT,
            owner=int(USER_ID),
            parents={APP_ROOT: int(USER_ID)},
            created_by=f"serving: {app.entry_script} and its source",
        ),
    ]


class ImageBuilder(EngineUser):
    """Builds model images for one workspace on one Docker Engine (client made lazily)."""

    def __init__(
        self,
        ws: Workspace,
        settings: PlatformSettings | None = None,
        client: DockerClient | None = None,
    ) -> None:
        super().__init__(settings, client)
        self.ws = ws
        self._facts: dict[str, BaseFacts] = {}

    def flavour(self, spec: EnvSpec, requested: str, progress: Progress) -> FlavourImage:
        """The runtime flavour image for ``spec`` (base resolved, built if needed); an
        environment naming its own base image (``env.docker.base_image``) is built on it."""
        settings = self.settings
        if spec.base_image:
            settings = dataclasses.replace(settings, base_image=spec.base_image)
        base = resolve_base(self.client, spec.python, settings, progress)
        return ensure_flavour(
            self.client,
            wheel_root(self.ws),
            choose_flavour(spec, requested),
            base,
            lambda: self.facts(base, spec.python, progress),
            python=spec.python,
            index_url=self.settings.pip_index_url,
            progress=progress,
        )

    def facts(self, base: ResolvedBase, python: str, progress: Progress) -> BaseFacts:
        """Run the base once to learn its Python, glibc and machine (wheel platform)."""
        if base.ref not in self._facts:
            progress(f"inspecting base image {base.ref}")
            self._facts[base.ref] = probe(self.client, base)
        facts = self._facts[base.ref]
        check_python(base, facts, python)
        return facts

    def environment(self, spec: EnvSpec, flavour: FlavourImage, progress: Progress) -> EnvImage:
        return ensure_environment(
            self.client,
            wheel_root(self.ws),
            spec,
            flavour,
            lambda: self.facts(flavour.base, spec.python, progress),
            index_url=self.settings.pip_index_url,
            progress=progress,
        )

    def build(self, request: BuildRequest, progress: Progress) -> BuiltImage:
        """Build (or reuse) the model image for ``request`` and record it."""
        try:
            return self._build(request, progress)
        finally:
            self.release()

    def _build(self, request: BuildRequest, progress: Progress) -> BuiltImage:
        started = time.monotonic()
        for line in request.env.notices:
            progress(f"notice: {line}")
        name = check_repository(request.repository)
        flavour = self.flavour(request.env, request.flavour, progress)
        env_image = self.environment(request.env, flavour, progress)
        with tempfile.TemporaryDirectory(prefix="serving-model-") as tmp:
            context = Path(tmp)
            app = write_code_context(
                context, request.models, request.entry_script, request.source_dir
            )
            layers = model_layers(
                request,
                app,
                env_image_id=env_image.image_id,
                flavour=flavour.flavour.name,
                base=flavour.base.ref,
                created=datetime.now(UTC),
            )
            # the key needs no model file and no compiled code: both only on a miss
            previous = self._reusable(name, layers.key, request.label)
            if previous is not None:
                progress(f"image {previous.tag} was built from the same inputs: reusing it")
                return BuiltImage(previous, True, env_image.reused, time.monotonic() - started)
            write_model_files(self.ws, context, request.models)
            write_platform_code(context / RUNTIME_FOLDER, request.env.python)
            image_id, layers_reused = self._model_layers(env_image, context, app, layers, progress)
        record = self._check_and_record(request, image_id, layers, flavour, progress)
        seconds = time.monotonic() - started
        progress(f"built {record.tag} in {seconds:.1f} s")
        return BuiltImage(record, False, env_image.reused, seconds, layers_reused)

    def _model_layers(
        self,
        env_image: EnvImage,
        context: Path,
        app: AppContext,
        layers: ModelLayers,
        progress: Progress,
    ) -> tuple[str, int]:
        """Load the platform code, model files and code layers on the environment image;
        returns the image id and how many of the three layers Docker already had."""
        sources = _layer_sources(context, app)
        parent = self.client.api.inspect_image(env_image.image_id)
        history = self.client.api.history(env_image.image_id)
        with tempfile.TemporaryDirectory(prefix="serving-layers-") as tmp:
            made = [write_layer(src, Path(tmp) / f"layer{i}.tar") for i, src in enumerate(sources)]
            config = image_config(
                parent,
                history,
                made,
                env=layers.env,
                cmd=layers.cmd,
                labels=layers.labels,
                created=datetime.now(UTC),
            )
            with image_archive(config, made) as archive:
                image_id, loaded = load_image(self.client, archive)
        for layer, what in zip(
            made, ("platform code", "model files", "score.py and source"), strict=True
        ):
            new = any(layer.diff_id.startswith(f"sha256:{short}") for short in loaded)
            progress(f"{what} layer {layer.diff_id[7:19]}: {'added' if new else 'reused'}")
        return image_id, len(made) - len(loaded)

    def _reusable(self, name: str, key: str, label: str | None) -> ImageRecord | None:
        record = self.ws.images.find_build(name, key)
        if record is None or (label and record.tag != f"{name}:{label}"):
            return None
        return record if find_image(self.client, record.image_id) is not None else None

    def _check_and_record(
        self,
        request: BuildRequest,
        image_id: str,
        layers: ModelLayers,
        flavour: FlavourImage,
        progress: Progress,
    ) -> ImageRecord:
        progress("smoke check: importing the entry script inside the image")
        try:
            mode = smoke_check(self.client, image_id)
        except BaseException:
            self.client.images.remove(image_id, force=True)
            raise
        progress(f"smoke check passed (run() input mode: {mode})")
        image = self.client.images.get(image_id)
        name = request.repository
        record = self.ws.images.record(
            name,
            tag=f"{name}:{request.label}" if request.label else None,
            image_id=image_id,
            build_key=layers.key,
            env_hash=request.env.content_hash(),
            python=request.env.python,
            flavour=flavour.flavour.name,
            base_image=flavour.base.ref,
            size_bytes=int(image.attrs.get("Size", 0)),
            models=[m.ref for m in request.models],
            entry_script=layers.labels["serving.entry-script"],
            labels=layers.labels,
            extra={"input_mode": mode},
        )
        repository, label = parse_image_tag(record.tag)
        image.tag(repository, label)
        return record
