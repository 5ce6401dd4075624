"""Churn-risk rules: bands with hysteresis, which alerts to raise, their severity and action."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from streams.scoring.scorecard import BANDS, Scorecard

__all__ = [
    "RISK_BANDS",
    "SEVERITIES",
    "AlertDecision",
    "decide_alerts",
    "is_high_value",
    "next_band",
    "recommended_action",
]

RISK_BANDS: Final = frozenset({"at_risk", "critical"})
SEVERITIES: Final = ("low", "medium", "high", "critical")
_RANK: Final = {band: i for i, band in enumerate(BANDS)}


def next_band(current: str | None, score: float, card: Scorecard) -> str:
    """The band for `score`, moving up only past the band's floor plus the margin.

    A customer hovering on a line therefore does not flap between two bands.
    """
    floors = card.band_floors
    raw = BANDS[0]
    for band in BANDS:
        if score >= floors[band]:
            raw = band
    if current is None or _RANK[raw] <= _RANK[current]:
        return raw
    climbed = current
    for band in BANDS[_RANK[current] + 1 :]:
        if score >= floors[band] + card.band_margin:
            climbed = band
    return climbed


def is_high_value(profile: dict[str, Any] | None, card: Scorecard) -> bool:
    if not profile:
        return False
    value = profile.get("lifetime_value")
    tier = profile.get("tier")
    return (isinstance(value, int | float) and value >= card.high_value_lifetime_value) or (
        isinstance(tier, str) and tier.lower() in card.high_value_tiers
    )


@dataclass(frozen=True, slots=True)
class AlertDecision:
    kind: str
    severity: str


def _severity(base: int, high_value: bool) -> str:
    return SEVERITIES[min(len(SEVERITIES) - 1, base + (1 if high_value else 0))]


def decide_alerts(
    *,
    previous_band: str | None,
    band: str,
    score: float,
    peak: float | None,
    confidence: float,
    risk_alerted: str | None,
    last_alerts: dict[str, float],
    now: float,
    high_value: bool,
    card: Scorecard,
) -> list[AlertDecision]:
    """Which alerts one score change raises; `now` is the event time of the change."""

    def cooled(kind: str) -> bool:
        last = last_alerts.get(kind)
        return last is None or now - last >= card.cooldown_seconds

    decisions: list[AlertDecision] = []
    if band in RISK_BANDS:
        worse_than_alerted = risk_alerted is None or _RANK[band] < _RANK[risk_alerted]
        escalation = risk_alerted is not None and worse_than_alerted
        if (
            worse_than_alerted
            and confidence >= card.min_alert_confidence
            and (escalation or cooled("churn_risk"))
        ):
            base = 2 if band == "critical" else 1
            if score < card.band_floor("at_risk") / 2:
                base += 1
            decisions.append(AlertDecision("churn_risk", _severity(base, high_value)))
    elif risk_alerted is not None:
        decisions.append(AlertDecision("recovered", _severity(0, False)))

    # A drop matters while the band still looks fine; inside a risk band churn_risk speaks.
    if (
        not decisions
        and band not in RISK_BANDS
        and peak is not None
        and peak - score >= card.drop_points
        and confidence >= card.min_alert_confidence
        and cooled("score_drop")
    ):
        base = 1 if peak - score >= 2 * card.drop_points else 0
        decisions.append(AlertDecision("score_drop", _severity(base, high_value)))
    return decisions


_ACTIONS: Final[dict[str, str]] = {
    "nps_response": "Call the customer within 24 hours: ask what drove the low score and agree a fix.",
    "csat_response": "Review the last support interaction and follow up with the customer personally.",
    "ces_response": "Find the step that took the customer effort and walk them through it.",
    "ticket_opened": "Escalate ticket {ticket} to a senior agent and update the customer today.",
    "ticket_reopened": "Escalate ticket {ticket} to a senior agent and update the customer today.",
    "ticket_resolved": "Apologise for the slow resolution of ticket {ticket} and check it is fixed.",
    "complaint": "Have a senior agent contact the customer about the complaint today.",
    "delivery_failed": "Contact the customer about the failed delivery: offer redelivery or a refund.",
    "delivery_delayed": "Tell the customer where the delivery is and offer a goodwill gesture.",
    "payment_failed": "Help the customer complete the payment; check for a payment incident.",
    "login_failed": "Help the customer get back into their account; check for a login incident.",
    "app_error": "Check for an app incident and follow up with the customer once it is fixed.",
    "checkout_slow": "Check checkout performance; follow up with the customer once it is fixed.",
    "subscription_cancelled": "Route to the retention team for a save call before the cancellation takes effect.",
    "refund_issued": "Check the refund was handled smoothly and ask about product fit.",
    "return_requested": "Check the return is handled smoothly and ask about product fit.",
    "review": "Answer the review publicly and contact the customer privately.",
    "social_mention": "Answer the post publicly and contact the customer privately.",
    "call_abandoned": "Call the customer back today.",
    "email_unsubscribed": "Send a personal check-in through another channel: ask what changed.",
}


def recommended_action(
    kind: str, top_driver_type: str | None, ticket: str | None, high_value: bool
) -> str:
    """One sentence telling the receiver what to do, from the signal that hurt most."""
    if kind == "recovered":
        return (
            "No action needed: the customer is out of risk; keep an eye on the next interactions."
        )
    if kind == "silent":
        return "Send a personal check-in: the customer has gone quiet compared with their usual rhythm."
    template = _ACTIONS.get(
        top_driver_type or "", "Review the customer's recent interactions and reach out."
    )
    action = template.format(ticket=ticket or "")
    return f"High-value customer: {action[0].lower()}{action[1:]}" if high_value else action
