"""What the benchmark puts on Kafka and reads back: the preloads, the paced live load of the
latency phase and the alerts it triggers, topic offsets and clean-up."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streams.generator import GeneratorConfig, GeneratorReport, JourneyGenerator, publish
from streams.scoring.interaction import format_time
from streams.settings import Settings

__all__ = [
    "LatencyResult",
    "delete_topics",
    "end_offsets",
    "percentiles",
    "preload_journeys",
    "preload_one_per_customer",
    "run_latency",
]


def _note_every(seconds: float, label: str) -> Callable[[int, int], None]:
    """A progress callback that prints a line at most every `seconds`."""
    started = time.monotonic()
    last = [started]

    def note(done: int, planned: int) -> None:
        now = time.monotonic()
        if now - last[0] < seconds and done < planned:
            return
        last[0] = now
        share = f" / {planned:,} ({100 * done / planned:.0f}%)" if planned else ""
        rate = done / max(now - started, 1e-9)
        print(f"  {label}: {done:,}{share}, {rate:,.0f}/s", flush=True)

    return note


async def preload_journeys(
    settings: Settings, config: GeneratorConfig, clock: datetime
) -> GeneratorReport:
    """The generator's profiles, then its events, as fast as the broker takes them."""
    return await publish(
        settings, config, progress=_note_every(5.0, "preload events"), clock=lambda: clock
    )


async def preload_one_per_customer(
    settings: Settings, customers: int, events_per_customer: int, start: datetime, prefix: str
) -> tuple[int, float]:
    """`events_per_customer` valid events for each of `customers` distinct customers (keyed),
    customer after customer; returns (events, seconds)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        linger_ms=5,
        max_batch_size=256 * 1024,
        acks="all",
        enable_idempotence=True,
    )
    kinds = (("login", "app"), ("feature_used", "app"), ("page_view", "web"))
    base = start.timestamp() - 86400.0
    note = _note_every(5.0, "preload events")
    planned = customers * events_per_customer
    started = time.monotonic()
    sent = 0
    await producer.start()
    pending: list[asyncio.Future[Any]] = []
    try:
        for i in range(customers):
            customer_id = f"{prefix}{i:07d}"
            for n in range(events_per_customer):
                kind, channel = kinds[n % len(kinds)]
                event = {
                    "event_id": f"rdb-{i:07d}-{n}",
                    "customer_id": customer_id,
                    "occurred_at": format_time(base + i * 0.05 + n),
                    "type": kind,
                    "channel": channel,
                }
                value = orjson.dumps(event)
                pending.append(
                    await producer.send(
                        settings.topic_interactions, value, key=customer_id.encode()
                    )
                )
                sent += 1
                if len(pending) >= 2000:
                    await asyncio.gather(*pending)
                    pending.clear()
                    if sent < planned:
                        note(sent, planned)
        await asyncio.gather(*pending)
        pending.clear()
        note(sent, planned)
    finally:
        try:
            await asyncio.gather(*pending)
        finally:
            await producer.stop()
    return sent, time.monotonic() - started


async def _assignment(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """Every partition of the topic `consumer` subscribed to without a group (all of them are
    assigned once its metadata is in)."""
    for _ in range(100):  # a topic just created may take a moment to show in metadata
        assigned = consumer.assignment()
        if assigned:
            return sorted(assigned)
        await asyncio.sleep(0.1)
    raise RuntimeError(f"no partition of {topic!r} was assigned")


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """The end offset of each partition of `topic` (its record count when nothing expired)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(await _assignment(consumer, topic))
        return {tp.partition: int(offset) for tp, offset in ends.items()}
    finally:
        await consumer.stop()


async def delete_topics(bootstrap: str, prefix: str) -> list[str]:
    """Delete every topic whose name starts with `prefix`; returns their names."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="cx-bench-cleanup")
    await admin.start()
    try:
        names = sorted(t for t in await admin.list_topics() if t.startswith(prefix))
        if names:
            await admin.delete_topics(names)
        return names
    finally:
        await admin.close()


def percentiles(values: Iterable[float], points: Iterable[float]) -> dict[str, float]:
    """Nearest-rank percentiles (p50 is a value that was measured), plus count and max."""
    ordered = sorted(values)
    out: dict[str, float] = {"count": float(len(ordered))}
    if not ordered:
        return out
    for p in points:
        rank = max(1, math.ceil(p / 100 * len(ordered)))
        out[f"p{p:g}"] = ordered[rank - 1]
    out["max"] = ordered[-1]
    out["min"] = ordered[0]
    out["mean"] = sum(ordered) / len(ordered)
    return out


@dataclass
class LatencyResult:
    """What the latency phase sent and which alerts came back for it."""

    rate_target: float
    seconds_target: float
    customers: int
    sent: int = 0
    first_send: float = 0.0  # wall clock (time.time())
    last_send: float = 0.0
    behind_at_end: float = 0.0  # seconds the sender was behind its schedule at the end
    alerts_read: int = 0
    alerts_matched: int = 0
    alerts_silent: int = 0
    alerts_other: int = 0  # alerts for events not sent in this phase
    alert_kinds: dict[str, int] = field(default_factory=dict)
    by_timestamp_ms: list[float] = field(default_factory=list)
    by_receipt_ms: list[float] = field(default_factory=list)
    timestamp_types: dict[int, int] = field(default_factory=dict)

    @property
    def achieved_rate(self) -> float:
        span = self.last_send - self.first_send
        return (self.sent - 1) / span if span > 0 and self.sent > 1 else 0.0


async def run_latency(
    settings: Settings,
    config: GeneratorConfig,
    rate: float,
    seconds: float,
    drained: Callable[[int], Awaitable[bool]],
    drain_timeout: float,
    quiet_after: float = 2.0,
) -> LatencyResult:
    """Send `config`'s live events at `rate` per second for `seconds`, reading the alerts
    topic meanwhile; then wait until `drained(sent)` says the worker has read them all and no
    alert came for `quiet_after` seconds. Each event's send time (wall clock, just before
    `send`) is kept by event id; an alert's latency is its record's timestamp (CreateTime,
    set by the worker's producer when it sends the alert) minus that send time, and also its
    receipt time here minus that send time."""
    result = LatencyResult(rate_target=rate, seconds_target=seconds, customers=config.customers)
    sent_at: dict[str, float] = {}
    alerts = AIOKafkaConsumer(
        settings.topic_alerts,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        enable_auto_commit=False,
        fetch_max_wait_ms=50,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True
    )
    await alerts.start()
    await producer.start()
    stop_reading = asyncio.Event()
    last_alert = [time.monotonic()]
    try:
        tps = await _assignment(alerts, settings.topic_alerts)
        await alerts.seek_to_end(*tps)  # only the alerts of this phase: resolve the ends now
        for tp in tps:
            await alerts.position(tp)

        async def read_alerts() -> None:
            while not stop_reading.is_set():
                batch = await alerts.getmany(timeout_ms=100)
                received = time.time()
                for messages in batch.values():
                    for message in messages:
                        result.alerts_read += 1
                        last_alert[0] = time.monotonic()
                        try:
                            alert = orjson.loads(message.value) if message.value else {}
                        except orjson.JSONDecodeError:
                            continue
                        kind = str(alert.get("kind"))
                        result.alert_kinds[kind] = result.alert_kinds.get(kind, 0) + 1
                        if kind == "silent":  # raised by a timer, not by an event
                            result.alerts_silent += 1
                            continue
                        sent = sent_at.get(str(alert.get("trigger_event_id")))
                        if sent is None:
                            result.alerts_other += 1
                            continue
                        result.alerts_matched += 1
                        kind_code = int(message.timestamp_type)
                        result.timestamp_types[kind_code] = (
                            result.timestamp_types.get(kind_code, 0) + 1
                        )
                        result.by_timestamp_ms.append(message.timestamp - sent * 1000)
                        result.by_receipt_ms.append((received - sent) * 1000)

        reader = asyncio.create_task(read_alerts())
        generator = JourneyGenerator(config, datetime.now(UTC))
        pending: list[asyncio.Future[Any]] = []
        started = time.monotonic()
        last_note = started
        total = max(1, round(rate * seconds))
        while result.sent < total:
            now = time.monotonic()
            due = min(total, int((now - started) * rate) + 1)
            while result.sent < due:
                key, value = generator.next_message(datetime.now(UTC))
                event_id = str(orjson.loads(value)["event_id"])
                moment = time.time()
                sent_at[event_id] = moment
                if result.sent == 0:
                    result.first_send = moment
                result.last_send = moment
                pending.append(await producer.send(settings.topic_interactions, value, key=key))
                result.sent += 1
            if len(pending) >= 500:
                await asyncio.gather(*pending)
                pending.clear()
            if now - last_note >= 5:
                last_note = now
                print(
                    f"  latency: {result.sent:,} / {total:,} events sent, "
                    f"{result.alerts_matched:,} alerts back",
                    flush=True,
                )
            if reader.done():
                reader.result()  # raises what stopped the reader
            next_due = started + result.sent / rate
            await asyncio.sleep(max(0.0, min(0.005, next_due - time.monotonic())))
        result.behind_at_end = time.monotonic() - (started + (total - 1) / rate)
        await asyncio.gather(*pending)
        pending.clear()
        deadline = time.monotonic() + drain_timeout
        while time.monotonic() < deadline:
            if reader.done():
                reader.result()
            if await drained(result.sent) and time.monotonic() - last_alert[0] >= quiet_after:
                break
            await asyncio.sleep(0.5)
        else:
            print(
                f"  latency: the worker had not read every event {drain_timeout:.0f} s after "
                "the last was sent; the alerts read so far are counted",
                flush=True,
            )
        stop_reading.set()
        await reader
    finally:
        stop_reading.set()
        await producer.stop()
        await alerts.stop()
    return result
