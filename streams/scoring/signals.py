"""What an event says about the experience: signed, weighted impacts on named components.

A signal's `value` is in [-1, 1] (how good or bad), its `weight` how much evidence it is. Survey
answers are read by their standard definitions (see `measures`); negative word of mouth weighs
more than positive, because it spreads faster.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from streams.scoring.interaction import Interaction
from streams.scoring.measures import nps_category

__all__ = ["Signal", "signals_for"]

NEGATIVE_WORD_OF_MOUTH: Final = 1.5


@dataclass(frozen=True, slots=True)
class Signal:
    component: str
    value: float
    weight: float
    reason: str


def _day(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%d")


def _duration(seconds: float) -> str:
    if seconds >= 86400:
        days = seconds / 86400
        return f"{days:.1f} days" if days != 1 else "1 day"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{max(seconds, 0) / 60:.0f} min"


# type -> (component, value, weight, reason template); `{on}` is the event's date, `{ch}` the
# channel phrase ("" or " via chat").
_FIXED: Final[dict[str, tuple[str, float, float, str]]] = {
    "ad_impression": ("engagement", 0.1, 0.05, "Saw an ad on {on}"),
    "ad_click": ("engagement", 0.3, 0.2, "Clicked an ad on {on}"),
    "page_view": ("engagement", 0.3, 0.2, "Visited{ch} on {on}"),
    "product_view": ("engagement", 0.3, 0.2, "Viewed a product{ch} on {on}"),
    "search": ("engagement", 0.3, 0.2, "Searched{ch} on {on}"),
    "signup": ("engagement", 0.5, 0.5, "Signed up{ch} on {on}"),
    "login": ("engagement", 0.3, 0.2, "Logged in{ch} on {on}"),
    "app_open": ("engagement", 0.3, 0.2, "Opened the app on {on}"),
    "feature_used": ("engagement", 0.3, 0.2, "Used the product on {on}"),
    "email_opened": ("engagement", 0.3, 0.1, "Opened an email on {on}"),
    "email_unsubscribed": ("engagement", -0.5, 0.5, "Unsubscribed from emails on {on}"),
    "store_visit": ("engagement", 0.3, 0.3, "Visited a store on {on}"),
    "cart_add": ("engagement", 0.3, 0.2, "Added to cart{ch} on {on}"),
    "checkout_started": ("engagement", 0.3, 0.2, "Started checkout{ch} on {on}"),
    "purchase": ("commercial", 0.5, 1.0, "Purchase{ch} on {on}"),
    "delivery_completed": ("commercial", 0.3, 0.5, "Delivery completed on {on}"),
    "subscription_renewed": ("commercial", 0.8, 1.5, "Subscription renewed on {on}"),
    "return_requested": ("commercial", -0.3, 1.0, "Return requested on {on}"),
    "refund_issued": ("commercial", -0.4, 1.0, "Refund issued on {on}"),
    "subscription_cancelled": ("commercial", -1.0, 3.0, "Subscription cancelled on {on}"),
    "call_completed": ("service", 0.2, 0.5, "Support call completed on {on}"),
    "chat_completed": ("service", 0.2, 0.5, "Support chat completed on {on}"),
    "call_abandoned": ("service", -0.4, 0.7, "Abandoned a support call on {on}"),
    "payment_failed": ("friction", -0.6, 1.0, "Payment failed{ch} on {on}"),
    "login_failed": ("friction", -0.3, 0.5, "Login failed{ch} on {on}"),
    "app_error": ("friction", -0.4, 0.7, "App error on {on}"),
    "checkout_slow": ("friction", -0.3, 0.5, "Slow checkout{ch} on {on}"),
    "delivery_delayed": ("friction", -0.5, 1.0, "Delivery delayed on {on}"),
    "delivery_failed": ("friction", -0.9, 1.5, "Delivery failed on {on}"),
}

_NPS_VALUE: Final = (-1.0, -0.9, -0.8, -0.7, -0.6, -0.5, -0.4, 0.0, 0.2, 0.8, 1.0)
_CSAT_VALUE: Final = (0.0, -1.0, -0.7, -0.3, 0.5, 1.0)


def signals_for(
    event: Interaction, opened_at: float | None, resolution_target: float
) -> list[Signal]:
    """The signals one event carries. `opened_at` is when its ticket opened, if known."""
    on = _day(event.occurred_at)
    found: list[Signal] = []
    fixed = _FIXED.get(event.type)
    if fixed is not None:
        component, value, weight, template = fixed
        ch = f" via {event.channel}" if event.channel else ""
        found.append(Signal(component, value, weight, template.format(on=on, ch=ch)))
    elif event.type.startswith("ticket_") or event.type == "complaint":
        found.extend(_service_signals(event, on, opened_at, resolution_target))

    if event.nps is not None:
        category = nps_category(event.nps)
        found.append(
            Signal(
                "survey",
                _NPS_VALUE[event.nps],
                3.0,
                f"{category.capitalize()} NPS of {event.nps} on {on}",
            )
        )
    if event.csat is not None:
        mood = "satisfied" if event.csat >= 4 else "dissatisfied"
        found.append(
            Signal(
                "survey", _CSAT_VALUE[event.csat], 2.0, f"CSAT of {event.csat}/5 ({mood}) on {on}"
            )
        )
    if event.ces is not None:
        ease = "easy" if event.ces >= 5 else ("hard" if event.ces <= 3 else "neither easy nor hard")
        found.append(
            Signal(
                "survey",
                (event.ces - 4) / 3,
                1.5,
                f"Customer effort {event.ces}/7 ({ease}) on {on}",
            )
        )
    if event.rating is not None:
        value = (event.rating - 3) / 2
        weight = 1.5 * (NEGATIVE_WORD_OF_MOUTH if value < 0 else 1.0)
        where = f" on {event.channel}" if event.channel else ""
        found.append(
            Signal("sentiment", value, weight, f"{event.rating:g}-star review{where} on {on}")
        )
    elif event.sentiment is not None:
        weight = 1.0 * (NEGATIVE_WORD_OF_MOUTH if event.sentiment < 0 else 1.0)
        tone = "Negative" if event.sentiment < 0 else "Positive"
        what = "social mention" if event.type == "social_mention" else "comment"
        found.append(
            Signal(
                "sentiment",
                event.sentiment,
                weight,
                f"{tone} {what} (sentiment {event.sentiment:+.1f}) on {on}",
            )
        )
    return found


def _service_signals(
    event: Interaction, on: str, opened_at: float | None, target: float
) -> list[Signal]:
    ticket = f"Ticket {event.ticket_id}" if event.ticket_id else "A ticket"
    if event.type == "ticket_opened":
        return [Signal("service", -0.3, 1.0, f"{ticket} opened on {on}")]
    if event.type == "ticket_reopened":
        return [Signal("service", -0.7, 1.5, f"{ticket} reopened on {on}")]
    if event.type == "complaint":
        return [
            Signal("service", -0.6, 1.5, f"Complaint on {on}"),
            Signal("sentiment", -0.6, 1.0, f"Complaint on {on}"),
        ]
    if event.type == "ticket_resolved":
        ttr = event.resolution_seconds
        if ttr is None and opened_at is not None:
            ttr = max(0.0, event.occurred_at - opened_at)
        if ttr is None:
            return [Signal("service", 0.2, 0.5, f"{ticket} resolved on {on}")]
        took, goal = _duration(ttr), _duration(target)
        if ttr <= target:
            return [Signal("service", 0.5, 1.0, f"{ticket} resolved in {took}, target {goal}")]
        value = -min(1.0, 0.25 * ttr / target)
        return [Signal("service", value, 1.5, f"{ticket} took {took} to resolve, target {goal}")]
    return []  # other ticket_* types are activity, not signal
