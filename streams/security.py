"""Kafka connection security from Settings: TLS and SASL (PLAIN, SCRAM), for Faust and for our
own aiokafka clients alike. Secrets come from the environment or files and are never logged."""

from __future__ import annotations

import ssl
from typing import Any

import faust
from aiokafka.helpers import create_ssl_context
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from faust.types.auth import CredentialsT

from streams.settings import Settings

__all__ = ["broker_credentials", "client_options"]


def _ssl_context(settings: Settings) -> ssl.SSLContext:
    context: ssl.SSLContext = create_ssl_context(
        cafile=str(settings.kafka_ca_file) if settings.kafka_ca_file else None,
        certfile=str(settings.kafka_cert_file) if settings.kafka_cert_file else None,
        keyfile=str(settings.kafka_key_file) if settings.kafka_key_file else None,
    )
    return context


def broker_credentials(settings: Settings) -> CredentialsT | None:
    """Faust's credentials for the configured protocol; None for plain connections."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = _ssl_context(settings) if protocol in ("SSL", "SASL_SSL") else None
    if protocol == "SSL":
        return faust.SSLCredentials(context)
    return faust.SASLCredentials(
        username=settings.kafka_username,
        password=settings.kafka_secret(),
        ssl_context=context,
        mechanism=settings.kafka_sasl_mechanism,
    )


def client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for an aiokafka client, the same way Faust connects."""
    return dict(credentials_to_aiokafka_auth(broker_credentials(settings)))
