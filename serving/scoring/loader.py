"""Load an entry script the way Azure ML v1 images do, and check its init()/run() contract.

The script is imported from ``<app_root>/<entry_script>`` as the module ``entry_module``,
with the app root and the script's folder on ``sys.path``. The input mode of ``run()`` is
decided once, here: plain (the body as a str), inference-schema (arguments bound by name)
or rawhttp (the request object itself).
"""

from __future__ import annotations

import enum
import importlib.util
import inspect
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from serving.scoring.aliases import install_aliases
from serving.scoring.compat import COMPAT_DIR
from serving.scoring.exceptions import ScriptLoadError

_log = logging.getLogger("serving.scoring")

ENTRY_MODULE = "entry_module"
"""Module name the entry script is imported under (Azure's name)."""

HEADERS_PARAM = "request_headers"
"""A run() parameter with this name receives the request headers as a dict."""

_RAW_MODULE = "azureml.contrib.services.aml_request"


class InputMode(enum.Enum):
    """How a request becomes run()'s arguments."""

    PLAIN = "plain"
    SCHEMA = "inference-schema"
    RAWHTTP = "rawhttp"


@dataclass(frozen=True)
class EntryScript:
    """A loaded entry script and what the server needs to call it."""

    path: Path
    module: ModuleType
    init: Callable[[], object]
    run: Callable[..., object]
    mode: InputMode
    input_params: tuple[inspect.Parameter, ...]
    """run()'s parameters other than ``request_headers``, in order."""
    wants_headers: bool
    """run() has a ``request_headers`` parameter."""


def install_compat_path() -> None:
    """Put the ``azureml`` shims first on ``sys.path`` and the aliases of removed modules
    (:mod:`serving.scoring.aliases`) first on ``sys.meta_path`` (idempotent)."""
    install_aliases()
    entry = str(COMPAT_DIR)
    if entry in sys.path:
        sys.path.remove(entry)
    sys.path.insert(0, entry)


def load_entry_script(app_root: Path, entry_script: str) -> EntryScript:
    """Import ``app_root/entry_script`` as ``entry_module`` and check init() and run().

    Raises :class:`ScriptLoadError` naming the file and what is wrong; an exception raised
    while importing the script is chained to it.
    """
    app_root = Path(app_root).resolve()
    path = (app_root / entry_script).resolve()
    if not path.is_file():
        raise ScriptLoadError(
            f"Entry script {path} does not exist",
            hint="check AZUREML_ENTRY_SCRIPT: it is relative to AML_APP_ROOT and uses '/'",
        )
    for folder in (app_root, path.parent):  # the script's folder ends up first
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    _forget_previous_script()
    module = _import(path)
    init = _module_function(module, path, "init")
    run = _module_function(module, path, "run")
    driver = getattr(module, "driver_module", None)
    if isinstance(driver, ModuleType) and callable(getattr(driver, "run", None)):
        run = driver.run  # Azure calls the driver's init() but the real script's run()
    params, wants_headers = _check_run_signature(run, path)
    mode = _detect_mode(run, path)
    _log.info("Loaded %s: run() input mode is %s", path, mode.value)
    return EntryScript(path, module, init, run, mode, params, wants_headers)


def _import(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(ENTRY_MODULE, path)
    if spec is None or spec.loader is None:
        raise ScriptLoadError(f"Entry script {path} cannot be imported (not a Python file?)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[ENTRY_MODULE] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        sys.modules.pop(ENTRY_MODULE, None)
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise ScriptLoadError(
            f"Importing entry script {path} failed: {type(exc).__name__}: {exc}"
        ) from exc
    return module


def _module_function(module: ModuleType, path: Path, name: str) -> Callable[..., object]:
    func = getattr(module, name, None)
    if func is None:
        raise ScriptLoadError(
            f"Entry script {path} does not define a module-level {name}() function",
            hint="Azure ML entry scripts need both init() and run(data)",
        )
    if not callable(func):
        raise ScriptLoadError(f"Entry script {path}: {name} is not a function")
    return func  # type: ignore[no-any-return]


def _check_run_signature(
    run: Callable[..., object], path: Path
) -> tuple[tuple[inspect.Parameter, ...], bool]:
    try:
        params = list(inspect.signature(run).parameters.values())
    except (TypeError, ValueError) as exc:
        raise ScriptLoadError(f"Entry script {path}: run() has no readable signature") from exc
    allowed = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    bad = [p.name for p in params if p.kind not in allowed]
    if bad:
        raise ScriptLoadError(
            f"Entry script {path}: run() cannot accept positional-only arguments, *args or "
            f"**kwargs (found {', '.join(bad)})"
        )
    wants_headers = any(p.name == HEADERS_PARAM for p in params)
    inputs = tuple(p for p in params if p.name != HEADERS_PARAM)
    if not inputs:
        raise ScriptLoadError(
            f"Entry script {path}: run() needs a parameter for the input data"
            + (" besides request_headers" if wants_headers else "")
        )
    return inputs, wants_headers


def _detect_mode(run: Callable[..., object], path: Path) -> InputMode:
    from inference_schema.schema_util import is_schema_decorated

    raw = _raw_module()
    rawhttp = bool(raw is not None and raw.raw_http_requested())
    schema = bool(is_schema_decorated(run))
    if rawhttp and schema:
        raise ScriptLoadError(
            f"Entry script {path}: run() cannot be decorated with both @rawhttp and @input_schema"
        )
    if rawhttp:
        return InputMode.RAWHTTP
    return InputMode.SCHEMA if schema else InputMode.PLAIN


def _raw_module() -> ModuleType | None:
    return sys.modules.get(_RAW_MODULE)


def _forget_previous_script() -> None:
    """Drop state a previously loaded entry script left in process-wide registries.

    inference-schema keys its schema registry by ``<module>.<function>``, so a new
    ``entry_module.run`` would otherwise inherit the previous script's schema; the
    ``@rawhttp`` flag is process-global too. Only matters when one process loads several
    scripts (tests, the smoke check); a server worker loads exactly one.
    """
    sys.modules.pop(ENTRY_MODULE, None)
    raw = _raw_module()
    if raw is not None:
        raw.reset_raw_http()
    try:
        from inference_schema import schema_util
    except ImportError:  # pragma: no cover - inference-schema is a dependency
        return
    prefix = ENTRY_MODULE + "."
    for registry in (schema_util.__functions_schema__, schema_util.__versions__):
        for key in [k for k in registry if str(k).startswith(prefix)]:
            del registry[key]
