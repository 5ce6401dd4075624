"""Replay dead-letter records: re-publish their original messages to the topic they came from,
after the publisher (or the scorecard) has been fixed.

Only what was on the dead-letter topic when the replay started is read, so a record that fails
again is not replayed twice in one run. Records whose payload was cut are never replayed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streams.contract import parse_time
from streams.deadletter import original_key, original_payload
from streams.security import client_options
from streams.settings import Settings

__all__ = ["ReplayReport", "replay"]


@dataclass(slots=True)
class ReplayReport:
    scanned: int = 0
    replayed: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, why: str) -> None:
        self.skipped[why] = self.skipped.get(why, 0) + 1


async def replay(
    settings: Settings,
    *,
    errors: frozenset[str] | None = None,
    since: float | None = None,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ReplayReport:
    """Re-publish the chosen dead-letter records (by error code, received since) to their source."""
    inputs = {settings.topic_interactions, settings.topic_customers}
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        **client_options(settings),
        enable_auto_commit=False,
        group_id=None,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        **client_options(settings),
        acks="all",
        enable_idempotence=True,
    )
    await consumer.start()
    await producer.start()
    report = ReplayReport()
    try:
        tps = [TopicPartition(settings.topic_dlq, p) for p in await _partitions(settings)]
        if not tps:
            return report
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        start = {tp: await consumer.position(tp) for tp in tps}
        end = await consumer.end_offsets(tps)
        total = sum(end[tp] - start[tp] for tp in tps)
        remaining = {tp for tp in tps if end[tp] > start[tp]}
        pending = []
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, messages in batch.items():
                for message in messages:
                    if message.offset >= end[tp]:
                        remaining.discard(tp)
                        break
                    report.scanned += 1
                    sent = _choose(message.value, errors, since, inputs, report)
                    if sent is not None and not dry_run:
                        topic, key, value, headers = sent
                        pending.append(await producer.send(topic, value, key=key, headers=headers))
                    if sent is not None:
                        report.replayed += 1
                    if message.offset + 1 >= end[tp]:
                        remaining.discard(tp)
            if progress is not None:
                progress(report.scanned, total)
        for future in pending:
            await future
    finally:
        await producer.stop()
        await consumer.stop()
    return report


async def _partitions(settings: Settings) -> list[int]:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap, **client_options(settings)
    )
    await admin.start()
    try:
        (described,) = await admin.describe_topics([settings.topic_dlq])
    finally:
        await admin.close()
    return sorted(p["partition"] for p in described["partitions"])


def _choose(
    value: bytes | None,
    errors: frozenset[str] | None,
    since: float | None,
    inputs: set[str],
    report: ReplayReport,
) -> tuple[str, bytes | None, bytes, list[tuple[str, bytes]]] | None:
    if value is None:
        report.skip("empty record")
        return None
    try:
        record = orjson.loads(value)
        error, source = record["error"], record["source"]
        received = parse_time(record["received_at"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        report.skip("not a dead-letter record")
        return None
    if errors is not None and error not in errors:
        report.skip(f"error {error} not chosen")
        return None
    if since is not None and (received is None or received < since):
        report.skip("received before --since")
        return None
    if record.get("payload_truncated"):
        report.skip("payload was cut")
        return None
    if source.get("topic") not in inputs:
        report.skip("source is not an input topic")
        return None
    headers = [(name, text.encode()) for name, text in (record.get("headers") or {}).items()]
    return source["topic"], original_key(record), original_payload(record), headers
