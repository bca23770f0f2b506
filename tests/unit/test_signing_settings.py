"""The message-signing settings: all three or none, every file read and checked when the
Celery configuration is built, and every refusal one line naming its variable (the CLI
says it as such, exit 1, no traceback).

Certificates are made here, in tmp_path, with ``cryptography``; the settings are a plain
object with the three fields, as Settings carries them.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from celery import Celery
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kombu.serialization import dumps, loads, registry

from strikeflow.cli.failures import EXIT_FAILED, describe
from strikeflow.workers import signing
from strikeflow.workers.signing import SigningSetupError, celery_overrides, signing_files

KEY, CERT, STORE = (
    "STRIKEFLOW_SIGNING_KEY",
    "STRIKEFLOW_SIGNING_CERT",
    "STRIKEFLOW_SIGNING_CERT_STORE",
)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> SimpleNamespace:
    """A key and certificate trusted by a store, and another pair it does not trust."""
    root = tmp_path_factory.mktemp("pki")
    key, cert = signing.self_signed(root / "own", "fleet")
    other_key, other_cert = signing.self_signed(root / "other", "stranger")
    store = root / "store"
    store.mkdir()
    (store / "fleet.pem").write_bytes(cert.read_bytes())
    return SimpleNamespace(
        root=root, key=key, cert=cert, store=store, other_key=other_key, other_cert=other_cert
    )


@pytest.fixture(autouse=True)
def registry_as_it_was():
    """Celery's setup_security changes kombu's process-wide default serializer and its
    disabled content types: put them back for the tests that follow in this process."""
    kept = (
        registry._default_content_type,
        registry._default_content_encoding,
        registry._default_encode,
        set(registry._disabled_content_types),
    )
    yield
    (
        registry._default_content_type,
        registry._default_content_encoding,
        registry._default_encode,
        disabled,
    ) = kept
    registry._disabled_content_types = disabled


def given(key=None, cert=None, store=None) -> SimpleNamespace:
    return SimpleNamespace(signing_key=key, signing_cert=cert, signing_cert_store=store)


def refusal(settings: SimpleNamespace) -> str:
    with pytest.raises(SigningSetupError) as refused:
        signing_files(settings)
    line = str(refused.value)
    assert "\n" not in line
    assert "Traceback" not in line
    return line


def test_none_set_is_off_and_changes_no_celery_setting():
    assert signing_files(given()) is None
    assert celery_overrides(given()) == {}
    assert celery_overrides(given(" ", "", None)) == {}  # blank is unset


@pytest.mark.parametrize(
    ("present", "missing"),
    [
        ((True, False, False), (CERT, STORE)),
        ((False, True, True), (KEY,)),
        ((True, True, False), (STORE,)),
        ((False, False, True), (KEY, CERT)),
    ],
)
def test_a_partial_combination_names_what_is_missing(pki, present, missing):
    values = [
        p if on else None for p, on in zip((pki.key, pki.cert, pki.store), present, strict=True)
    ]
    line = refusal(given(*values))
    assert line.startswith(" and ".join(missing) + " not set"), line
    assert "together (or none of them)" in line
    assert signing.settings_problem(given(*values)) == line


def test_the_settings_check_opens_no_file(pki, tmp_path):
    unreadable = tmp_path / "key.pem"
    unreadable.write_text("not a key")  # there, so the cheap check passes
    assert signing.settings_problem(given(unreadable, pki.cert, pki.store)) is None
    assert "not a PEM private key" in refusal(given(unreadable, pki.cert, pki.store))


def _pem_ec_key(path: Path) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def _encrypted(pki, path: Path) -> Path:
    key = serialization.load_pem_private_key(pki.key.read_bytes(), password=None)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pass"),
        )
    )
    return path


def _expired(pki, path: Path) -> Path:
    key = serialization.load_pem_private_key(pki.key.read_bytes(), password=None)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "old")])
    past = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(past)
        .not_valid_after(past + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def test_each_unusable_file_is_one_line_naming_its_variable(pki, tmp_path):
    junk = tmp_path / "junk.txt"
    junk.write_text("hello")
    nowhere = tmp_path / "nowhere"
    with_junk = tmp_path / "store-junk"
    with_junk.mkdir()
    (with_junk / "fleet.pem").write_bytes(pki.cert.read_bytes())
    (with_junk / "README").write_text("certificates of the fleet")
    empty = tmp_path / "store-empty"
    empty.mkdir()
    others = tmp_path / "store-others"
    others.mkdir()
    (others / "stranger.pem").write_bytes(pki.other_cert.read_bytes())
    twice = tmp_path / "store-twice"
    twice.mkdir()
    for name in ("a.pem", "b.pem"):
        (twice / name).write_bytes(pki.cert.read_bytes())
    cases = {
        (nowhere, pki.cert, pki.store): (KEY, "no such file"),
        (tmp_path, pki.cert, pki.store): (KEY, "no such file"),  # a directory
        (pki.key, nowhere, pki.store): (CERT, "no such file"),
        (pki.key, pki.cert, nowhere): (STORE, "not a directory of certificates"),
        (pki.key, pki.cert, pki.cert): (STORE, "not a directory of certificates"),
        (junk, pki.cert, pki.store): (KEY, "not a PEM private key"),
        (pki.cert, pki.cert, pki.store): (KEY, "not a PEM private key"),
        (_encrypted(pki, tmp_path / "enc.key"), pki.cert, pki.store): (KEY, "encrypted"),
        (_pem_ec_key(tmp_path / "ec.key"), pki.cert, pki.store): (KEY, "not an RSA key"),
        (pki.key, junk, pki.store): (CERT, "not a PEM certificate"),
        (pki.key, pki.key, pki.store): (CERT, "not a PEM certificate"),
        (pki.key, _expired(pki, tmp_path / "old.pem"), pki.store): (CERT, "expired on 2020-01-02"),
        (pki.other_key, pki.cert, pki.store): (KEY, "not the key of " + CERT),
        (pki.key, pki.cert, with_junk): (STORE, "Invalid certificate"),
        (pki.key, pki.cert, empty): (STORE, "holds no certificate"),
        (pki.key, pki.cert, others): (CERT, "not in " + STORE),
        (pki.key, pki.cert, twice): (STORE, "Duplicate certificate"),
    }
    for values, (variable, says) in cases.items():
        line = refusal(given(*values))
        assert line.startswith(f"{variable}="), (values, line)
        assert says in line, (values, line)
        assert "BEGIN" not in line  # no key or certificate material in the message


def test_an_unreadable_key_says_why(pki, tmp_path, monkeypatch):
    def denied(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", denied)
    line = refusal(given(pki.key, pki.cert, pki.store))
    assert line == f"{KEY}={str(pki.key)!r}: cannot read it (Permission denied)"


def test_the_cli_says_a_refusal_in_one_line_exit_1(pki):
    with pytest.raises(SigningSetupError) as refused:
        signing_files(given(pki.other_key, pki.cert, pki.store))
    line, code = describe(refused.value)
    assert code == EXIT_FAILED
    assert line.startswith(KEY)
    assert "\n" not in line


def test_all_three_sign_tasks_and_control_and_leave_results_and_events_json(pki):
    conf = celery_overrides(given(str(pki.key), str(pki.cert), str(pki.store)))
    assert conf == {
        "task_serializer": "auth",
        "accept_content": ["auth"],
        "result_serializer": "json",
        "result_accept_content": ["json"],
        "event_serializer": "json",
        "security_key": str(pki.key),
        "security_certificate": str(pki.cert),
        "security_cert_store": str(pki.store),
        "security_digest": "sha256",
    }
    # Installed in this process: a body signs, and verifies against the store.
    content_type, encoding, body = dumps([["rec-1"], {}, None], serializer="auth")
    assert content_type == signing.AUTH_CONTENT_TYPE
    assert "rec-1" not in str(body)  # an envelope, base64
    assert loads(body, content_type, encoding, accept={content_type}) == [["rec-1"], {}, None]


def test_the_app_hook_runs_celerys_setup_security_and_refuses_a_lax_configuration(pki):
    from celery.exceptions import ImproperlyConfigured

    conf = celery_overrides(given(pki.key, pki.cert, pki.store))
    app = Celery("sf-signing-test", set_as_current=False)
    app.config_from_object({"broker_url": "memory://", **conf})
    signing.setup_security(sender=app)
    assert registry._default_content_type == signing.AUTH_CONTENT_TYPE  # Celery's setup ran

    lax = Celery("sf-signing-lax", set_as_current=False)
    lax.config_from_object({"broker_url": "memory://", **conf, "accept_content": ["auth", "json"]})
    with pytest.raises(ImproperlyConfigured, match="accept only tasks"):
        signing.setup_security(sender=lax)
    plain = Celery("sf-signing-off", set_as_current=False)
    plain.config_from_object({"broker_url": "memory://"})
    signing.setup_security(sender=plain)  # not signing: nothing to set up
