"""The core's interface: an event and a state in, the new state, a score update and alerts out.

`score_event` updates the given state in place (and returns it) so a caller can keep states in
a cache and write them back once per batch.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import uuid
from dataclasses import dataclass, field
from typing import Any, Final

from streams.scoring.interaction import Interaction, Profile, format_time
from streams.scoring.measures import (
    BUCKET_FIELDS,
    WINDOWS,
    add_to_bucket,
    csat_satisfied,
    nps_category,
    window_measures,
)
from streams.scoring.risk import decide_alerts, is_high_value, next_band, recommended_action
from streams.scoring.scorecard import COMPONENTS, DEFAULT_SCORECARD, Scorecard
from streams.scoring.signals import Signal, overdue_signal, resolution_signal, signals_for
from streams.scoring.state import CustomerState, Driver
from streams.scoring.tickets import Resolution, open_tickets, track_ticket

__all__ = [
    "Outcome",
    "apply_profile",
    "check_silence",
    "score_event",
    "score_update",
    "silence_deadline",
]

_COMPONENT_INDEX: Final = {name: i for i, name in enumerate(COMPONENTS)}
_ALERT_NAMESPACE: Final = uuid.UUID("6f1c1f5e-3b1f-4a43-9d6e-2c1b7f0a9e51")
DAY: Final = 86400.0
_EVENTS: Final = BUCKET_FIELDS.index("events")


@dataclass(slots=True)
class Outcome:
    """What one event (or a silence check) did: scored, duplicate, too_late, active or silent."""

    state: CustomerState
    status: str
    update: dict[str, Any] | None = None
    alerts: list[dict[str, Any]] = field(default_factory=list)


def _event_hash(event_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(event_id.encode(), digest_size=8).digest(), "big")


def apply_profile(state: CustomerState | None, profile: Profile) -> CustomerState:
    """Attach the latest customer profile; it travels with every alert."""
    if state is None:
        state = CustomerState(profile.customer_id)
    state.profile = profile.as_dict()
    return state


def score_event(
    state: CustomerState | None, event: Interaction, card: Scorecard = DEFAULT_SCORECARD
) -> Outcome:
    if state is None:
        state = CustomerState(event.customer_id)
    t = event.occurred_at
    digest = _event_hash(event.event_id)
    if digest in state.seen:
        return Outcome(state, "duplicate")
    if state.event_count and t < state.ref - card.allowed_lateness_seconds:
        return Outcome(state, "too_late")

    _remember(state, digest, t, card)
    if state.event_count == 0 or t >= state.ref:
        state.last_event_id, state.last_event_type = event.event_id, event.type
        state.silent_alerted = False
    _follow_rhythm(state, t, card)
    _advance(state, t, card)
    keys = _breakdown_keys(event)
    for signal in signals_for(event, card):
        _add_signal(state, signal, t, event.event_id, event.type, keys, card)
    if event.type.startswith("ticket_"):
        for done in track_ticket(state.tickets, event, keys, card.max_open_tickets):
            signal = resolution_signal(done.ticket_id, done.seconds, card)
            _add_signal(
                state, signal, done.resolved_at, done.event_id, "ticket_resolved", done.keys, card
            )
            _count_resolution(state, done, card)
    _count_measures(state, event, card)
    state.event_count += 1
    return _rescore(state, event, card)


def _remember(state: CustomerState, digest: int, t: float, card: Scorecard) -> None:
    seen = state.seen
    seen[digest] = t
    if len(seen) > card.max_dedupe_ids:
        horizon = state.ref - card.allowed_lateness_seconds
        for h in [h for h, when in seen.items() if when < horizon]:
            del seen[h]
        while len(seen) > card.max_dedupe_ids:
            del seen[min(seen, key=seen.__getitem__)]


def _follow_rhythm(state: CustomerState, t: float, card: Scorecard) -> None:
    """Days between active days, as a moving average: the customer's own usual rhythm."""
    day = int(t // DAY)
    if day <= state.last_active_day:
        return
    if state.last_active_day >= 0:
        gap = float(day - state.last_active_day)
        rhythm = state.rhythm_days
        state.rhythm_days = gap if rhythm is None else rhythm + card.rhythm_weight * (gap - rhythm)
    state.active_days += 1
    state.last_active_day = day


def _advance(state: CustomerState, t: float, card: Scorecard) -> None:
    if state.event_count == 0:
        state.ref = t
        return
    if t <= state.ref:
        return
    factor = 2.0 ** (-(t - state.ref) / card.half_life_seconds)
    state.component_sum = [v * factor for v in state.component_sum]
    state.component_evidence = [v * factor for v in state.component_evidence]
    for pair in state.breakdown.values():
        pair[0] *= factor
        pair[1] *= factor
    state.ref = t
    oldest_day = int(t // DAY) - max(WINDOWS)
    for day in [d for d in state.buckets if d <= oldest_day]:
        del state.buckets[day]


def _add_signal(
    state: CustomerState,
    signal: Signal,
    at: float,
    event_id: str,
    event_type: str,
    keys: tuple[str, ...],
    card: Scorecard,
) -> None:
    """Add one signal of the event `event_id` (at event time `at`), already decayed to `ref`."""
    decay = 2.0 ** (-(state.ref - at) / card.half_life_seconds)
    i = _COMPONENT_INDEX[signal.component]
    evidence = signal.weight * card.component_weights[signal.component]
    pull = signal.value * evidence
    state.component_sum[i] += pull * decay
    state.component_evidence[i] += evidence * decay
    for key in keys:
        pair = state.breakdown.get(key)
        if pair is None:
            pair = state.breakdown[key] = [0.0, 0.0]
        pair[0] += pull * decay
        pair[1] += evidence * decay
    if pull == 0.0:
        return
    # Contributions all decay at the same rate, so |pull| * 2^(t/h) ranks them for good.
    rank = math.log2(abs(pull)) + at / card.half_life_seconds
    driver: Driver = (rank, event_id, event_type, at, signal.component, pull, signal.reason)
    drivers = state.negative_drivers if pull < 0 else state.positive_drivers
    bisect.insort(drivers, driver, key=lambda d: -d[0])
    del drivers[card.max_drivers :]


def _breakdown_keys(event: Interaction) -> tuple[str, ...]:
    keys = []
    if event.stage:
        keys.append("stage:" + event.stage)
    if event.channel:
        keys.append("channel:" + event.channel)
    if event.interaction:
        keys.append("interaction:" + event.interaction)
    if event.dimension:
        keys.append("dimension:" + event.dimension)
    return tuple(keys)


def _in_window(state: CustomerState, t: float) -> bool:
    return int(t // DAY) > int(state.ref // DAY) - max(WINDOWS)


def _count_resolution(state: CustomerState, done: Resolution, card: Scorecard) -> None:
    if _in_window(state, done.resolved_at):
        bucket = state.new_bucket(int(done.resolved_at // DAY))
        add_to_bucket(bucket, "ttr_count")
        add_to_bucket(bucket, "ttr_sum", done.seconds)


def _count_measures(state: CustomerState, event: Interaction, card: Scorecard) -> None:
    t = event.occurred_at
    # the newest answer wins; at equal times the greater event id, so arrival order never matters
    if event.nps is not None:
        latest = (t, event.event_id, event.nps)
        if state.nps_latest is None or latest[:2] > state.nps_latest[:2]:
            state.nps_latest = latest
    if not _in_window(state, t):
        return
    bucket = state.new_bucket(int(t // DAY))
    add_to_bucket(bucket, "events")
    if event.csat is not None:
        add_to_bucket(bucket, "csat_responses")
        if csat_satisfied(event.csat):
            add_to_bucket(bucket, "csat_satisfied")
    if event.ces is not None:
        add_to_bucket(bucket, "ces_responses")
        add_to_bucket(bucket, "ces_sum", event.ces)
        if event.ces >= 5:
            add_to_bucket(bucket, "ces_easy")
    if event.type == "ticket_opened":
        add_to_bucket(bucket, "tickets_opened")
    elif event.type == "complaint":
        add_to_bucket(bucket, "complaints")


def _points(pull: float, card: Scorecard) -> float:
    """Score points (0-100) for a total decayed pull: monotonic, so every bad signal lowers it."""
    return 50.0 + 50.0 * math.tanh(pull / card.score_scale)


@dataclass(frozen=True, slots=True)
class Standing:
    """A signal of how things stand as of the customer's newest event, derived each time from
    order-independent state rather than stored: an open ticket past its target, a lapse."""

    pull: float
    component: str
    event_id: str | None
    type: str | None
    since: float
    reason: str


def _standing(state: CustomerState, card: Scorecard) -> list[Standing]:
    out = []
    for ticket, since, opened_by in open_tickets(state.tickets):
        age = state.ref - since
        if age > card.resolution_target_seconds:
            signal = overdue_signal(ticket, age, card)
            pull = signal.value * signal.weight * card.component_weights[signal.component]
            out.append(
                Standing(
                    pull,
                    signal.component,
                    opened_by or ticket,
                    "ticket_opened",
                    since,
                    signal.reason,
                )
            )
    lapse = _lapse(state, card)
    if lapse is not None:
        out.append(lapse)
    return out


def _lapse(state: CustomerState, card: Scorecard) -> Standing | None:
    """Engagement against the customer's own rhythm: active days in the last 7 days against
    their usual week over the 23 days before."""
    today = int(state.ref // DAY)
    recent = usual = 0
    for day, bucket in state.buckets.items():
        if bucket[_EVENTS] > 0:
            if day > today - 7:
                recent += 1
            elif day > today - 30:
                usual += 1
    per_week = usual * 7 / 23
    if per_week < card.rhythm_min_active_days or recent >= per_week:
        return None
    shortfall = (per_week - recent) / per_week
    signal = Signal(
        "engagement",
        -shortfall,
        card.rhythm_lapse_weight,
        f"Active on {recent} of the last 7 days; usually about {per_week:.0f}",
    )
    pull = signal.value * signal.weight * card.component_weights[signal.component]
    return Standing(
        pull, signal.component, state.last_event_id, state.last_event_type, state.ref, signal.reason
    )


def _total_pull(state: CustomerState, standing: list[Standing]) -> float:
    return sum(state.component_sum) + sum(s.pull for s in standing)


def _composite(
    state: CustomerState, card: Scorecard, standing: list[Standing]
) -> tuple[float, float]:
    evidence = sum(state.component_evidence)
    score = round(_points(_total_pull(state, standing), card), 1)
    confidence = round(evidence / (evidence + card.confidence_evidence), 3)
    return score, confidence


def _rescore(state: CustomerState, event: Interaction, card: Scorecard) -> Outcome:
    # how things stand depends on tickets, buckets and the newest event, none of which the
    # rest of this changes: derived once for the score, the alerts' drivers and the update
    standing = _standing(state, card)
    score, confidence = _composite(state, card, standing)
    previous_score, previous_band = state.score, state.band
    band = next_band(previous_band, score, card)
    t = state.ref

    window_start = t - card.drop_window_seconds
    peaks = [p for p in state.peaks if p[0] >= window_start]
    peak = peaks[0][1] if peaks else None
    high_value = is_high_value(state.profile, card)
    decisions = decide_alerts(
        previous_band=previous_band,
        band=band,
        score=score,
        peak=peak,
        confidence=confidence,
        risk_alerted=state.risk_alerted,
        last_alerts=state.last_alerts,
        now=t,
        high_value=high_value,
        card=card,
    )
    while peaks and peaks[-1][1] <= score:
        peaks.pop()
    peaks.append((t, score))
    state.peaks = peaks[-32:]
    state.score, state.band = score, band
    state.history.append((t, score))
    del state.history[: -card.max_history]

    alerts = []
    for decision in decisions:
        if decision.kind == "churn_risk":
            state.risk_alerted = band
        elif decision.kind == "recovered":
            state.risk_alerted = None
        elif decision.kind == "score_drop":
            state.peaks = [(t, score)]
        state.last_alerts[decision.kind] = t
        positive = decision.kind == "recovered"
        drivers = _drivers(state, card, standing, positive=positive, negative=not positive)
        top = next(iter(drivers), None)
        action = recommended_action(
            decision.kind,
            top["type"] if top else None,
            _ticket_of(top["reason"]) if top else None,
            high_value,
        )
        alerts.append(
            _alert(
                state,
                decision.kind,
                decision.severity,
                drivers,
                action,
                t,
                event.event_id,
                previous_score,
                previous_band,
            )
        )
    return Outcome(state, "scored", _score_update(state, card, standing), alerts)


def _alert(
    state: CustomerState,
    kind: str,
    severity: str,
    drivers: list[dict[str, Any]],
    action: str,
    at: float,
    trigger_event_id: str | None,
    previous_score: float | None,
    previous_band: str | None,
) -> dict[str, Any]:
    """An alert; its id depends only on customer, kind and trigger, so a replay repeats it."""
    alert_id = uuid.uuid5(_ALERT_NAMESPACE, f"{state.customer_id}|{kind}|{trigger_event_id}")
    return {
        "alert_id": str(alert_id),
        "customer_id": state.customer_id,
        "kind": kind,
        "severity": severity,
        "score": state.score,
        "previous_score": previous_score,
        "band": state.band,
        "previous_band": previous_band,
        "drivers": drivers,
        "recommended_action": action,
        "raised_at": format_time(at),
        "trigger_event_id": trigger_event_id,
        "profile": state.profile,
    }


def silence_deadline(state: CustomerState, card: Scorecard = DEFAULT_SCORECARD) -> float | None:
    """The event time after which this customer counts as silent, if they have a rhythm."""
    if (
        state.silent_alerted
        or state.rhythm_days is None
        or state.active_days < card.silence_min_active_days
    ):
        return None
    quiet = max(card.silence_factor * state.rhythm_days * DAY, card.silence_min_seconds)
    return state.ref + quiet


def check_silence(
    state: CustomerState, clock: float, card: Scorecard = DEFAULT_SCORECARD
) -> Outcome:
    """A `silent` alert if, at event time `clock`, the customer has gone quiet for too long.

    Called by a timer, not only by arriving events: silence is the absence of events.
    """
    deadline = silence_deadline(state, card)
    if deadline is None or clock < deadline:
        return Outcome(state, "active")
    state.silent_alerted = True
    state.last_alerts["silent"] = deadline
    high_value = is_high_value(state.profile, card)
    base = 1 if state.band in ("at_risk", "critical") else 0
    severity = ("low", "medium", "high", "critical")[base + (1 if high_value else 0)]
    quiet_days = (deadline - state.ref) / DAY
    reason = (
        f"No activity for {quiet_days:.0f} days since {format_time(state.ref)[:10]}; "
        f"usually active every {state.rhythm_days:.1f} days"
    )
    driver = {
        "event_id": state.last_event_id,
        "type": state.last_event_type,
        "occurred_at": format_time(state.ref),
        "component": "engagement",
        "impact": 0.0,
        "reason": reason,
    }
    action = recommended_action("silent", None, None, high_value)
    alert = _alert(
        state,
        "silent",
        severity,
        [driver],
        action,
        deadline,
        state.last_event_id,
        state.score,
        state.band,
    )
    return Outcome(state, "silent", None, [alert])


def _ticket_of(reason: str) -> str | None:
    return reason.split()[1] if reason.startswith("Ticket ") else None


def _drivers(
    state: CustomerState,
    card: Scorecard,
    standing: list[Standing],
    *,
    positive: bool = True,
    negative: bool = True,
) -> list[dict[str, Any]]:
    """The signals that move the score most now, in score points, strongest first."""
    # Each signal gets its share of the score's distance from neutral, in proportion to its
    # pull: the shares add up to the score, and a signal never looks small just because the
    # score is near 0 or 100 already.
    total = _total_pull(state, standing)
    if abs(total) > 1e-9:
        points_per_pull = (_points(total, card) - 50.0) / total
    else:
        points_per_pull = 50.0 / card.score_scale
    by_event: dict[str, dict[str, Any]] = {}
    if negative:
        for signal in standing:
            by_event[signal.event_id or signal.reason] = {
                "event_id": signal.event_id,
                "type": signal.type,
                "occurred_at": format_time(signal.since),
                "component": signal.component,
                "impact": signal.pull * points_per_pull,
                "reason": signal.reason,
                "_largest": 0.0,
            }
    chosen: list[Driver] = []
    if negative:
        chosen += state.negative_drivers
    if positive:
        chosen += state.positive_drivers
    # One event can move several components (a complaint: service and sentiment): one driver
    # per event, its impacts summed, named after the component it moved most.
    for _rank, event_id, kind, at, component, pull, reason in chosen:
        impact = pull * 2.0 ** (-(state.ref - at) / card.half_life_seconds) * points_per_pull
        seen = by_event.get(event_id)
        if seen is None:
            by_event[event_id] = {
                "event_id": event_id,
                "type": kind,
                "occurred_at": format_time(at),
                "component": component,
                "impact": impact,
                "reason": reason,
                "_largest": abs(impact),
            }
            continue
        seen["impact"] += impact
        if abs(impact) > seen["_largest"]:
            seen["component"], seen["_largest"] = component, abs(impact)
    out = list(by_event.values())
    for driver in out:
        del driver["_largest"]
        driver["impact"] = round(driver["impact"], 2)
    out.sort(key=lambda d: (-abs(d["impact"]), d["event_id"]))
    return out[: 2 * card.max_drivers]


def _sub_score(total: float, card: Scorecard) -> float:
    return round(_points(total, card), 1)


def score_update(state: CustomerState, card: Scorecard = DEFAULT_SCORECARD) -> dict[str, Any]:
    """The score update published for a customer (without `updated_at`, a wall-clock time)."""
    return _score_update(state, card, _standing(state, card))


def _score_update(
    state: CustomerState, card: Scorecard, standing: list[Standing]
) -> dict[str, Any]:
    score, confidence = _composite(state, card, standing)
    breakdown: dict[str, dict[str, float]] = {
        "stage": {},
        "channel": {},
        "interaction": {},
        "dimension": {},
    }
    for key, (total, _evidence) in state.breakdown.items():
        group, _, name = key.partition(":")
        breakdown[group][name] = _sub_score(total, card)
    today = int(state.ref // DAY)
    in_window: dict[int, list[list[float]]] = {days: [] for days in WINDOWS}
    for day, bucket in state.buckets.items():  # one pass, each window in bucket order
        for days, chosen in in_window.items():
            if day > today - days:
                chosen.append(bucket)
    open_since = min((since for _, since, _ in open_tickets(state.tickets)), default=None)
    nps = state.nps_latest[2] if state.nps_latest else None
    measures: dict[str, Any] = {
        "nps_latest": nps,
        "nps_category": nps_category(nps) if nps is not None else None,
        **{
            key: value
            for days in WINDOWS
            for key, value in window_measures(in_window[days], f"{days}d").items()
        },
        "open_tickets": len(open_tickets(state.tickets)),
        "longest_open_ticket_seconds": (
            round(max(0.0, state.ref - open_since), 1) if open_since is not None else None
        ),
    }
    return {
        "customer_id": state.customer_id,
        "score": score,
        "band": state.band or next_band(None, score, card),
        "confidence": confidence,
        "components": {
            name: _sub_score(
                state.component_sum[i] + sum(s.pull for s in standing if s.component == name), card
            )
            for i, name in enumerate(COMPONENTS)
        },
        "breakdown": breakdown,
        "measures": measures,
        "drivers": _drivers(state, card, standing),
        "event_count": state.event_count,
        "last_event_at": format_time(state.ref),
        "profile": state.profile,
    }
