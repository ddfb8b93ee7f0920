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
import tempfile
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


def read_pair(options: TlsOptions) -> tuple[bytes, bytes]:
    """The certificate and key of a TLS-on ``options``, each file read once, refused when
    unreadable or when the key does not match the certificate. The bytes read are the
    ones loaded (from a private temporary copy), so what is checked is what is installed."""
    assert options.cert_file and options.key_file
    cert = _read(options.cert_file, "certificate")
    key = _read(options.key_file, "key")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory(prefix="serving-tls-") as tmp:
        cert_copy, key_copy = Path(tmp) / CERT, Path(tmp) / KEY
        write_private(cert_copy, cert)
        write_private(key_copy, key)
        try:
            context.load_cert_chain(str(cert_copy), str(key_copy))
        except ssl.SSLError as exc:
            reason = exc.reason or str(exc)
            raise UserInputError(
                f"the TLS key {options.key_file!r} does not match the certificate "
                f"{options.cert_file!r} or is not PEM ({reason})"
            ) from None
    return cert, key


def check(options: TlsOptions) -> None:
    """:func:`read_pair` when TLS is on."""
    if options.cert_file and options.key_file:
        read_pair(options)


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
    cert, key = read_pair(options)
    write_private(where.cert, cert, container=container)
    write_private(where.key, key, container=container)
    return where
