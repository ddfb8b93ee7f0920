"""The score.py contract: load an entry script, call init() and run(), encode results.

Used by :mod:`serving.server` inside model images, and by image builds for the app layout.
Imports nothing from the platform but :mod:`serving.config` and :mod:`serving.errors`.
"""

from __future__ import annotations

from serving.scoring.exceptions import (
    BadInputError,
    InitFailedError,
    MethodNotAllowedError,
    ResultNotSerializableError,
    RunFailedError,
    ScoringError,
    ScoringTimeoutError,
    ScriptLoadError,
    UnsupportedInputError,
)
from serving.scoring.inputs import (
    ParsedQuery,
    ScoringInput,
    bind_arguments,
    decode_json,
    parse_query,
    parse_query_string,
)
from serving.scoring.layout import (
    CONTAINER_APP_ROOT,
    AppLayout,
    ModelFiles,
    plan_layout,
    write_app_dir,
)
from serving.scoring.loader import EntryScript, InputMode, install_compat_path, load_entry_script
from serving.scoring.scorer import Scorer, ScoringResult, encode_result, is_stream

__all__ = [
    "CONTAINER_APP_ROOT",
    "AppLayout",
    "BadInputError",
    "EntryScript",
    "InitFailedError",
    "InputMode",
    "MethodNotAllowedError",
    "ModelFiles",
    "ParsedQuery",
    "ResultNotSerializableError",
    "RunFailedError",
    "Scorer",
    "ScoringError",
    "ScoringInput",
    "ScoringResult",
    "ScoringTimeoutError",
    "ScriptLoadError",
    "UnsupportedInputError",
    "bind_arguments",
    "decode_json",
    "encode_result",
    "install_compat_path",
    "is_stream",
    "load_entry_script",
    "parse_query",
    "parse_query_string",
    "plan_layout",
    "write_app_dir",
]
