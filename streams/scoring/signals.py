"""What an event says about the experience: signed, weighted impacts on named components.

A signal's `value` is in [-1, 1] (how good or bad), its `weight` how much evidence it is. Survey
answers are read by their standard definitions (see `measures`); negative word of mouth weighs
more than positive, because it spreads faster.
"""

from __future__ import annotations

from typing import NamedTuple

from streams.scoring.interaction import Interaction, format_day
from streams.scoring.measures import csat_satisfied, nps_category
from streams.scoring.scorecard import Scorecard

__all__ = ["Signal", "overdue_signal", "resolution_signal", "signals_for"]


class Signal(NamedTuple):
    """A tuple, not a frozen dataclass: every event makes one or two, and a frozen dataclass
    takes several times as long to build."""

    component: str
    value: float
    weight: float
    reason: str


def _duration(seconds: float) -> str:
    if seconds >= 86400:
        days = seconds / 86400
        return f"{days:.1f} days" if days != 1 else "1 day"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{max(seconds, 0) / 60:.0f} min"


def signals_for(event: Interaction, card: Scorecard) -> list[Signal]:
    """The signals one event carries by itself (a resolution's TTR: `resolution_signal`)."""
    on = format_day(event.occurred_at)
    found: list[Signal] = []
    rule = card.signals.get(event.type)
    if rule is not None:
        via = f" via {event.channel}" if event.channel else ""
        ticket = f"Ticket {event.ticket_id}" if event.ticket_id else "A ticket"
        reason = rule.reason.format(date=on, via=via, ticket=ticket)
        found.extend(Signal(i.component, i.value, i.weight, reason) for i in rule.impacts)

    if event.nps is not None:
        category = nps_category(event.nps)
        found.append(
            Signal(
                "survey",
                card.nps_values[event.nps],
                card.nps_weight,
                f"{category.capitalize()} NPS of {event.nps} on {on}",
            )
        )
    if event.csat is not None:
        mood = "satisfied" if csat_satisfied(event.csat) else "dissatisfied"
        found.append(
            Signal(
                "survey",
                card.csat_values[event.csat - 1],
                card.csat_weight,
                f"CSAT of {event.csat}/5 ({mood}) on {on}",
            )
        )
    if event.ces is not None:
        ease = "easy" if event.ces >= 5 else ("hard" if event.ces <= 3 else "neither easy nor hard")
        found.append(
            Signal(
                "survey",
                (event.ces - 4) / 3,
                card.ces_weight,
                f"Customer effort {event.ces}/7 ({ease}) on {on}",
            )
        )
    if event.rating is not None:
        value = (event.rating - 3) / 2
        weight = card.rating_weight * (card.negative_word_of_mouth if value < 0 else 1.0)
        where = f" on {event.channel}" if event.channel else ""
        found.append(
            Signal("sentiment", value, weight, f"{event.rating:g}-star review{where} on {on}")
        )
    elif event.sentiment is not None:
        weight = card.sentiment_weight * (
            card.negative_word_of_mouth if event.sentiment < 0 else 1.0
        )
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


def resolution_signal(ticket_id: str, seconds: float, card: Scorecard) -> Signal:
    """A resolved ticket (TTR): good within the target, worse the longer past it."""
    target = card.resolution_target_seconds
    took, goal = _duration(seconds), _duration(target)
    if seconds <= target:
        good = card.resolved_in_target
        return Signal(
            "service",
            good.value,
            good.weight,
            f"Ticket {ticket_id} resolved in {took}, target {goal}",
        )
    return _late(f"Ticket {ticket_id} took {took} to resolve, target {goal}", seconds, card)


def overdue_signal(ticket_id: str, age: float, card: Scorecard) -> Signal:
    """An open ticket past the resolution target: worse the longer it stays open."""
    target = _duration(card.resolution_target_seconds)
    return _late(f"Ticket {ticket_id} open {_duration(age)}, target {target}", age, card)


def _late(reason: str, seconds: float, card: Scorecard) -> Signal:
    value = -min(1.0, card.late_slope * seconds / card.resolution_target_seconds)
    return Signal("service", value, card.resolved_late_weight, reason)
