"""TLS files of an endpoint: check a certificate and key pair, and copy them into the
endpoint's folder the way the keys file is written (0600 in a 0700 folder; for containers
0640 to one group, mounted read-only), never into an image or a record.

A pair is checked by loading it into an :class:`ssl.SSLContext`, which is what the server
(gunicorn) and the balancer (HAProxy, through OpenSSL) do with it, so a key that does not
match its certificate is refused at deploy time with one line rather than by a server that
fails to start. HAProxy wants certificate and key in one PEM: :func:`bundle` makes it
(only the cluster target writes it, into its balancer's folder).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from serving.deploy.spec import TlsOptions
from serving.deploy.toolkit import uris, write_private
from serving.errors import UserInputError

FOLDER = "tls"
CERT = "cert.pem"
KEY = "key.pem"


@dataclass(frozen=True)
class TlsFiles:
    """The endpoint's copies (all 0600, or 0640 to one group for containers)."""

    folder: Path
    cert: Path
    key: Path


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).expanduser().read_bytes()
    except OSError as exc:
        raise UserInputError(f"cannot read the TLS {what} {path!r}: {exc.strerror}") from None


def check_pair(cert_file: str, key_file: str) -> None:
    """Refuse unreadable files and a key that does not match the certificate."""
    _read(cert_file, "certificate")
    _read(key_file, "key")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(str(Path(cert_file).expanduser()), str(Path(key_file).expanduser()))
    except ssl.SSLError as exc:
        reason = exc.reason or str(exc)
        raise UserInputError(
            f"the TLS key {key_file!r} does not match the certificate {cert_file!r} "
            f"or is not PEM ({reason})"
        ) from None


def check(options: TlsOptions) -> None:
    """:func:`check_pair` when TLS is on."""
    if options.cert_file and options.key_file:
        check_pair(options.cert_file, options.key_file)


def files(endpoint_folder: Path) -> TlsFiles:
    """Where an endpoint's TLS files are (whether or not they exist)."""
    folder = endpoint_folder / FOLDER
    return TlsFiles(folder, folder / CERT, folder / KEY)


def bundle(files: TlsFiles) -> bytes:
    """Certificate then key in one PEM, for HAProxy's ``bind ... ssl crt``."""
    return files.cert.read_bytes().rstrip(b"\n") + b"\n" + files.key.read_bytes()


def endpoint_uris(port: int, options: TlsOptions) -> tuple[str, str]:
    """The scoring and swagger URIs of an endpoint on 127.0.0.1:``port``, https with TLS."""
    return uris(port, tls=options.enabled, host=options.cname)


def install(
    options: TlsOptions, endpoint_folder: Path, *, container: bool = False
) -> TlsFiles | None:
    """Copy the pair into ``endpoint_folder/tls`` (checked first); None when TLS is off.
    An update whose source files are gone keeps the copies already installed."""
    if not (options.enabled and options.cert_file and options.key_file):
        return None
    where = files(endpoint_folder)
    sources = (Path(options.cert_file).expanduser(), Path(options.key_file).expanduser())
    if not all(p.exists() for p in sources) and where.cert.exists() and where.key.exists():
        return where
    check(options)
    cert = _read(options.cert_file, "certificate")
    key = _read(options.key_file, "key")
    write_private(where.cert, cert, container=container)
    write_private(where.key, key, container=container)
    return where
