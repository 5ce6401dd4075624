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
