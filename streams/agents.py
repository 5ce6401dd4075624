"""The worker's input handling: validate the input, key it by customer where needed, score it;
the work is in the pure core.

One customer's events, profile and state must share a partition, and publishers do not always
key by customer id. So the worker reads the input topics and an internal keyed topic: a valid
message that already sits on its customer's partition (the publisher keyed it by customer id,
with the usual partitioner, on a topic with as many partitions as ours) is scored where it is
read; any other is forwarded, keyed by customer id, to the internal topic, and scored when it
comes back from there. Bad messages go to the dead-letter topic.

Input arrives a batch at a time below Faust's stream (`streams.intake`); a batch is handled
record by record without waiting on Kafka, its output collected, and settled at the end (see
`streams.batch`) before its offsets may be committed.
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson
from faust.types import TP

from streams import intake
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
from streams.scoring.interaction import Interaction, format_time

if TYPE_CHECKING:
    from streams.app import Processor

__all__ = ["register"]

log = logging.getLogger(__name__)

#: Where a message came from: topic, partition, offset, timestamp in ms (None if unknown).
Source = tuple[str, int, int, int | None]


def register(p: Processor) -> None:
    """Subscribe the worker to its input and handle it in batches; start the silence timer."""
    settings = p.settings
    inputs = p.app.topic(
        settings.topic_interactions,
        settings.topic_customers,
        settings.keyed_topic,
        key_type=bytes,
        value_type=bytes,
    )
    p.app.topics.add(inputs)  # Faust's group, assignment, commits and rebalances cover it
    handling = _Handling(p)
    intake.attach(p.app, frozenset(inputs.topics), settings.batch_size, handling.handle)

    @p.app.timer(interval=settings.silence_check_seconds, name="silence_ticks")  # type: ignore[untyped-decorator]
    async def silence_ticks() -> None:
        """Send a tick to each keyed partition of ours with a customer due to be silent.

        The check runs where that partition's input is handled, in its order, so its state
        writes go to the right changelog partition and never race with events.
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


class _Handling:
    """Handles one batch of input records at a time."""

    def __init__(self, p: Processor) -> None:
        self.p = p
        settings = p.settings
        self.keyed_topic = settings.keyed_topic
        self.handlers: dict[str, Callable[[Batch, TP, Any], None]] = {
            settings.topic_interactions: self.interaction_in,
            settings.topic_customers: self.profile_in,
            settings.keyed_topic: self.keyed_in,
        }
        self.partitions_of: dict[str, int] = {}  # 0: a count unlike the keyed topic's
        self.now = 0.0
        self.stamp = ""

    async def handle(self, records: intake.Records) -> None:
        """Handle a batch and settle it. A handler turns every bad message into a dead-letter
        record; what still escapes is a send Kafka refused: the worker stops then, and reads
        the batch again after a restart (never commit past a loss)."""
        p = self.p
        batch = Batch(p.table, p.decode, p.app)
        self.now = time.time()
        self.stamp = format_time(self.now)  # the batch's updates and alerts share it
        try:
            outbox = batch.outbox
            for tp, tp_records in records.items():
                intake.set_source(tp)  # its sends go in its partition's transaction
                handle = self.handlers[tp.topic]
                for record in tp_records:
                    handle(batch, tp, record)
                    if outbox.full:
                        await outbox.flush()
            intake.set_source(None)
            p.telemetry.flush()
            await batch.settle()  # its output acknowledged, then its states written
        except Exception:
            log.critical(
                "could not publish or settle a batch of %d records; stopping so it is read "
                "again after a restart",
                sum(len(rs) for rs in records.values()),
                exc_info=True,
            )
            logging.shutdown()
            os._exit(70)

    # --- the three inputs ------------------------------------------------------------------

    def interaction_in(self, batch: Batch, tp: TP, record: Any) -> None:
        try:
            parsed = self.parse(record)
            if isinstance(parsed, Rejection):
                self.reject(batch, parsed, record, headers=record.headers)
                return
            body, interaction = parsed
            if self.scored_here(batch, tp, interaction.customer_id):
                self.score(batch, tp, interaction, body, _source(record))
            else:
                self.forward(batch, "interaction", interaction.customer_id, record, body)
        except Exception as exc:  # the worker never dies on one message
            self.reject(batch, _processing_error(exc), record, headers=record.headers)

    def parse(self, record: Any) -> tuple[dict[str, Any], Interaction] | Rejection:
        """An interaction record checked against the event contract, at the batch's clock."""
        settings = self.p.settings
        return parse_interaction(
            record.value,
            record.key,
            now=self.now,
            max_bytes=settings.max_event_bytes,
            future_skew=settings.future_skew_seconds,
            headers=record.headers,
        )

    def profile_in(self, batch: Batch, tp: TP, record: Any) -> None:
        if record.value is None:
            return  # a tombstone on the compacted topic: nothing to forward
        telemetry = self.p.telemetry
        try:
            parsed = parse_profile(
                record.value, record.key, max_bytes=self.p.settings.max_event_bytes
            )
            if isinstance(parsed, Rejection):
                telemetry.profile("dead_lettered")
                self.reject(batch, parsed, record, label="customers")
                return
            body, profile = parsed
            if self.scored_here(batch, tp, profile.customer_id):
                state = batch.load(profile.customer_id, tp.partition)
                batch.changed(apply_profile(state, profile), tp)
            else:
                self.forward(batch, "profile", profile.customer_id, record, body)
            telemetry.profile("accepted")
        except Exception as exc:
            self.reject(batch, _processing_error(exc), record, label="customers")

    def keyed_in(self, batch: Batch, tp: TP, record: Any) -> None:
        envelope: dict[str, Any] = {}
        try:
            envelope = orjson.loads(record.value)
            if envelope["kind"] == "tick":
                self.check_silences(batch, tp, envelope["clock"])
                return
            body = envelope["body"]
            if envelope["kind"] == "profile":
                profile = profile_from_body(body)
                state = batch.load(profile.customer_id, tp.partition)
                batch.changed(apply_profile(state, profile), tp)
                return
            src = _envelope_source(envelope["src"])
            self.score(batch, tp, interaction_from_body(body), body, src)
        except Exception as exc:
            src = _envelope_source(envelope["src"]) if "src" in envelope else _source(record)
            payload = orjson.dumps(envelope["body"]) if "body" in envelope else record.value
            self.dead_letter(batch, _processing_error(exc), src, record.key, payload)

    # --- what they lead to -----------------------------------------------------------------

    def scored_here(self, batch: Batch, tp: TP, customer_id: str) -> bool:
        """Is a record of `tp` on the partition its customer's events are scored from? Then it
        needs no trip through the keyed topic. A keyed publisher's events are all on one
        partition, so either all of a customer's are scored here, in order, or all are
        forwarded, in order."""
        if self.p.pseudonym.enabled:  # keyed by the pseudonym, which is another partition
            return False
        partitions = self.partitions_of.get(tp.topic)
        if partitions is None:
            consumer = self.p.app.consumer
            n = consumer.topic_partitions(tp.topic)
            keyed_n = consumer.topic_partitions(self.keyed_topic)
            if not n or not keyed_n:  # not in the metadata yet: the keyed topic is always right
                return False
            partitions = self.partitions_of[tp.topic] = n if n == keyed_n else 0
        if not partitions:
            return False
        return batch.outbox.key_partition(customer_id.encode(), partitions) == tp.partition

    def forward(
        self, batch: Batch, kind: str, customer_id: str, record: Any, body: dict[str, Any]
    ) -> None:
        p = self.p
        if p.pseudonym.enabled:  # identities stay out of everything downstream
            customer_id = p.pseudonym(customer_id)
            body = {**body, "customer_id": customer_id}
            if kind == "profile":
                body = {k: v for k, v in body.items() if k in _PROFILE_FIELDS_KEPT}
        ts = record.timestamp
        src = [record.topic, record.partition, record.offset, ts / 1000 if ts else None]
        envelope = {"kind": kind, "src": src, "body": body}
        batch.outbox.add(self.keyed_topic, customer_id.encode(), orjson.dumps(envelope))

    def score(
        self, batch: Batch, tp: TP, interaction: Interaction, body: dict[str, Any], src: Source
    ) -> None:
        """Score an interaction read from `src`, whose customer's state lives in `tp`'s
        partition."""
        p, telemetry = self.p, self.p.telemetry
        state = batch.load(interaction.customer_id, tp.partition)
        was = (state.band, state.score) if state is not None else (None, None)
        outcome = score_event(state, interaction, p.card)  # changes the state in place
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
            # cx_events has it as too_late already: counted
            self.dead_letter(batch, rejection, src, key, orjson.dumps(body), counted=True)
            return
        if outcome.status != "scored" or outcome.update is None:
            return
        state = outcome.state
        batch.changed(state, tp)
        key = state.customer_id.encode()
        update = outcome.update
        update["updated_at"] = self.stamp
        batch.outbox.add(p.settings.topic_scores, key, orjson.dumps(update))
        telemetry.score_update(update["score"], max(0.0, self.now - interaction.occurred_at))
        p.index.observe(state.customer_id, state.band, state.score, was=was)
        if interaction.occurred_at > p.clock:
            p.clock = interaction.occurred_at
        p.silence.watch(tp.partition, state.customer_id, silence_deadline(state, p.card))
        self.publish_alerts(batch, key, outcome.alerts)

    def publish_alerts(self, batch: Batch, key: bytes, alerts: list[dict[str, Any]]) -> None:
        topic, telemetry = self.p.settings.topic_alerts, self.p.telemetry
        for alert in alerts:
            alert["published_at"] = self.stamp
            batch.outbox.add(topic, key, orjson.dumps(alert))
            telemetry.alert(alert["kind"], alert["severity"])

    def check_silences(self, batch: Batch, tp: TP, clock: float) -> None:
        """On a tick: customers of this partition whose silence deadline has passed."""
        p = self.p
        partition = tp.partition
        for customer_id in p.silence.pop_due(partition, clock):
            state = batch.load(customer_id, partition)
            if state is None:
                continue
            deadline = silence_deadline(state, p.card)
            if deadline is not None and deadline > clock:  # active since: watch again
                p.silence.watch(partition, customer_id, deadline)
                continue
            outcome = check_silence(state, clock, p.card)
            if outcome.alerts:
                batch.changed(outcome.state, tp)
                self.publish_alerts(batch, customer_id.encode(), outcome.alerts)

    def reject(
        self,
        batch: Batch,
        rejection: Rejection,
        record: Any,
        *,
        label: str = "interactions",
        headers: Any = None,
    ) -> None:
        """Dead-letter an input record as it was read."""
        self.dead_letter(
            batch, rejection, _source(record), record.key, record.value, headers, label=label
        )

    def dead_letter(
        self,
        batch: Batch,
        rejection: Rejection,
        source: Source,
        key: bytes | None,
        payload: bytes | None,
        headers: Any = None,
        *,
        label: str = "interactions",
        counted: bool = False,
    ) -> None:
        topic, partition, offset, timestamp_ms = source
        record = dead_letter(
            rejection,
            topic=topic,
            partition=partition,
            offset=offset,
            timestamp_ms=timestamp_ms,
            key=key,
            payload=payload,
            now=self.now,
            headers=headers,
        )
        batch.outbox.add(self.p.settings.topic_dlq, key, record)
        self.p.telemetry.invalid(rejection.error, label, counted=counted)
        log.debug("dead-lettered %s:%d@%d: %s", topic, partition, offset, rejection.detail)


#: What a profile keeps when ids are pseudonymized: no free-form attributes.
_PROFILE_FIELDS_KEPT = frozenset(
    {"customer_id", "segment", "tier", "lifetime_value", "currency", "region", "since"}
)


def _source(record: Any) -> Source:
    return record.topic, record.partition, record.offset, record.timestamp or None


def _envelope_source(src: list[Any]) -> Source:
    """The source a forwarded record carries: its timestamp in seconds, as Faust gave it."""
    topic, partition, offset, seconds = src
    return topic, partition, offset, round(seconds * 1000) if seconds else None


def _processing_error(exc: BaseException) -> Rejection:
    where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    at = f" at {os.path.basename(where.filename)}:{where.lineno}" if where else ""
    log.exception("processing error")
    return Rejection("processing_error", f"{type(exc).__name__}: {exc}{at}")
