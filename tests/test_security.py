from pathlib import Path

import pytest
from pydantic import ValidationError

from streams.app import create_processor
from streams.security import client_options
from streams.settings import Settings


def test_plaintext_by_default() -> None:
    assert client_options(Settings()) == {"security_protocol": "PLAINTEXT"}


def test_sasl_scram_over_tls_reaches_the_clients_and_faust(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cret-from-file\n")
    monkeypatch.setenv("CX_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("CX_KAFKA_SASL_MECHANISM", "SCRAM-SHA-256")
    monkeypatch.setenv("CX_KAFKA_USERNAME", "cx")
    monkeypatch.setenv("CX_KAFKA_PASSWORD_FILE", str(secret))
    settings = Settings()
    options = client_options(settings)
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-256"
    assert options["sasl_plain_username"] == "cx"
    assert options["sasl_plain_password"] == "s3cret-from-file"
    assert options["ssl_context"] is not None
    credentials = create_processor(settings).app.conf.broker_credentials
    assert credentials.username == "cx" and credentials.mechanism.value == "SCRAM-SHA-256"


def test_sasl_plain_without_tls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CX_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("CX_KAFKA_SASL_MECHANISM", "PLAIN")
    monkeypatch.setenv("CX_KAFKA_USERNAME", "cx")
    monkeypatch.setenv("CX_KAFKA_PASSWORD", "hunter2")
    options = client_options(Settings())
    assert options["security_protocol"] == "SASL_PLAINTEXT"
    assert options["sasl_mechanism"] == "PLAIN"
    assert options["ssl_context"] is None


def test_tls_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CX_KAFKA_SECURITY_PROTOCOL", "SSL")
    options = client_options(Settings())
    assert options["security_protocol"] == "SSL" and options["ssl_context"] is not None


def test_the_password_is_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CX_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("CX_KAFKA_USERNAME", "cx")
    monkeypatch.setenv("CX_KAFKA_PASSWORD", "hunter2")
    settings = Settings()
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings.model_dump())


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"CX_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "CX_KAFKA_PASSWORD": "x"}, "CX_KAFKA_USERNAME"),
        (
            {"CX_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "CX_KAFKA_USERNAME": "cx"},
            "CX_KAFKA_PASSWORD",
        ),
        ({"CX_KAFKA_CA_FILE": "/nonexistent/ca.pem"}, "kafka_ca_file"),
        ({"CX_KAFKA_SECURITY_PROTOCOL": "KERBEROS"}, "kafka_security_protocol"),
    ],
)
def test_incomplete_security_settings_are_named(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError) as error:
        Settings()
    assert named in str(error.value)
