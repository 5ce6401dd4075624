"""The Faust agent: validate the input, key it by customer where needed, score it; the work is
in the pure core.

One customer's events, profile and state must share a partition, and publishers do not always
key by customer id. So one agent reads the input topics and an internal keyed topic: a valid
message that already sits on its customer's partition (the publisher keyed it by customer id,
with the usual partitioner, on a topic with as many partitions as ours) is scored where it is
read; any other is forwarded, keyed by customer id, to the internal topic, and scored when it
comes back from there. Bad messages go to the dead-letter topic. The agent takes its events in
batches and settles a batch (see `streams.batch`) before Faust may commit its offsets.
"""

from __future__ import annotations

import logging
import os
import time
import traceback
import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

import faust.streams as faust_streams
import orjson
from faust import Stream
from faust.types import EventT, StreamT

from streams.batch import Batch
from streams.contract import (
    Rejection,
    interaction_from_body,
    parse_interaction,
    parse_profile,
    profile_from_body,
)
from streams.deadletter import dead_letter
from streams.scoring.engine import apply_profile, check_silence, score_event, silence_deadline
from streams.scoring.interaction import format_time
from streams.topics import customer_partition

if TYPE_CHECKING:
    from streams.app import Processor

__all__ = ["register"]

log = logging.getLogger(__name__)


def register(p: Processor) -> None:
    settings = p.settings
    telemetry = p.telemetry
    batch_size, batch_wait = settings.batch_size, settings.batch_wait_seconds

    def source_of(event: EventT[bytes]) -> tuple[str, int, int, float | None]:
        m = event.message
        return m.topic, m.partition, m.offset, m.timestamp

    async def send_dead_letter(
        batch: Batch,
        rejection: Rejection,
        source: tuple[str, int, int, float | None],
        key: bytes | None,
        payload: bytes | None,
        label: str,
        headers: Any = None,
        *,
        counted: bool = False,
    ) -> None:
        topic, partition, offset, timestamp = source
        record = dead_letter(
            rejection,
            topic=topic,
            partition=partition,
            offset=offset,
            timestamp_ms=int(timestamp * 1000) if timestamp else None,
            key=key,
            payload=payload,
            now=time.time(),
            headers=headers,
        )
        batch.sent(await p.dlq.send(key=key, value=record))
        telemetry.invalid(rejection.error, label, counted=counted)
        log.debug("dead-lettered %s:%d@%d: %s", topic, partition, offset, rejection.detail)

    async def in_batches(
        stream: StreamT[bytes],
        handle: Callable[[Batch, EventT[bytes]], Awaitable[None]],
        agent: str,
    ) -> None:
        """Take the stream's events in batches; Faust acks a batch once it is settled.

        A handler turns every bad message into a dead-letter record; what still escapes it is
        a send Kafka refused. Faust would ack the batch anyway and restart the agent, so the
        worker stops instead and reads the batch again after a restart: never commit past a
        loss.
        """
        events_of = cast(Stream[bytes], stream)  # take_events lives on the concrete class
        async for events in events_of.take_events(batch_size, within=batch_wait):
            batch = Batch(p.table, p.load, _make_current)
            try:
                for event in events:
                    _make_current(event)  # its sends go in its partition's transaction
                    await handle(batch, event)
                await batch.settle()  # its output acknowledged, then its states written
            except Exception:
                log.critical(
                    "%s: could not publish or settle a batch of %d events; stopping so it is "
                    "read again after a restart",
                    agent,
                    len(events),
                    exc_info=True,
                )
                logging.shutdown()
                os._exit(70)

    async def forward(
        batch: Batch, kind: str, customer_id: str, event: EventT[bytes], body: dict[str, Any]
    ) -> None:
        if p.pseudonym.enabled:  # identities stay out of everything downstream
            customer_id = p.pseudonym(customer_id)
            body = {**body, "customer_id": customer_id}
            if kind == "profile":
                body = {k: v for k, v in body.items() if k in _PROFILE_FIELDS_KEPT}
        envelope = {"kind": kind, "src": list(source_of(event)), "body": body}
        batch.sent(await p.keyed.send(key=customer_id.encode(), value=orjson.dumps(envelope)))

    partitions_of: dict[str, list[int]] = {}

    def scored_here(event: EventT[bytes], customer_id: str) -> bool:
        """Is `event` on the partition its customer's events are scored from? Then it needs no
        trip through the keyed topic. A keyed publisher's events are all on one partition, so
        either all of a customer's are scored here, in order, or all are forwarded, in order."""
        if p.pseudonym.enabled:  # keyed by the pseudonym, which is another partition
            return False
        topic = event.message.topic
        partitions = partitions_of.get(topic)
        if partitions is None:
            consumer = p.app.consumer
            n = consumer.topic_partitions(topic)
            keyed_n = consumer.topic_partitions(settings.keyed_topic)
            if not n or not keyed_n:  # not in the metadata yet: the keyed topic is always right
                return False
            partitions = partitions_of[topic] = list(range(n)) if n == keyed_n else []
        if not partitions:
            return False
        return customer_partition(customer_id, partitions) == event.message.partition

    inputs = p.app.topic(
        settings.topic_interactions,
        settings.topic_customers,
        settings.keyed_topic,
        key_type=bytes,
        value_type=bytes,
    )

    @p.app.agent(inputs, name="score", concurrency=1)
    async def score(stream: StreamT[bytes]) -> None:
        await in_batches(stream, handle, "score")

    async def handle(batch: Batch, event: EventT[bytes]) -> None:
        topic = event.message.topic
        if topic == settings.keyed_topic:
            await score_one(batch, event)
        elif topic == settings.topic_customers:
            await profile_one(batch, event)
        else:
            await interaction_one(batch, event)

    async def interaction_one(batch: Batch, event: EventT[bytes]) -> None:
        try:
            parsed = parse_interaction(
                event.value,
                event.key,
                now=time.time(),
                max_bytes=settings.max_event_bytes,
                future_skew=settings.future_skew_seconds,
                headers=event.message.headers,
            )
            if isinstance(parsed, Rejection):
                await send_dead_letter(
                    batch,
                    parsed,
                    source_of(event),
                    event.key,
                    event.value,
                    "interactions",
                    event.message.headers,
                )
                return
            body, interaction = parsed
            if scored_here(event, interaction.customer_id):
                await score_interaction(batch, event, interaction, body, source_of(event))
            else:
                await forward(batch, "interaction", interaction.customer_id, event, body)
        except Exception as exc:  # the worker never dies on one message
            await send_dead_letter(
                batch,
                _processing_error(exc),
                source_of(event),
                event.key,
                event.value,
                "interactions",
                event.message.headers,
            )

    async def profile_one(batch: Batch, event: EventT[bytes]) -> None:
        if event.value is None:
            return  # a tombstone on the compacted topic: nothing to forward
        try:
            parsed = parse_profile(event.value, event.key, max_bytes=settings.max_event_bytes)
            if isinstance(parsed, Rejection):
                telemetry.profile("dead_lettered")
                await send_dead_letter(
                    batch, parsed, source_of(event), event.key, event.value, "customers"
                )
                return
            body, profile = parsed
            if scored_here(event, profile.customer_id):
                batch.changed(apply_profile(batch.load(profile.customer_id), profile), event)
            else:
                await forward(batch, "profile", profile.customer_id, event, body)
            telemetry.profile("accepted")
        except Exception as exc:
            await send_dead_letter(
                batch, _processing_error(exc), source_of(event), event.key, event.value, "customers"
            )

    async def score_one(batch: Batch, event: EventT[bytes]) -> None:
        envelope: dict[str, Any] = {}
        try:
            envelope = orjson.loads(event.value)
            if envelope["kind"] == "tick":
                await check_silences(batch, event, envelope["clock"])
                return
            body = envelope["body"]
            if envelope["kind"] == "profile":
                profile = profile_from_body(body)
                batch.changed(apply_profile(batch.load(profile.customer_id), profile), event)
                return
            src = tuple(envelope["src"])
            await score_interaction(batch, event, interaction_from_body(body), body, src)
        except Exception as exc:
            src = envelope.get("src") or source_of(event)
            payload = orjson.dumps(envelope["body"]) if "body" in envelope else event.value
            await send_dead_letter(
                batch, _processing_error(exc), tuple(src), event.key, payload, "interactions"
            )

    async def score_interaction(
        batch: Batch,
        event: EventT[bytes],
        interaction: Any,
        body: dict[str, Any],
        src: tuple[Any, ...],
    ) -> None:
        """Score an interaction read from `src` (topic, partition, offset, timestamp)."""
        outcome = score_event(batch.load(interaction.customer_id), interaction, p.card)
        telemetry.event(interaction.type, interaction.channel, outcome.status)
        if outcome.status == "too_late":
            lateness = p.card.allowed_lateness_seconds
            rejection = Rejection(
                "too_late",
                f"occurred_at {body['occurred_at']} is more than {lateness:.0f} s older than "
                f"the customer's newest event ({format_time(outcome.state.ref)})",
                path="/occurred_at",
            )
            key = interaction.customer_id.encode()
            await send_dead_letter(
                batch,
                rejection,
                src,
                key,
                orjson.dumps(body),
                "interactions",
                counted=True,  # cx_events has it as too_late already
            )
            return
        if outcome.status != "scored" or outcome.update is None:
            return
        now = time.time()
        state = outcome.state
        batch.changed(state, event)
        key = state.customer_id.encode()
        update = outcome.update
        update["updated_at"] = format_time(now)
        batch.sent(await p.scores.send(key=key, value=orjson.dumps(update)))
        telemetry.score_updates.inc()
        telemetry.score.observe(update["score"])
        telemetry.event_lag.observe(max(0.0, now - interaction.occurred_at))
        p.index.observe(state.customer_id, state.band, state.score)
        p.clock = max(p.clock, interaction.occurred_at)
        p.silence.watch(event.message.partition, state.customer_id, silence_deadline(state, p.card))
        await publish_alerts(batch, key, outcome.alerts, now)

    async def publish_alerts(
        batch: Batch, key: bytes, alerts: list[dict[str, Any]], now: float
    ) -> None:
        for alert in alerts:
            alert["published_at"] = format_time(now)
            batch.sent(await p.alerts.send(key=key, value=orjson.dumps(alert)))
            telemetry.alert(alert["kind"], alert["severity"])

    async def check_silences(batch: Batch, event: EventT[bytes], clock: float) -> None:
        """On a tick: customers of this partition whose silence deadline has passed."""
        partition = event.message.partition
        for customer_id in p.silence.pop_due(partition, clock):
            state = batch.load(customer_id)
            if state is None:
                continue
            deadline = silence_deadline(state, p.card)
            if deadline is not None and deadline > clock:  # active since: watch again
                p.silence.watch(partition, customer_id, deadline)
                continue
            outcome = check_silence(state, clock, p.card)
            if outcome.alerts:
                batch.changed(outcome.state, event)
                await publish_alerts(batch, customer_id.encode(), outcome.alerts, time.time())

    @p.app.timer(interval=settings.silence_check_seconds, name="silence_ticks")  # type: ignore[untyped-decorator]
    async def silence_ticks() -> None:
        """Send a tick to each keyed partition of ours with a customer due to be silent.

        The check runs in the score agent, in that partition's order, so its state writes go
        to the right changelog partition and never race with events.
        """
        consumer = p.app.consumer
        if consumer is None or not p.ready:
            return
        for tp in consumer.assignment():
            if tp.topic != settings.keyed_topic:
                continue
            due = p.silence.next_due(tp.partition)
            if due is not None and due <= p.clock:
                tick = orjson.dumps({"kind": "tick", "clock": p.clock})
                await p.keyed.send(value=tick, partition=tp.partition)


#: What a profile keeps when ids are pseudonymized: no free-form attributes.
_PROFILE_FIELDS_KEPT = frozenset(
    {"customer_id", "segment", "tier", "lifetime_value", "currency", "region", "since"}
)


def _make_current(event: EventT[bytes]) -> None:
    """Make `event` Faust's current event in this task, for the sends and table writes that
    follow.

    Only the task's context variable: `Stream._set_current_event` would also overwrite the
    stream's own attribute, which `take_events` reads to pair each buffered value with its
    event, and so pair a value with the wrong event.
    """
    faust_streams._current_event.set(weakref.ref(event))


def _processing_error(exc: BaseException) -> Rejection:
    where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    at = f" at {os.path.basename(where.filename)}:{where.lineno}" if where else ""
    log.exception("processing error")
    return Rejection("processing_error", f"{type(exc).__name__}: {exc}{at}")
