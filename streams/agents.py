"""Thin Faust agents: validate and key the input, then score it; the work is in the pure core.

Two steps because publishers do not always key by customer id: `ingest` validates each message
(bad ones go to the dead-letter topic) and forwards it keyed by customer id to an internal
topic; `score` reads that topic, so one customer's events, profile and state share a partition.
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from typing import TYPE_CHECKING, Any

import orjson
from faust.types import EventT, StreamT

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

if TYPE_CHECKING:
    from streams.app import Processor

__all__ = ["register"]

log = logging.getLogger(__name__)


def register(p: Processor) -> None:
    settings = p.settings
    telemetry = p.telemetry

    async def send_dead_letter(
        rejection: Rejection,
        source: tuple[str, int, int, float | None],
        key: bytes | None,
        payload: bytes | None,
        label: str,
        headers: Any = None,
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
        try:
            # Wait for the broker: the input offset must not be committed before this lands.
            await (await p.dlq.send(key=key, value=record))
        except Exception:
            log.critical(
                "cannot write to the dead-letter topic %s; stopping so the message "
                "is read again after a restart",
                settings.topic_dlq,
                exc_info=True,
            )
            logging.shutdown()
            os._exit(70)
        telemetry.invalid(rejection.error, label)
        log.debug("dead-lettered %s:%d@%d: %s", topic, partition, offset, rejection.detail)

    def source_of(event: EventT[bytes]) -> tuple[str, int, int, float | None]:
        m = event.message
        return m.topic, m.partition, m.offset, m.timestamp

    async def forward(
        kind: str, customer_id: str, event: EventT[bytes], body: dict[str, Any]
    ) -> None:
        if p.pseudonym.enabled:  # identities stay out of everything downstream
            customer_id = p.pseudonym(customer_id)
            body = {**body, "customer_id": customer_id}
            if kind == "profile":
                body = {k: v for k, v in body.items() if k in _PROFILE_FIELDS_KEPT}
        envelope = {"kind": kind, "src": list(source_of(event)), "body": body}
        await p.keyed.send(key=customer_id.encode(), value=orjson.dumps(envelope))

    @p.app.agent(p.interactions, name="ingest", concurrency=1)
    async def ingest(stream: StreamT[bytes]) -> None:
        async for event in stream.events():
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
                        parsed,
                        source_of(event),
                        event.key,
                        event.value,
                        "interactions",
                        event.message.headers,
                    )
                    continue
                body, interaction = parsed
                await forward("interaction", interaction.customer_id, event, body)
            except Exception as exc:  # the worker never dies on one message
                await send_dead_letter(
                    _processing_error(exc),
                    source_of(event),
                    event.key,
                    event.value,
                    "interactions",
                    event.message.headers,
                )

    @p.app.agent(p.customers, name="profiles", concurrency=1)
    async def profiles(stream: StreamT[bytes]) -> None:
        async for event in stream.events():
            if event.value is None:
                continue  # a tombstone on the compacted topic: nothing to forward
            try:
                parsed = parse_profile(event.value, event.key, max_bytes=settings.max_event_bytes)
                if isinstance(parsed, Rejection):
                    telemetry.profile("dead_lettered")
                    await send_dead_letter(
                        parsed, source_of(event), event.key, event.value, "customers"
                    )
                    continue
                body, profile = parsed
                await forward("profile", profile.customer_id, event, body)
                telemetry.profile("accepted")
            except Exception as exc:
                await send_dead_letter(
                    _processing_error(exc), source_of(event), event.key, event.value, "customers"
                )

    @p.app.agent(p.keyed, name="score", concurrency=1)
    async def score(stream: StreamT[bytes]) -> None:
        async for event in stream.events():
            envelope: dict[str, Any] = {}
            try:
                envelope = orjson.loads(event.value)
                if envelope["kind"] == "tick":
                    await check_silences(event.message.partition, envelope["clock"])
                    continue
                body = envelope["body"]
                if envelope["kind"] == "profile":
                    profile = profile_from_body(body)
                    state = apply_profile(p.load(profile.customer_id), profile)
                    p.table[profile.customer_id] = state.to_bytes()
                    continue
                await score_one(
                    interaction_from_body(body), body, envelope, event.message.partition
                )
            except Exception as exc:
                src = envelope.get("src") or source_of(event)
                payload = orjson.dumps(envelope["body"]) if "body" in envelope else event.value
                await send_dead_letter(
                    _processing_error(exc),
                    tuple(src),
                    event.key,
                    payload,
                    "interactions",
                )

    async def score_one(
        interaction: Any, body: dict[str, Any], envelope: dict[str, Any], partition: int
    ) -> None:
        outcome = score_event(p.load(interaction.customer_id), interaction, p.card)
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
                rejection,
                tuple(envelope["src"]),
                key,
                orjson.dumps(body),
                "interactions",
            )
            return
        if outcome.status != "scored" or outcome.update is None:
            return
        now = time.time()
        state = outcome.state
        p.table[state.customer_id] = state.to_bytes()
        key = state.customer_id.encode()
        update = outcome.update
        update["updated_at"] = format_time(now)
        await p.scores.send(key=key, value=orjson.dumps(update))
        telemetry.score_updates.inc()
        telemetry.score.observe(update["score"])
        telemetry.event_lag.observe(max(0.0, now - interaction.occurred_at))
        p.index.observe(state.customer_id, state.band, state.score)
        p.clock = max(p.clock, interaction.occurred_at)
        p.silence.watch(partition, state.customer_id, silence_deadline(state, p.card))
        await publish_alerts(key, outcome.alerts, now)

    async def publish_alerts(key: bytes, alerts: list[dict[str, Any]], now: float) -> None:
        for alert in alerts:
            alert["published_at"] = format_time(now)
            await p.alerts.send(key=key, value=orjson.dumps(alert))
            telemetry.alert(alert["kind"], alert["severity"])

    async def check_silences(partition: int, clock: float) -> None:
        """On a tick: customers of this partition whose silence deadline has passed."""
        for customer_id in p.silence.pop_due(partition, clock):
            state = p.load(customer_id)
            if state is None:
                continue
            deadline = silence_deadline(state, p.card)
            if deadline is not None and deadline > clock:  # active since: watch again
                p.silence.watch(partition, customer_id, deadline)
                continue
            outcome = check_silence(state, clock, p.card)
            if outcome.alerts:
                p.table[customer_id] = outcome.state.to_bytes()
                await publish_alerts(customer_id.encode(), outcome.alerts, time.time())

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


def _processing_error(exc: BaseException) -> Rejection:
    where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    at = f" at {os.path.basename(where.filename)}:{where.lineno}" if where else ""
    log.exception("processing error")
    return Rejection("processing_error", f"{type(exc).__name__}: {exc}{at}")
