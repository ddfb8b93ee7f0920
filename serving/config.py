"""Typed settings. The only module that reads ``os.environ``.

Two groups, kept apart:

* :class:`PlatformSettings` configure the CLI/SDK on the user's machine (``SERVING_*``).
* :class:`ServerSettings` configure one running scoring server. They are read inside a
  deployment (a local process or a container) from ``SERVING_*`` variables and, for the
  Azure ML v1 contract, from the Azure names (``AML_APP_ROOT``, ``AZUREML_ENTRY_SCRIPT``,
  ``SCORING_TIMEOUT_MS``, ``WORKER_COUNT``, ...) so that unchanged images behave the same.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

SUPPORTED_PYTHONS: tuple[str, ...] = ("3.10", "3.11", "3.12")
"""Python versions an environment may pin (what deployments can provide)."""


def _env(environ: Mapping[str, str], *names: str, default: str | None = None) -> str | None:
    for name in names:
        value = environ.get(name)
        if value not in (None, ""):
            return value
    return default


def _int(environ: Mapping[str, str], *names: str, default: int) -> int:
    raw = _env(environ, *names)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        from serving.errors import UserInputError

        raise UserInputError(f"{names[0]} must be an integer, got {raw!r}") from exc


def _float(environ: Mapping[str, str], *names: str, default: float) -> float:
    raw = _env(environ, *names)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        from serving.errors import UserInputError

        raise UserInputError(f"{names[0]} must be a number, got {raw!r}") from exc


def _bool(environ: Mapping[str, str], *names: str, default: bool) -> bool:
    raw = _env(environ, *names)
    if raw is None:
        return default
    return raw.strip().lower() in ("1", "true", "yes", "on")


def _path_text(path: Path | None) -> str | None:
    return None if path is None else str(path)


def is_server_url(text: object) -> bool:
    """Whether a workspace given as text names a server (``http:`` or ``https:``; whether
    it is a valid URL is the client's to say, so a mistyped one is refused, not taken
    for a folder)."""
    return isinstance(text, str) and text.split(":", 1)[0].lower() in ("http", "https")


def default_workspace_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The per-user workspace used when nothing else is configured."""
    environ = os.environ if environ is None else environ
    base = _env(environ, "XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "serving" / "workspace"


@dataclass(frozen=True)
class PlatformSettings:
    """Settings of the CLI and SDK, from ``SERVING_*`` variables."""

    workspace: Path | None = None
    """SERVING_WORKSPACE: the workspace directory (else discovered from the cwd)."""
    workspace_url: str | None = None
    """SERVING_WORKSPACE given as ``http(s)://host:port``: a workspace server (then
    :attr:`workspace` is None)."""
    token: str | None = None
    """SERVING_TOKEN: the workspace server's API token."""
    debug: bool = False
    """SERVING_DEBUG: print tracebacks for errors."""
    python: str | None = None
    """SERVING_PYTHON: interpreter used for local deployments' virtual environments."""
    pip_index_url: str | None = None
    """SERVING_PIP_INDEX_URL: package index used to resolve environments (pip's default else)."""
    base_image: str | None = None
    """SERVING_BASE_IMAGE: base image for model images (default: python:<ver>-slim)."""
    docker_host: str | None = None
    """SERVING_DOCKER_HOST / DOCKER_HOST: the Docker Engine to talk to."""
    envs_dir: Path | None = None
    """SERVING_ENVS_DIR: where local deployments' virtual environments are kept (shared by
    every workspace that points there; default: the workspace's envs/ folder)."""
    log_max_bytes: int = 10 * 2**20
    """SERVING_LOG_MAX_BYTES: size at which a local server's ``server.log`` and a cluster
    supervisor's ``supervisor.log`` are rotated (0: never)."""
    log_backups: int = 3
    """SERVING_LOG_BACKUPS: rotated log files kept (``server.log.1`` ... ``.N``)."""
    autoscale_cooldown_s: float = 60.0
    """SERVING_AUTOSCALE_COOLDOWN_S: how long the load must stay low before a cluster
    endpoint's autoscaler removes replicas (recorded when the endpoint is deployed)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PlatformSettings:
        environ = os.environ if environ is None else environ
        ws = _env(environ, "SERVING_WORKSPACE")
        url = ws if is_server_url(ws) else None
        return cls(
            workspace=Path(ws).expanduser() if ws and not url else None,
            workspace_url=url,
            token=_env(environ, "SERVING_TOKEN"),
            debug=_bool(environ, "SERVING_DEBUG", default=False),
            python=_env(environ, "SERVING_PYTHON"),
            pip_index_url=_env(environ, "SERVING_PIP_INDEX_URL"),
            base_image=_env(environ, "SERVING_BASE_IMAGE"),
            docker_host=_env(environ, "SERVING_DOCKER_HOST", "DOCKER_HOST"),
            envs_dir=Path(envs).expanduser()
            if (envs := _env(environ, "SERVING_ENVS_DIR"))
            else None,
            log_max_bytes=_int(environ, "SERVING_LOG_MAX_BYTES", default=10 * 2**20),
            log_backups=_int(environ, "SERVING_LOG_BACKUPS", default=3),
            autoscale_cooldown_s=_float(environ, "SERVING_AUTOSCALE_COOLDOWN_S", default=60.0),
        )


@dataclass(frozen=True)
class ServerSettings:
    """Settings of one scoring server process tree (gunicorn master and workers)."""

    app_root: Path = Path("/var/azureml-app")
    """AML_APP_ROOT: the app folder; also the working directory."""
    entry_script: str = "score.py"
    """AZUREML_ENTRY_SCRIPT: entry script path relative to the app root, with '/'."""
    source_directory: str | None = None
    """AZUREML_SOURCE_DIRECTORY: basename of the source folder inside the app root."""
    model_dir: Path | None = None
    """AZUREML_MODEL_DIR: one model's version folder, or the azureml-models root."""
    host: str = "0.0.0.0"
    """SERVING_HOST: address to bind."""
    port: int = 5001
    """SERVING_PORT / SERVER_PORT: port to bind (Azure default 5001)."""
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    """SERVING_WORKERS / WORKER_COUNT: gunicorn worker processes (default one per core)."""
    threads: int = 1
    """SERVING_THREADS: threads per worker. 1 (default): one request at a time per worker, with
    keep-alive (``serving.server.worker.KeepAliveWorker``), the fastest for CPU-bound models;
    above 1: gunicorn gthread workers (run() calls stay one at a time per worker)."""
    worker_timeout_s: int = 300
    """WORKER_TIMEOUT: gunicorn worker timeout in seconds (Azure: 300)."""
    scoring_timeout_ms: int = 60000
    """SCORING_TIMEOUT_MS: a run() longer than this answers 504 (0 disables)."""
    max_body_bytes: int = 100 * 1024 * 1024
    """SERVING_MAX_BODY_BYTES: larger request bodies get 413 (default 100 MB)."""
    keys: tuple[str, ...] = ()
    """SERVING_KEYS: comma-separated accepted bearer keys; empty means no auth."""
    keys_file: Path | None = None
    """SERVING_KEYS_FILE: a file of accepted keys (one per line), re-read when replaced."""
    ssl_cert_file: Path | None = None
    """SERVING_SSL_CERT_FILE: PEM certificate (chain); with ``ssl_key_file`` the server
    speaks HTTPS only on its port (docs/tls.md)."""
    ssl_key_file: Path | None = None
    """SERVING_SSL_KEY_FILE: the certificate's PEM private key."""
    auth: str = ""
    """SERVING_AUTH: ``key`` (every /score and /swagger.json request needs a key; no readable
    key at all means every such request gets 401: auth fails closed) or ``none`` (open: the
    explicit marker of a deliberately keyless endpoint). Default (empty): ``key`` when keys
    or a keys file are configured, else ``none``; never empty after construction. Deploy
    targets always set it."""
    service_name: str = "local"
    """SERVICE_NAME: the deployment's name (swagger title, logs)."""
    replica_id: str | None = None
    """SERVING_REPLICA_ID: sent back as x-serving-replica (default: the host name)."""
    metrics_dir: Path | None = None
    """PROMETHEUS_MULTIPROC_DIR: where workers share metrics (created if unset)."""
    access_log: bool = True
    """SERVING_ACCESS_LOG: one JSON line per request."""
    version_header: bool = True
    """SERVER_VERSION_LOG_RESPONSE_ENABLED: send x-ms-server-version."""
    cors_origins: str | None = None
    """AML_CORS_ORIGINS: comma-separated origins allowed by CORS."""
    service_version: str = "1.0"
    """SERVICE_VERSION: the version shown in the generated swagger."""
    service_path_prefix: str = ""
    """SERVICE_PATH_PREFIX: path prefix of the routes in the generated swagger."""
    graceful_timeout_s: int = 30
    """SERVING_GRACEFUL_TIMEOUT: seconds in-flight requests get to finish after SIGTERM."""
    keepalive_s: int = 5
    """SERVING_KEEPALIVE: seconds an idle keep-alive connection stays open."""
    client_timeout_s: int = 30
    """SERVING_CLIENT_TIMEOUT: seconds a request may take to arrive, from its first byte to
    the last byte of its body; a slower client gets 408 and its connection is closed.
    Enforced by the one-thread worker (``threads`` 1), which serves other connections
    meanwhile; gthread workers (``threads`` above 1) have only gunicorn's own limits."""
    buffer_limit_bytes: int = 0
    """SERVING_WORKER_BUFFER_BYTES: bytes of unfinished requests one worker (``threads`` 1)
    holds across all its connections before it refuses more; 0 (default): 256 MiB or twice
    ``max_body_bytes``, whichever is larger. Requests arrive whole before they are served,
    so without a cap many clients each holding back the last byte of a large body would
    fill the worker's memory. While the worker holds more than this, a connection whose
    unfinished request already holds over 64 KiB gets a 503 (``Retry-After: 1``) and is
    closed, freeing its bytes, the next time it sends any; smaller requests (new
    connections' typical ones) are still read and served. Answering at once, rather than
    pausing such connections until memory frees, cannot deadlock: paused large uploads
    could each wait for the others to finish, none finishing before its 408."""
    log_level: str = "INFO"
    """SERVING_LOG_LEVEL / AZUREML_LOG_LEVEL: level of the server's and the script's logs."""
    nocode_framework: str = ""
    """SERVING_NOCODE_FRAMEWORK: ``onnx``, ``sklearn`` or ``tensorflow`` for a no-code
    deployment (the platform's own scorer serves the model in ``model_dir``; no entry
    script); empty (default): the entry script serves."""
    model_name: str = ""
    """SERVING_MODEL_NAME: the served model's name (V2 routes; no-code deployments)."""
    model_version: str = ""
    """SERVING_MODEL_VERSION: the served model's version (V2 routes; no-code deployments)."""
    max_batch_size: int = 0
    """SERVING_MAX_BATCH_SIZE: dynamic batching of tensor-model calls; 0 or 1 (default): off."""
    max_batch_delay_ms: float = 0.0
    """SERVING_MAX_BATCH_DELAY_MS: how long a batch waits for more requests after its first."""
    model_data_dir: Path | None = None
    """SERVING_MODEL_DATA_DIR: the datastore folder ``ModelDataCollector`` records to
    (``--collect-model-data``; docs/data-collection.md); unset (default): it records nothing."""
    model_data_queue: int = 10000
    """SERVING_MODEL_DATA_QUEUE: collected records a worker holds in memory before it drops
    (and counts) new ones rather than slow requests down."""

    @property
    def tls(self) -> bool:
        """Whether the server terminates TLS (both files set)."""
        return self.ssl_cert_file is not None and self.ssl_key_file is not None

    def __post_init__(self) -> None:
        if not self.auth:  # resolved once, so replace() and to_env() carry the decision
            object.__setattr__(self, "auth", "key" if self.keys or self.keys_file else "none")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServerSettings:
        environ = os.environ if environ is None else environ
        model_dir = _env(environ, "AZUREML_MODEL_DIR")
        metrics_dir = _env(environ, "PROMETHEUS_MULTIPROC_DIR")
        keys = _env(environ, "SERVING_KEYS") or ""
        keys_file = _env(environ, "SERVING_KEYS_FILE")
        ssl_cert = _env(environ, "SERVING_SSL_CERT_FILE")
        ssl_key = _env(environ, "SERVING_SSL_KEY_FILE")
        model_data = _env(environ, "SERVING_MODEL_DATA_DIR")
        auth = _env(environ, "SERVING_AUTH", default="key" if keys or keys_file else "none")
        if auth not in ("key", "none"):
            from serving.errors import UserInputError

            raise UserInputError(f"SERVING_AUTH must be 'key' or 'none', got {auth!r}")
        return cls(
            app_root=Path(_env(environ, "AML_APP_ROOT", default="/var/azureml-app") or "."),
            entry_script=_env(environ, "AZUREML_ENTRY_SCRIPT", default="score.py") or "",
            source_directory=_env(environ, "AZUREML_SOURCE_DIRECTORY"),
            model_dir=Path(model_dir) if model_dir else None,
            host=_env(environ, "SERVING_HOST", default="0.0.0.0") or "0.0.0.0",
            port=_int(environ, "SERVING_PORT", "SERVER_PORT", default=5001),
            workers=_int(environ, "SERVING_WORKERS", "WORKER_COUNT", default=os.cpu_count() or 1),
            threads=_int(environ, "SERVING_THREADS", default=1),
            worker_timeout_s=_int(environ, "WORKER_TIMEOUT", default=300),
            scoring_timeout_ms=_int(environ, "SCORING_TIMEOUT_MS", default=60000),
            max_body_bytes=_int(environ, "SERVING_MAX_BODY_BYTES", default=100 * 1024 * 1024),
            keys=tuple(k.strip() for k in keys.split(",") if k.strip()),
            keys_file=Path(keys_file) if keys_file else None,
            ssl_cert_file=Path(ssl_cert) if ssl_cert else None,
            ssl_key_file=Path(ssl_key) if ssl_key else None,
            auth=auth or "none",
            service_name=_env(environ, "SERVICE_NAME", default="local") or "local",
            replica_id=_env(environ, "SERVING_REPLICA_ID"),
            metrics_dir=Path(metrics_dir) if metrics_dir else None,
            access_log=_bool(environ, "SERVING_ACCESS_LOG", default=True),
            version_header=_bool(environ, "SERVER_VERSION_LOG_RESPONSE_ENABLED", default=True),
            cors_origins=_env(environ, "AML_CORS_ORIGINS"),
            service_version=_env(environ, "SERVICE_VERSION", default="1.0") or "1.0",
            service_path_prefix=_env(environ, "SERVICE_PATH_PREFIX", default="") or "",
            graceful_timeout_s=_int(environ, "SERVING_GRACEFUL_TIMEOUT", default=30),
            keepalive_s=_int(environ, "SERVING_KEEPALIVE", default=5),
            client_timeout_s=_int(environ, "SERVING_CLIENT_TIMEOUT", default=30),
            buffer_limit_bytes=_int(environ, "SERVING_WORKER_BUFFER_BYTES", default=0),
            log_level=(
                _env(environ, "SERVING_LOG_LEVEL", "AZUREML_LOG_LEVEL", default="INFO") or "INFO"
            ).upper(),
            nocode_framework=_env(environ, "SERVING_NOCODE_FRAMEWORK", default="") or "",
            model_name=_env(environ, "SERVING_MODEL_NAME", default="") or "",
            model_version=_env(environ, "SERVING_MODEL_VERSION", default="") or "",
            max_batch_size=_int(environ, "SERVING_MAX_BATCH_SIZE", default=0),
            max_batch_delay_ms=_float(environ, "SERVING_MAX_BATCH_DELAY_MS", default=0.0),
            model_data_dir=Path(model_data) if model_data else None,
            model_data_queue=_int(environ, "SERVING_MODEL_DATA_QUEUE", default=10000),
        )

    def to_env(self) -> dict[str, str]:
        """These settings as environment variables; ``from_env(to_env())`` gives them back.

        Deploy targets pass them to the server process (gunicorn master and workers).
        Optional settings that are unset are left out.
        """
        env = {
            "AML_APP_ROOT": str(self.app_root),
            "AZUREML_ENTRY_SCRIPT": self.entry_script,
            "SERVING_HOST": self.host,
            "SERVING_PORT": str(self.port),
            "SERVING_WORKERS": str(self.workers),
            "SERVING_THREADS": str(self.threads),
            "WORKER_TIMEOUT": str(self.worker_timeout_s),
            "SCORING_TIMEOUT_MS": str(self.scoring_timeout_ms),
            "SERVING_MAX_BODY_BYTES": str(self.max_body_bytes),
            "SERVING_KEYS": ",".join(self.keys),
            "SERVING_AUTH": self.auth,
            "SERVICE_NAME": self.service_name,
            "SERVING_ACCESS_LOG": str(self.access_log).lower(),
            "SERVER_VERSION_LOG_RESPONSE_ENABLED": str(self.version_header).lower(),
            "SERVICE_VERSION": self.service_version,
            "SERVICE_PATH_PREFIX": self.service_path_prefix,
            "SERVING_GRACEFUL_TIMEOUT": str(self.graceful_timeout_s),
            "SERVING_KEEPALIVE": str(self.keepalive_s),
            "SERVING_CLIENT_TIMEOUT": str(self.client_timeout_s),
            "SERVING_WORKER_BUFFER_BYTES": str(self.buffer_limit_bytes),
            "SERVING_LOG_LEVEL": self.log_level,
            "SERVING_NOCODE_FRAMEWORK": self.nocode_framework,
            "SERVING_MODEL_NAME": self.model_name,
            "SERVING_MODEL_VERSION": self.model_version,
            "SERVING_MAX_BATCH_SIZE": str(self.max_batch_size),
            "SERVING_MAX_BATCH_DELAY_MS": repr(self.max_batch_delay_ms),
        }
        optional = {
            "AZUREML_SOURCE_DIRECTORY": self.source_directory,
            "AZUREML_MODEL_DIR": None if self.model_dir is None else str(self.model_dir),
            "SERVING_REPLICA_ID": self.replica_id,
            "PROMETHEUS_MULTIPROC_DIR": None if self.metrics_dir is None else str(self.metrics_dir),
            "AML_CORS_ORIGINS": self.cors_origins,
            "SERVING_KEYS_FILE": None if self.keys_file is None else str(self.keys_file),
            "SERVING_SSL_CERT_FILE": _path_text(self.ssl_cert_file),
            "SERVING_SSL_KEY_FILE": _path_text(self.ssl_key_file),
            "SERVING_MODEL_DATA_DIR": _path_text(self.model_data_dir),
            # only when changed: an environment's variables may set it in an image
            "SERVING_MODEL_DATA_QUEUE": None
            if self.model_data_queue == 10000
            else str(self.model_data_queue),
        }
        env.update({name: value for name, value in optional.items() if value is not None})
        return env
