"""Synthetic, realistic customer journeys for demos, tests and benchmarks.

Each customer follows a persona (a loyal promoter, a customer whose tickets drag on, a failed
delivery, one who goes quiet, ...). The same seed gives the same messages, whatever the rate.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from streams.scoring.interaction import format_time
from streams.security import client_options
from streams.settings import Settings

__all__ = [
    "PERSONAS",
    "GeneratorConfig",
    "GeneratorReport",
    "JourneyGenerator",
    "profiles",
    "publish",
]

DAY: Final = 86400.0


@dataclass(frozen=True, slots=True)
class GeneratorConfig:
    customers: int = 200
    rate: float = 50.0  # events per second; 0 = as fast as possible
    duration: float | None = None  # seconds of publishing
    events: int | None = None  # stop after this many interaction messages
    seed: int = 7
    invalid_ratio: float = 0.0  # share of deliberately malformed messages
    unkeyed_ratio: float = 0.05  # share published without a key, as some publishers do
    backfill_days: float = 0.0  # > 0: event times spread over the last N days, not "now"
    id_prefix: str = "C-"

    @property
    def planned(self) -> int:
        """Events planned (for backfill pacing and progress)."""
        return self.events if self.events is not None else self.customers * 20


@dataclass(frozen=True, slots=True)
class GeneratorReport:
    profiles: int
    events: int
    invalid: int
    seconds: float


# A step is an event type and the extra fields it carries; scripts are lists of steps. `LOOP`
# marks where a persona's script repeats from; a script without it ends (the customer stops).
Step = tuple[str, dict[str, Any]]
LOOP: Final[Step] = ("<loop>", {})


def _s(kind: str, **fields: Any) -> Step:
    return (kind, fields)


_LOYAL: Final = [
    LOOP,
    _s("login", channel="app"),
    _s("feature_used", channel="app"),
    _s("product_view", channel="web"),
    _s("purchase", channel="web", amount=(20, 180)),
    _s("delivery_completed", channel="delivery"),
    _s("app_open", channel="app"),
    _s("nps_response", channel="email", nps=(9, 10)),
    _s("login", channel="app"),
    _s("review", channel="review_site", rating=(4, 5), sentiment=(0.5, 1.0)),
    _s("subscription_renewed", channel="web", amount=(90, 120)),
]
_STEADY: Final = [
    LOOP,
    _s("login", channel="web"),
    _s("page_view", channel="web"),
    _s("feature_used", channel="app"),
    _s("email_opened", channel="email"),
    _s("purchase", channel="store", amount=(10, 90)),
    _s("ticket_opened", channel="chat", ticket=True),
    _s("ticket_resolved", channel="chat", ticket=True, resolution_seconds=(1800, 20000)),
    _s("csat_response", channel="chat", csat=(4, 5)),
    _s("nps_response", channel="email", nps=(7, 8)),
]
_DRIFTING: Final = [
    _s("login", channel="web"),
    _s("purchase", channel="web", amount=(40, 300)),
    _s("app_error", channel="app"),
    _s("ticket_opened", channel="chat", ticket=True),
    _s("login_failed", channel="app"),
    _s("ticket_reopened", channel="phone", ticket=True),
    _s("complaint", channel="phone", text="Still waiting for a fix after two calls."),
    _s("csat_response", channel="phone", csat=(1, 2)),
    _s("ces_response", channel="email", ces=(1, 3)),
    _s("ticket_resolved", channel="chat", ticket=True, resolution_seconds=(4 * DAY, 7 * DAY)),
    _s("nps_response", channel="email", nps=(0, 5)),
    _s("refund_issued", channel="web", amount=(40, 300)),
    _s("subscription_cancelled", channel="web"),
]
_DELIVERY_FAILURE: Final = [
    _s("login", channel="app"),
    _s("purchase", channel="app", amount=(30, 250)),
    _s("delivery_delayed", channel="delivery"),
    _s("delivery_failed", channel="delivery"),
    _s("complaint", channel="chat", text="The parcel never arrived."),
    _s("nps_response", channel="email", nps=(0, 4)),
    _s("review", channel="review_site", rating=(1, 2), sentiment=(-1.0, -0.4)),
    _s("return_requested", channel="web"),
    LOOP,
    _s("login", channel="app"),
    _s("page_view", channel="web"),
]
_GOES_SILENT: Final = [_s("login", channel="app")] * 4 + [
    _s("feature_used", channel="app"),
    _s("login", channel="app"),
    _s("feature_used", channel="app"),
    _s("login", channel="app"),
]
_RECOVERING: Final = [
    _s("login", channel="app"),
    _s("payment_failed", channel="web"),
    _s("app_error", channel="app"),
    _s("ticket_opened", channel="chat", ticket=True),
    _s("ticket_resolved", channel="chat", ticket=True, resolution_seconds=(600, 3000)),
    _s("csat_response", channel="chat", csat=(5, 5)),
    _s("purchase", channel="web", amount=(20, 120)),
    _s("nps_response", channel="email", nps=(9, 10)),
    *_LOYAL,
]
_HIGH_VALUE: Final = [
    _s("login", channel="web"),
    _s("purchase", channel="staff", amount=(2000, 9000)),
    _s("complaint", channel="staff", text="Invoice was wrong again."),
    _s("nps_response", channel="email", nps=(6, 6)),
    *_STEADY,
]

#: persona -> (share of customers, script, profile tier, lifetime value range)
PERSONAS: Final[dict[str, tuple[float, list[Step], str, tuple[float, float]]]] = {
    "loyal": (0.40, _LOYAL, "gold", (2_000, 9_000)),
    "steady": (0.30, _STEADY, "standard", (200, 2_000)),
    "drifting": (0.09, _DRIFTING, "silver", (300, 3_000)),
    "delivery_failure": (0.06, _DELIVERY_FAILURE, "standard", (100, 1_500)),
    "goes_silent": (0.06, _GOES_SILENT, "standard", (100, 1_000)),
    "recovering": (0.05, _RECOVERING, "silver", (500, 4_000)),
    "high_value": (0.04, _HIGH_VALUE, "platinum", (20_000, 120_000)),
}
_SEGMENTS: Final = ("consumer", "consumer", "smb", "enterprise")
_REGIONS: Final = ("eu-west", "eu-central", "us-east", "us-west", "apac")


def _personas(config: GeneratorConfig) -> list[str]:
    rng = random.Random(f"{config.seed}:personas")
    names = list(PERSONAS)
    weights = [PERSONAS[n][0] for n in names]
    return rng.choices(names, weights, k=config.customers)


def profiles(config: GeneratorConfig) -> Iterator[dict[str, Any]]:
    """One profile per customer, matching their persona."""
    rng = random.Random(f"{config.seed}:profiles")
    for i, persona in enumerate(_personas(config)):
        _, _, tier, (low, high) = PERSONAS[persona]
        yield {
            "customer_id": f"{config.id_prefix}{i:06d}",
            "segment": "enterprise" if persona == "high_value" else rng.choice(_SEGMENTS),
            "tier": tier,
            "lifetime_value": round(rng.uniform(low, high), 2),
            "currency": rng.choice(("EUR", "USD")),
            "region": rng.choice(_REGIONS),
        }


class JourneyGenerator:
    """Interaction messages, customer by customer along their persona's script."""

    def __init__(self, config: GeneratorConfig, start: datetime) -> None:
        self.config = config
        self.start = start.timestamp()
        self.rng = random.Random(config.seed)
        self.personas = _personas(config)
        self.position = [0] * config.customers
        self.tickets = [0] * config.customers
        self.active = list(range(config.customers))
        self.sent = 0
        self.invalid = 0

    def _event_time(self, now: datetime) -> float:
        if self.config.backfill_days <= 0:
            return now.timestamp()
        span = self.config.backfill_days * DAY
        return self.start - span + span * min(self.sent, self.config.planned) / self.config.planned

    def _next_step(self, customer: int) -> Step | None:
        script = PERSONAS[self.personas[customer]][1]
        at = self.position[customer]
        if at >= len(script):
            if LOOP not in script:
                return None
            at = script.index(LOOP)
        step = script[at]
        self.position[customer] = at + 1
        return self._next_step(customer) if step is LOOP else step

    def _fields(self, customer: int, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
        rng = self.rng
        out: dict[str, Any] = {}
        for name, value in spec.items():
            if name == "ticket":
                if kind == "ticket_opened":
                    self.tickets[customer] += 1
                out["ticket_id"] = f"T-{customer:06d}-{max(self.tickets[customer], 1)}"
            elif isinstance(value, tuple):
                low, high = value
                if isinstance(low, int) and isinstance(high, int) and name != "amount":
                    out[name] = rng.randint(low, high)
                else:
                    out[name] = round(rng.uniform(low, high), 2)
            else:
                out[name] = value
        if "amount" in out:
            out["currency"] = "EUR"
        return out

    def next_message(self, now: datetime) -> tuple[bytes | None, bytes]:
        """The next (key, value) to publish; `now` is the wall clock in live mode."""
        config, rng = self.config, self.rng
        if config.invalid_ratio and rng.random() < config.invalid_ratio:
            self.invalid += 1
            self.sent += 1
            return None, self._malformed(now)
        while True:
            if not self.active:  # every script ended: start everyone over
                self.active = list(range(config.customers))
                self.position = [0] * config.customers
            slot = rng.randrange(len(self.active))
            customer = self.active[slot]
            step = self._next_step(customer)
            if step is not None:
                break
            self.active[slot] = self.active[-1]
            self.active.pop()
        kind, spec = step
        customer_id = f"{config.id_prefix}{customer:06d}"
        event = {
            "event_id": f"evt-{config.seed}-{self.sent:012d}",
            "customer_id": customer_id,
            "occurred_at": format_time(self._event_time(now)),
            "type": kind,
            **self._fields(customer, kind, spec),
        }
        self.sent += 1
        key = None if rng.random() < config.unkeyed_ratio else customer_id.encode()
        return key, orjson.dumps(event)

    def _malformed(self, now: datetime) -> bytes:
        kind = self.invalid % 7
        base = {
            "event_id": f"bad-{self.config.seed}-{self.sent}",
            "customer_id": f"{self.config.id_prefix}000000",
            "occurred_at": format_time(self._event_time(now)),
            "type": "login",
        }
        if kind == 0:
            return b"{this is not json"
        if kind == 1:
            return orjson.dumps({**base, "text": "caf\u00e9"})[:-5] + b"\xc3"
        if kind == 2:
            return orjson.dumps({k: v for k, v in base.items() if k != "customer_id"})
        if kind == 3:
            return orjson.dumps({**base, "type": "nps_response", "nps": 42})
        if kind == 4:
            return orjson.dumps({**base, "occurred_at": "yesterday"})
        if kind == 5:
            return orjson.dumps({**base, "type": "purchase", "amount": "12.50"})
        return orjson.dumps({**base, "loyalty_points": 12})


async def publish(
    settings: Settings,
    config: GeneratorConfig,
    *,
    progress: Callable[[int, int], None] | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> GeneratorReport:
    """Publish the profiles, then interaction messages at `config.rate`, until done or cancelled.

    Every message is confirmed by the broker before this returns: a failed send raises.
    """
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        **client_options(settings),
        linger_ms=5,
        max_batch_size=256 * 1024,
        acks="all",
        enable_idempotence=True,
    )
    await producer.start()
    started = time.monotonic()
    pending: list[asyncio.Future[Any]] = []
    count = 0
    generator = JourneyGenerator(config, clock())
    try:
        for profile in profiles(config):
            key = profile["customer_id"].encode()
            pending.append(
                await producer.send(settings.topic_customers, orjson.dumps(profile), key=key)
            )
        await asyncio.gather(*pending)
        pending.clear()
        planned = config.events or 0
        last_report = 0.0
        while config.events is None or count < config.events:
            elapsed = time.monotonic() - started
            if config.duration is not None and elapsed >= config.duration:
                break
            if config.rate > 0:
                ahead = count / config.rate - elapsed
                if ahead > 0.005:
                    await asyncio.gather(*pending)
                    pending.clear()
                    await asyncio.sleep(ahead)
            key, value = generator.next_message(clock())
            pending.append(await producer.send(settings.topic_interactions, value, key=key))
            count += 1
            if len(pending) >= 2000:
                await asyncio.gather(*pending)
                pending.clear()
            if progress is not None and elapsed - last_report >= 0.25:
                last_report = elapsed
                progress(count, planned)
    except asyncio.CancelledError:
        pass
    finally:
        try:
            await asyncio.gather(*pending)
        finally:
            await producer.stop()
    if progress is not None:
        progress(count, config.events or 0)
    return GeneratorReport(
        profiles=config.customers,
        events=count,
        invalid=generator.invalid,
        seconds=time.monotonic() - started,
    )
