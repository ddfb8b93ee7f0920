"""The TLS tests clean up as the image tests do: model images and containers recorded in
this session's workspaces are removed at its end."""

from __future__ import annotations

from tests.images.conftest import _remove_session_images

__all__ = ["_remove_session_images"]
