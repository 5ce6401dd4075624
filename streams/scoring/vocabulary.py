"""The words of the interaction contract: journey stages, channels, dimensions and event types.

Everything here is data. The JSON Schema in `schemas/` and the generator use the same lists.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "CHANNELS",
    "DEFAULT_DIMENSIONS",
    "DIMENSIONS",
    "EVENT_TYPES",
    "INDIRECT_CHANNELS",
    "INTERACTIONS",
    "PHYSICAL_CHANNELS",
    "STAGES",
    "EventKind",
    "default_stage",
]

#: Customer journey stages, in journey order.
STAGES: Final = ("awareness", "consideration", "purchase", "usage", "repurchase", "leaving")

#: Touchpoints.
CHANNELS: Final = (
    "web",
    "app",
    "email",
    "sms",
    "phone",
    "chat",
    "store",
    "staff",
    "social",
    "ads",
    "review_site",
    "delivery",
    "other",
)

#: Touchpoints where the customer meets the brand through others (ads, reviews, social posts).
INDIRECT_CHANNELS: Final = frozenset({"social", "ads", "review_site"})

#: Touchpoints in the physical environment; every other channel is digital.
PHYSICAL_CHANNELS: Final = frozenset({"store", "staff", "delivery"})

INTERACTIONS: Final = ("direct", "indirect")

#: Schmitt's five strategic experiential modules.
DIMENSIONS: Final = ("sense", "feel", "think", "act", "relate")


class EventKind:
    """Families of event types, used for documentation and the generator."""

    JOURNEY: Final = "journey"
    COMMERCIAL: Final = "commercial"
    SERVICE: Final = "service"
    FRICTION: Final = "friction"
    FEEDBACK: Final = "feedback"


#: Known event types: type -> (family, default journey stage).
EVENT_TYPES: Final[dict[str, tuple[str, str]]] = {
    # journey: the customer finding, considering and using the product
    "ad_impression": (EventKind.JOURNEY, "awareness"),
    "ad_click": (EventKind.JOURNEY, "awareness"),
    "page_view": (EventKind.JOURNEY, "consideration"),
    "product_view": (EventKind.JOURNEY, "consideration"),
    "search": (EventKind.JOURNEY, "consideration"),
    "signup": (EventKind.JOURNEY, "consideration"),
    "login": (EventKind.JOURNEY, "usage"),
    "app_open": (EventKind.JOURNEY, "usage"),
    "feature_used": (EventKind.JOURNEY, "usage"),
    "email_opened": (EventKind.JOURNEY, "usage"),
    "email_unsubscribed": (EventKind.JOURNEY, "usage"),
    "store_visit": (EventKind.JOURNEY, "consideration"),
    "cart_add": (EventKind.JOURNEY, "purchase"),
    "checkout_started": (EventKind.JOURNEY, "purchase"),
    # commercial: money changing hands, in either direction
    "purchase": (EventKind.COMMERCIAL, "purchase"),
    "delivery_completed": (EventKind.COMMERCIAL, "purchase"),
    "subscription_renewed": (EventKind.COMMERCIAL, "repurchase"),
    "return_requested": (EventKind.COMMERCIAL, "usage"),
    "refund_issued": (EventKind.COMMERCIAL, "usage"),
    "subscription_cancelled": (EventKind.COMMERCIAL, "leaving"),
    # service: customer service, one part of the experience
    "ticket_opened": (EventKind.SERVICE, "usage"),
    "ticket_reopened": (EventKind.SERVICE, "usage"),
    "ticket_resolved": (EventKind.SERVICE, "usage"),
    "call_completed": (EventKind.SERVICE, "usage"),
    "call_abandoned": (EventKind.SERVICE, "usage"),
    "chat_completed": (EventKind.SERVICE, "usage"),
    "complaint": (EventKind.SERVICE, "usage"),
    # friction: the product or interface getting in the way (UX)
    "payment_failed": (EventKind.FRICTION, "purchase"),
    "login_failed": (EventKind.FRICTION, "usage"),
    "app_error": (EventKind.FRICTION, "usage"),
    "checkout_slow": (EventKind.FRICTION, "purchase"),
    "delivery_delayed": (EventKind.FRICTION, "purchase"),
    "delivery_failed": (EventKind.FRICTION, "purchase"),
    # feedback: what the customer says, directly or to others
    "nps_response": (EventKind.FEEDBACK, "usage"),
    "csat_response": (EventKind.FEEDBACK, "usage"),
    "ces_response": (EventKind.FEEDBACK, "usage"),
    "review": (EventKind.FEEDBACK, "usage"),
    "social_mention": (EventKind.FEEDBACK, "usage"),
}


#: The experience dimension (Schmitt's modules) an event type speaks to when not given.
DEFAULT_DIMENSIONS: Final[dict[str, str]] = {
    "ad_impression": "sense",
    "ad_click": "think",
    "page_view": "think",
    "product_view": "think",
    "search": "think",
    "signup": "act",
    "login": "act",
    "app_open": "act",
    "feature_used": "act",
    "email_opened": "think",
    "email_unsubscribed": "feel",
    "store_visit": "sense",
    "cart_add": "act",
    "checkout_started": "act",
    "purchase": "act",
    "delivery_completed": "sense",
    "subscription_renewed": "act",
    "return_requested": "act",
    "refund_issued": "act",
    "subscription_cancelled": "act",
    "ticket_opened": "feel",
    "ticket_reopened": "feel",
    "ticket_resolved": "feel",
    "call_completed": "feel",
    "call_abandoned": "feel",
    "chat_completed": "feel",
    "complaint": "feel",
    "payment_failed": "act",
    "login_failed": "act",
    "app_error": "think",
    "checkout_slow": "think",
    "delivery_delayed": "feel",
    "delivery_failed": "feel",
    "nps_response": "relate",
    "csat_response": "feel",
    "ces_response": "think",
    "review": "relate",
    "social_mention": "relate",
}


def default_stage(event_type: str) -> str | None:
    """The journey stage an event type belongs to when the publisher did not say."""
    known = EVENT_TYPES.get(event_type)
    return known[1] if known else None
