"""Errors of the image layer (subclasses of :mod:`serving.errors`)."""

from __future__ import annotations

from serving.errors import UserInputError


class ImageBuildError(UserInputError):
    """A Docker build step failed, or the base image is missing or unusable."""


class SmokeCheckError(ImageBuildError):
    """The built image cannot import the entry script or find its init() and run()."""
