"""Signed task messages: Celery's ``auth`` serializer, on when three settings are given.

Without it, anyone who can write to the broker's Redis can send any task with any
arguments (``strikeflow.dispatch``, ``submit_order``, ``record_failure``) and a worker
runs it. With STRIKEFLOW_SIGNING_KEY (this process's RSA private key, PEM),
STRIKEFLOW_SIGNING_CERT (its certificate) and STRIKEFLOW_SIGNING_CERT_STORE (a directory
of the certificates this fleet trusts), every task and control message is signed by
its sender and a worker runs only one whose signature verifies against a trusted
certificate; anything else is refused as undecodable (``messages.checked_strategy``)
and the worker carries on. Results and events stay JSON and unsigned: no step trusts a
result (a chain hands each step its input inside the next signed message, outcomes are
read from the database), and events only feed Flower.

``celery_overrides(settings)`` is the configuration, and installs the serializer in this
process when it is on: every app built from ``workers.config.celery_config`` in any
process (workers, beat, Flower, the CLI's senders, the fleet's client) signs and
verifies, as ``broker_reconnect.install`` does for its part. ``setup_security`` is the
app's ``on_after_configure`` handler: Celery's own ``setup_security`` (kombu's default
serializer becomes ``auth``), which objects to a configuration that signs but still
accepts unsigned content (Celery logs a signal handler's error; ``celery_overrides``
never builds such a configuration).

The three settings are all given or none; a missing, unreadable or unfit file is a
``SigningSetupError`` naming its variable, checked once when the configuration is built.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from strikeflow.config import signing_settings_problem
from strikeflow.domain.errors import SetupError

AUTH = "auth"
AUTH_CONTENT_TYPE = "application/data"  # what kombu's registry names the auth serializer
DIGEST = "sha256"
PREFIX = "STRIKEFLOW_"
KEY, CERT, STORE = "signing_key", "signing_cert", "signing_cert_store"
FIELDS = (KEY, CERT, STORE)
# Throwaway certificates (tests, the benchmark, a local fleet) live this long.
THROWAWAY_DAYS = 30


def variable(field: str) -> str:
    return (PREFIX + field).upper()


class SigningSetupError(SetupError, ValueError):
    """A signing setting that cannot be used: one line naming its variable."""


@dataclass(frozen=True)
class SigningFiles:
    """The three files, checked: the key signs what the certificate verifies, and the
    store trusts that certificate."""

    key: Path
    cert: Path
    store: Path


def configured(settings: Any) -> dict[str, str | None]:
    """The three settings of ``settings`` (blank counts as unset)."""
    given = (settings.signing_key, settings.signing_cert, settings.signing_cert_store)
    values: dict[str, str | None] = {}
    for field, value in zip(FIELDS, given, strict=True):
        text = None if value is None else str(value).strip()
        values[field] = text or None
    return values


def settings_problem(settings: Any) -> str | None:
    """What is wrong with the three settings without opening a file, or None
    (``config.signing_settings_problem``)."""
    values = configured(settings)
    return signing_settings_problem(values[KEY], values[CERT], values[STORE])


def signing_files(settings: Any) -> SigningFiles | None:
    """The signing files, each read and checked, or None when signing is off.

    Raises SigningSetupError: a combination or file that cannot sign, or a store that
    would refuse this process's own messages."""
    problem = settings_problem(settings)
    if problem is not None:
        raise SigningSetupError(problem)
    values = configured(settings)
    if values[KEY] is None:
        return None
    files = SigningFiles(Path(str(values[KEY])), Path(str(values[CERT])), Path(str(values[STORE])))
    key = _private_key(files.key)
    cert = _certificate(files.cert, CERT)
    if _public(cert.public_key()) != _public(key.public_key()):
        raise SigningSetupError(
            f"{variable(KEY)}={str(files.key)!r}: not the key of {variable(CERT)}"
            f"={str(files.cert)!r}"
        )
    _check_store(files, cert)
    return files


def celery_overrides(settings: Any) -> dict[str, Any]:
    """The Celery settings that sign every task and control message, or {} when signing
    is off; when on, the serializer is installed in this process first."""
    files = signing_files(settings)
    if files is None:
        return {}
    install(files)
    return {
        "task_serializer": AUTH,
        "accept_content": [AUTH],
        # Unsigned, as they were: see the module's docstring.
        "result_serializer": "json",
        "result_accept_content": ["json"],
        "event_serializer": "json",
        "security_key": str(files.key),
        "security_certificate": str(files.cert),
        "security_cert_store": str(files.store),
        "security_digest": DIGEST,
    }


_installed: SigningFiles | None = None


def install(files: SigningFiles) -> None:
    """Register the ``auth`` serializer for ``files`` in kombu's registry (process-wide,
    as Celery's ``setup_security`` does), once for the same files."""
    global _installed
    if _installed == files:
        return
    from celery.security.serialization import register_auth

    register_auth(files.key.read_text(), None, files.cert.read_text(), str(files.store), DIGEST)
    _installed = files


def setup_security(sender: Any = None, **_: Any) -> None:
    """``app.on_after_configure``: Celery's ``setup_security`` for an app configured to
    sign (ImproperlyConfigured for one that would still accept unsigned messages);
    nothing otherwise."""
    conf = getattr(sender, "conf", None)
    if conf is None or conf.task_serializer != AUTH:
        return
    sender.setup_security(
        allowed_serializers=["json", AUTH],
        key=conf.security_key,
        cert=conf.security_certificate,
        store=conf.security_cert_store,
        digest=conf.security_digest,
        serializer="json",
    )


def _read(path: Path, field: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as unread:
        raise SigningSetupError(
            f"{variable(field)}={str(path)!r}: cannot read it ({unread.strerror or unread})"
        ) from None


def _private_key(path: Path) -> Any:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    shown, pem = f"{variable(KEY)}={str(path)!r}", _read(path, KEY)
    try:
        key = load_pem_private_key(pem, password=None)
    except TypeError:  # a password-protected key
        raise SigningSetupError(f"{shown}: an encrypted key; give it unencrypted") from None
    except ValueError:
        raise SigningSetupError(f"{shown}: not a PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SigningSetupError(f"{shown}: not an RSA key (Celery signs with RSA only)")
    return key


def _certificate(path: Path, field: str) -> Any:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa

    shown, pem = f"{variable(field)}={str(path)!r}", _read(path, field)
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise SigningSetupError(f"{shown}: not a PEM certificate") from None
    if not isinstance(cert.public_key(), rsa.RSAPublicKey):
        raise SigningSetupError(f"{shown}: not an RSA certificate (Celery signs with RSA only)")
    if cert.not_valid_after_utc <= datetime.datetime.now(datetime.UTC):
        raise SigningSetupError(f"{shown}: expired on {cert.not_valid_after_utc:%Y-%m-%d}")
    return cert


def _check_store(files: SigningFiles, cert: Any) -> None:
    """The store as Celery reads it (every file in it a certificate, none twice, none
    expired), holding this process's certificate."""
    from celery.exceptions import SecurityError
    from celery.security.certificate import Certificate, FSCertStore

    shown = f"{variable(STORE)}={str(files.store)!r}"
    try:
        store = FSCertStore(str(files.store))
    except (SecurityError, ValueError, OSError) as unfit:
        first = (str(unfit).strip().splitlines() or [type(unfit).__name__])[0]
        raise SigningSetupError(f"{shown}: {first}") from None
    if not list(store.itercerts()):
        raise SigningSetupError(f"{shown}: holds no certificate")
    own = Certificate(files.cert.read_text())
    try:
        trusted = store[own.get_id()]
    except SecurityError:
        trusted = None
    if trusted is None or _public(trusted.get_pubkey()) != _public(cert.public_key()):
        raise SigningSetupError(
            f"{variable(CERT)}={str(files.cert)!r}: not in {variable(STORE)}: the fleet"
            " would refuse this process's messages"
        )


def _public(key: Any) -> Any:
    return key.public_numbers()


def self_signed(
    directory: Path, name: str, days: int = THROWAWAY_DAYS, serial: int | None = None
) -> tuple[Path, Path]:
    """A throwaway RSA key and self-signed certificate for ``name`` in ``directory``
    (``name.key``, ``name.pem``): for tests, the benchmark and a local fleet only. The
    key file is readable by its owner only."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(serial if serial is not None else x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    key_path, cert_path = directory / f"{name}.key", directory / f"{name}.pem"
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    key_path.touch(mode=0o600)
    key_path.write_bytes(pem)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


def signing_env(key: Path, cert: Path, store: Path) -> Mapping[str, str]:
    """The three settings as environment variables (for a fleet's processes)."""
    return {variable(KEY): str(key), variable(CERT): str(cert), variable(STORE): str(store)}
