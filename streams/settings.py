"""Every `CX_*` setting in one typed object; nothing else in the package reads the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    """Processor, generator and tooling settings, read from `CX_*` environment variables."""

    model_config = SettingsConfigDict(env_prefix="CX_", extra="ignore", frozen=True)

    # Kafka
    kafka_bootstrap: str = Field(
        "127.0.0.1:9092", description="Comma-separated host:port list of Kafka brokers."
    )
    app_id: str = Field(
        "cx-streams",
        description="Consumer group and prefix of internal topics; one per deployment.",
    )
    topic_interactions: str = "cx.interactions"
    topic_customers: str = "cx.customers"
    topic_scores: str = "cx.scores"
    topic_alerts: str = "cx.alerts"
    topic_dlq: str = "cx.interactions.dlq"
    topic_keyed: str = Field(
        "",
        description="Internal topic of validated events keyed by customer id "
        "(default: '<app_id>.keyed').",
    )
    partitions: int = Field(8, ge=1, le=1024, description="Partitions of the topics we create.")
    replication_factor: int = Field(
        1, ge=1, le=16, description="Replication factor of the topics we create."
    )
    processing_guarantee: Literal["at_least_once", "exactly_once"] = "at_least_once"
    kafka_client_id: str = Field(
        "",
        pattern=r"^[A-Za-z0-9._-]{0,255}$",
        description="Client id of the worker's Kafka clients, for broker quotas, logs and "
        "metrics (default: the app id).",
    )

    # Kafka security: TLS and SASL. Secrets from the environment or from files, never logged.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    kafka_username: str | None = None
    kafka_password: SecretStr | None = None
    kafka_password_file: Path | None = Field(
        None, description="File holding the SASL password (a mounted Secret, say)."
    )
    kafka_ca_file: Path | None = Field(None, description="CA bundle (PEM) to trust for TLS.")
    kafka_cert_file: Path | None = Field(None, description="Client certificate (PEM), mutual TLS.")
    kafka_key_file: Path | None = Field(None, description="Client key (PEM), mutual TLS.")

    # Privacy
    pseudonymize_key: SecretStr | None = Field(
        None,
        description="If set, customer ids are replaced by a keyed hash in everything emitted.",
    )
    pseudonymize_key_file: Path | None = Field(None, description="File holding that key.")

    # Web
    web_port: int = Field(6066, ge=1, le=65535)
    web_bind: str = Field("0.0.0.0", description="Address the HTTP server listens on.")
    web_host: str = Field(
        "127.0.0.1", description="Host name other workers use to reach this one's HTTP server."
    )

    # State
    store: Literal["memory", "rocksdb"] = "memory"
    data_dir: Path = Field(Path("var/cx-streams"), description="Worker data (RocksDB, state).")
    rocksdb_memory_mb: int = Field(
        32,
        ge=4,
        le=65536,
        description="Memory RocksDB may use per state partition (store=rocksdb): half block "
        "cache, half write buffers. Faust's own defaults allow 2 GiB of cache and 192 MiB of "
        "buffers per partition, so a worker's memory grows with its customers.",
    )
    standby_replicas: int = Field(
        1,
        ge=0,
        le=16,
        description="Warm copies of each state partition kept on other workers, so one that "
        "takes over a failed worker's partitions has little changelog left to read (with "
        "the rocksdb store; the memory store reads it all anyway).",
    )

    # Input policy
    max_event_bytes: int = Field(
        65536, ge=256, description="Larger interaction messages go to the dead-letter topic."
    )
    future_skew_seconds: float = Field(
        300.0, ge=0, description="How far in the future an event time may be (clock skew)."
    )

    scorecard: Path | None = Field(
        None, description="TOML scorecard laid over the shipped defaults (weights, thresholds)."
    )

    silence_check_seconds: float = Field(
        30.0, gt=0, description="How often the worker looks for customers who went silent."
    )

    batch_size: int = Field(
        2000,
        ge=1,
        le=100_000,
        description="Most input records the worker handles and settles at once.",
    )

    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("kafka_bootstrap")
    @classmethod
    def _bootstrap_has_ports(cls, value: str) -> str:
        servers = [s.strip() for s in value.split(",") if s.strip()]
        if not servers:
            raise ValueError("needs at least one host:port")
        for server in servers:
            host, _, port = server.rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"{server!r} is not host:port")
        return ",".join(servers)

    @model_validator(mode="after")
    def _security_is_complete(self) -> Settings:
        if self.kafka_security_protocol.startswith("SASL"):
            if not self.kafka_username:
                raise ValueError("kafka_username: required with SASL (CX_KAFKA_USERNAME)")
            if self.kafka_password is None and self.kafka_password_file is None:
                raise ValueError(
                    "kafka_password: required with SASL (CX_KAFKA_PASSWORD or "
                    "CX_KAFKA_PASSWORD_FILE)"
                )
        for name in (
            "kafka_password_file",
            "kafka_ca_file",
            "kafka_cert_file",
            "kafka_key_file",
            "pseudonymize_key_file",
        ):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ValueError(f"{name}: no such file: {path}")
        return self

    def kafka_secret(self) -> str | None:
        """The SASL password, from CX_KAFKA_PASSWORD or the file CX_KAFKA_PASSWORD_FILE."""
        if self.kafka_password is not None:
            return self.kafka_password.get_secret_value()
        if self.kafka_password_file is not None:
            return self.kafka_password_file.read_text().strip()
        return None

    def pseudonym_key(self) -> bytes | None:
        """The key of the customer-id hash, from CX_PSEUDONYMIZE_KEY or its _FILE, if any."""
        if self.pseudonymize_key is not None:
            return self.pseudonymize_key.get_secret_value().encode()
        if self.pseudonymize_key_file is not None:
            return self.pseudonymize_key_file.read_bytes().strip()
        return None

    @property
    def client_id(self) -> str:
        return self.kafka_client_id or self.app_id

    @property
    def keyed_topic(self) -> str:
        return self.topic_keyed or f"{self.app_id}.keyed"

    @property
    def broker_urls(self) -> list[str]:
        return [f"kafka://{server}" for server in self.kafka_bootstrap.split(",")]
