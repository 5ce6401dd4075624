"""Validated inputs of the core: one interaction event, one customer profile."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = ["Interaction", "Profile", "format_time"]


@dataclass(frozen=True, slots=True)
class Interaction:
    """One customer interaction, already validated and enriched (times are epoch seconds)."""

    event_id: str
    customer_id: str
    occurred_at: float
    type: str
    channel: str | None = None
    stage: str | None = None
    interaction: str | None = None
    dimension: str | None = None
    environment: str | None = None
    nps: int | None = None
    csat: int | None = None
    ces: int | None = None
    rating: float | None = None
    sentiment: float | None = None
    ticket_id: str | None = None
    resolution_seconds: float | None = None
    amount: float | None = None


@dataclass(frozen=True, slots=True)
class Profile:
    """What the business knows about a customer, from the compacted profiles topic."""

    customer_id: str
    segment: str | None = None
    tier: str | None = None
    lifetime_value: float | None = None
    region: str | None = None
    raw: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        if self.raw is not None:
            return self.raw
        return {
            "customer_id": self.customer_id,
            "segment": self.segment,
            "tier": self.tier,
            "lifetime_value": self.lifetime_value,
            "region": self.region,
        }


def format_time(epoch_seconds: float) -> str:
    """RFC 3339 in UTC with milliseconds, the form every output of the processor uses."""
    # isoformat truncates to milliseconds, as the strftime form did, in a third of the time
    return datetime.fromtimestamp(epoch_seconds, tz=UTC).isoformat("T", "milliseconds")[:-6] + "Z"
