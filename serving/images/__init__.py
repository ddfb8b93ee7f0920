"""Model images: build context -> Dockerfile -> docker build -> recorded image.

* :func:`bootstrap_base` makes a base image with no registry (Debian via mmdebstrap).
* :class:`ImageBuilder` builds model images in cache order (base, runtime flavour,
  environment, platform code, models, score.py) and records them in ``ws.images``.
* :func:`package_image` writes the same thing as an inspectable build context instead.

Nothing here talks to Docker at import; the ``docker`` SDK client is made on first use.
"""

from serving.images.bootstrap import BaseImage, bootstrap_base
from serving.images.build import BuiltImage, ImageBuilder
from serving.images.engine import docker_client
from serving.images.errors import ImageBuildError, SmokeCheckError
from serving.images.model import BuildRequest
from serving.images.package import PackageResult, package_image

__all__ = [
    "BaseImage",
    "BuildRequest",
    "BuiltImage",
    "ImageBuildError",
    "ImageBuilder",
    "PackageResult",
    "SmokeCheckError",
    "bootstrap_base",
    "docker_client",
    "package_image",
]
