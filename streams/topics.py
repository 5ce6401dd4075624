"""The topics cx-streams reads and writes: names, partition counts, cleanup policies; creation."""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.partitioner import murmur2

from streams.security import client_options
from streams.settings import Settings

__all__ = [
    "TopicSpec",
    "customer_partition",
    "ensure_topics",
    "key_hash",
    "key_partition",
    "topic_specs",
]

WEEK_MS = 7 * 24 * 3600 * 1000


def key_hash(key: bytes) -> int:
    """What Kafka's default partitioner (the producer's, which keys every topic we write)
    places a record keyed `key` by: its partition is this modulo the topic's partitions."""
    return int(murmur2(key)) & 0x7FFFFFFF


def key_partition(key: bytes, partitions: int) -> int:
    """The partition of a record keyed `key` on a topic of `partitions` partitions."""
    return key_hash(key) % partitions


def customer_partition(customer_id: str, partitions: int) -> int:
    """The partition a record keyed by `customer_id` goes to on a topic of `partitions`."""
    return key_partition(customer_id.encode(), partitions)


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str]
    purpose: str


def topic_specs(settings: Settings) -> list[TopicSpec]:
    """Every topic, with the partitions and configs we create it with."""
    n = settings.partitions
    compacted = {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"}
    week = {"cleanup.policy": "delete", "retention.ms": str(WEEK_MS)}
    return [
        TopicSpec(settings.topic_interactions, n, week, "interaction events in"),
        TopicSpec(settings.topic_customers, n, compacted, "customer profiles in (compacted)"),
        TopicSpec(settings.keyed_topic, n, week, "internal: valid input keyed by customer id"),
        TopicSpec(settings.topic_scores, n, compacted, "score updates out (compacted)"),
        TopicSpec(
            settings.topic_alerts,
            n,
            {"cleanup.policy": "delete", "retention.ms": str(4 * WEEK_MS)},
            "alerts out",
        ),
        TopicSpec(
            settings.topic_dlq,
            max(1, min(n, 3)),
            {
                "cleanup.policy": "delete",
                "retention.ms": str(4 * WEEK_MS),
                "max.message.bytes": "2097152",
            },
            "dead-letter records",
        ),
    ]


async def ensure_topics(settings: Settings) -> list[tuple[TopicSpec, str]]:
    """Create the topics that do not exist; report each as created or existing."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap,
        **client_options(settings),
        client_id=f"{settings.app_id}-admin",
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        specs = topic_specs(settings)
        missing = [s for s in specs if s.name not in existing]
        report = [(s, "exists") for s in specs if s.name in existing]
        for spec in missing:
            try:
                await admin.create_topics(
                    [
                        NewTopic(
                            spec.name,
                            num_partitions=spec.partitions,
                            replication_factor=settings.replication_factor,
                            topic_configs=spec.config,
                        )
                    ]
                )
                report.append((spec, "created"))
            except TopicAlreadyExistsError:
                report.append((spec, "exists"))
        return sorted(report, key=lambda item: specs.index(item[0]))
    finally:
        await admin.close()
