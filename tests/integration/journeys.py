"""Interaction events for the integration tests, timed relative to now."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any


def iso(epoch: float) -> str:
    return (
        datetime.fromtimestamp(epoch, tz=UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


class Journey:
    """Builds one customer's events, an hour apart by default, ending about now."""

    def __init__(self, customer_id: str | None = None, start_hours_ago: float = 48.0) -> None:
        self.customer_id = customer_id or f"C-{uuid.uuid4().hex[:10]}"
        self.t = time.time() - start_hours_ago * 3600
        self.events: list[dict[str, Any]] = []

    def add(self, kind: str, after_hours: float = 1.0, **fields: Any) -> dict[str, Any]:
        self.t += after_hours * 3600
        event = {
            "event_id": f"evt-{uuid.uuid4().hex}",
            "customer_id": self.customer_id,
            "occurred_at": iso(self.t),
            "type": kind,
            **fields,
        }
        self.events.append(event)
        return event


def souring(customer_id: str | None = None) -> Journey:
    j = Journey(customer_id)
    j.add("login", channel="web")
    j.add("purchase", channel="web", amount=89.0, currency="EUR")
    j.add("delivery_failed", 6, channel="delivery")
    j.add("ticket_opened", 1, channel="chat", ticket_id="T-88")
    j.add("complaint", 3, channel="phone", text="Third time the parcel did not arrive.")
    j.add("ticket_reopened", 2, channel="chat", ticket_id="T-88")
    j.add("nps_response", 1, nps=2, channel="email")
    return j


def happy(customer_id: str | None = None) -> Journey:
    j = Journey(customer_id)
    j.add("login", channel="app")
    j.add("purchase", channel="app", amount=35.0, currency="EUR")
    j.add("delivery_completed", 20, channel="delivery")
    j.add("nps_response", 2, nps=10, channel="email")
    j.add("review", 1, channel="review_site", rating=5, sentiment=0.9)
    return j


# --- varied journeys and reorderings, for the fault tests -------------------------------------


def epoch(text: str) -> float:
    """Epoch seconds of an RFC 3339 time such as `iso` writes."""
    return datetime.fromisoformat(text).timestamp()


_GOOD = ("login", "purchase", "delivery_completed", "subscription_renewed", "chat_completed")
_BAD = (
    "complaint",
    "payment_failed",
    "delivery_failed",
    "app_error",
    "return_requested",
    "refund_issued",
    "subscription_cancelled",
    "call_abandoned",
)
_CHANNELS = ("web", "app", "phone", "chat", "email")


def varied(seed: int | str, span_hours: float = 66.0, customer_id: str | None = None) -> Journey:
    """One customer's 6-16 events of many kinds (NPS, CSAT, CES, reviews, tickets resolved and
    reopened, complaints, purchases, failures) at random times, at least a second apart, within
    `span_hours` ending five minutes ago. Souring, happy or mixed; the seed decides the kinds,
    the fields and the times (event ids are always new)."""
    import random

    rng = random.Random(seed)
    end = time.time() - 300.0
    start = end - span_hours * 3600
    p_bad = rng.choice((0.7, 0.45, 0.2, 0.1))
    planned: list[tuple[float, str, dict[str, Any]]] = []

    def bad() -> bool:
        return rng.random() < p_bad

    tickets, size = 0, rng.randint(6, 16)
    while len(planned) < size:
        t = rng.uniform(start, end)
        r = rng.random()
        if r < 0.14:
            nps = rng.randint(0, 4) if bad() else rng.randint(7, 10)
            planned.append((t, "nps_response", {"nps": nps, "channel": "email"}))
        elif r < 0.21:
            csat = rng.randint(1, 2) if bad() else rng.randint(4, 5)
            planned.append((t, "csat_response", {"csat": csat, "channel": "email"}))
        elif r < 0.27:
            ces = rng.randint(1, 3) if bad() else rng.randint(5, 7)
            planned.append((t, "ces_response", {"ces": ces, "channel": "app"}))
        elif r < 0.34:
            rating = rng.randint(1, 2) if bad() else rng.randint(4, 5)
            planned.append((t, "review", {"rating": rating, "channel": "review_site"}))
        elif r < 0.46:
            tickets += 1
            ticket = {"ticket_id": f"T-{tickets}", "channel": "chat"}
            planned.append((t, "ticket_opened", ticket))
            for kind in ("ticket_resolved", "ticket_reopened", "ticket_resolved"):
                t += rng.uniform(0.5, 30.0) * 3600
                if t > end or rng.random() < (0.3 if kind == "ticket_resolved" else 1 - p_bad):
                    break
                planned.append((t, kind, ticket))
        else:
            kind = rng.choice(_BAD) if bad() else rng.choice(_GOOD)
            planned.append((t, kind, {"channel": rng.choice(_CHANNELS)}))
    planned.sort(key=lambda p: p[0])
    journey = Journey(customer_id)
    journey.t = start
    at = start - 1.0
    for t, kind, fields in planned:
        at = max(t, at + 1.0)
        journey.add(kind, (at - journey.t) / 3600, **fields)
    return journey


def late_event(
    journey: Journey, hours_before_newest: float, kind: str = "complaint"
) -> dict[str, Any]:
    """An event of the journey's customer this long before its newest event (not added to it)."""
    newest = max(epoch(e["occurred_at"]) for e in journey.events)
    return {
        "event_id": f"late-{uuid.uuid4().hex}",
        "customer_id": journey.customer_id,
        "occurred_at": iso(newest - hours_before_newest * 3600),
        "type": kind,
        "channel": "phone",
    }


def shuffled_within(
    events: list[dict[str, Any]], lateness_seconds: float, seed: int | str
) -> list[dict[str, Any]]:
    """The events in an arrival order where none comes later than `lateness_seconds` after an
    event that happened after it (each is delayed by a random time up to that bound)."""
    import random

    rng = random.Random(seed)
    delayed = [(epoch(e["occurred_at"]) + rng.uniform(0, lateness_seconds), e) for e in events]
    return [e for _, e in sorted(delayed, key=lambda d: d[0])]


def interleaved(sequences: list[list[dict[str, Any]]], seed: int | str) -> list[dict[str, Any]]:
    """One random merge of the sequences that keeps the order within each."""
    import random

    rng = random.Random(seed)
    tails = [list(reversed(s)) for s in sequences if s]
    merged: list[dict[str, Any]] = []
    while tails:
        (pick,) = rng.choices(range(len(tails)), weights=[len(t) for t in tails])
        merged.append(tails[pick].pop())
        if not tails[pick]:
            tails.pop(pick)
    return merged


# --- reading what came out, for the fault tests -------------------------------------------------


def read_to_end(bootstrap: str, topic: str) -> list[tuple[bytes | None, int, int, bytes]]:
    """Every record of `topic` up to its end offsets as of now, as (key, partition, offset,
    value): unlike `kafka_io.read_until`, it cannot stop short of a partition."""
    import asyncio

    from aiokafka import AIOKafkaConsumer

    async def run() -> list[tuple[bytes | None, int, int, bytes]]:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        await consumer.start()
        try:
            deadline = time.monotonic() + 120
            while not consumer.assignment():
                assert time.monotonic() < deadline, f"no partitions of {topic}"
                await asyncio.sleep(0.1)
            partitions = sorted(consumer.assignment())
            ends = await consumer.end_offsets(partitions)
            out = []
            while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                assert time.monotonic() < deadline, f"cannot read {topic} to its end"
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    out += [(r.key, r.partition, r.offset, r.value) for r in records if r.value]
            return sorted(out, key=lambda r: (r[1], r[2]))
        finally:
            await consumer.stop()

    return asyncio.run(run())


def scored_customers(worker: Any, expected: dict[str, int], timeout: float) -> dict[str, Any]:
    """Each customer's GET /customers/{id} answer, but its `as_of`, once it holds the expected
    number of events (`expected`: customer id -> events); fails the test after `timeout`."""
    import pytest

    bodies: dict[str, Any] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for customer, count in expected.items():
            if customer in bodies:
                continue
            status, body = worker.get(f"/customers/{customer}")
            if status == 200 and body["event_count"] >= count:
                bodies[customer] = {k: v for k, v in body.items() if k != "as_of"}
        if len(bodies) == len(expected):
            return bodies
        assert worker.alive(), worker.log_tail()
        time.sleep(1.0)
    missing = {c: n for c, n in expected.items() if c not in bodies}
    sample = {c: worker.get(f"/customers/{c}") for c in list(missing)[:3]}
    pytest.fail(
        f"{len(missing)} of {len(expected)} customers not fully scored after {timeout:.0f} s; "
        f"for instance {dict(list(missing.items())[:3])} events expected, answers {sample}"
    )
