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
from operator import itemgetter
from typing import Any, Final, NamedTuple

from streams.scoring.interaction import Interaction, Profile, format_time
from streams.scoring.measures import (
    CES_EASY,
    CES_RESPONSES,
    CES_SUM,
    COMPLAINTS,
    CSAT_RESPONSES,
    CSAT_SATISFIED,
    EVENTS,
    TICKETS_OPENED,
    TTR_COUNT,
    TTR_SUM,
    WINDOWS,
    active_days,
    add_window_measures,
    csat_satisfied,
    nps_category,
    window_columns,
)
from streams.scoring.risk import decide_alerts, is_high_value, next_band, recommended_action
from streams.scoring.rounding import round_to
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
_HORIZON_DAYS: Final = max(WINDOWS)
#: the windows of the score update, and the two the lapse compares (the last 7 and 30 days)
_SPANS: Final = tuple(dict.fromkeys((*WINDOWS, 7, 30)))


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
        total, evidence = pair
        pair[0], pair[1] = total * factor, evidence * factor
    state.ref = t
    buckets = state.buckets
    oldest_day = int(t // DAY) - _HORIZON_DAYS
    if buckets and min(buckets) <= oldest_day:
        for day in [d for d in buckets if d <= oldest_day]:
            del buckets[day]


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
    component, value, weight, reason = signal
    decay = 2.0 ** (-(state.ref - at) / card.half_life_seconds)
    i = _COMPONENT_INDEX[component]
    evidence = weight * card.component_weights[component]
    pull = value * evidence
    added_pull, added_evidence = pull * decay, evidence * decay
    state.component_sum[i] += added_pull
    state.component_evidence[i] += added_evidence
    breakdown = state.breakdown
    for key in keys:
        pair = breakdown.get(key)
        if pair is None:
            breakdown[key] = [0.0 + added_pull, 0.0 + added_evidence]
        else:
            pair[0] += added_pull
            pair[1] += added_evidence
    if pull == 0.0:
        return
    # Contributions all decay at the same rate, so |pull| * 2^(t/h) ranks them for good.
    rank = math.log2(abs(pull)) + at / card.half_life_seconds
    drivers = state.negative_drivers if pull < 0 else state.positive_drivers
    limit = card.max_drivers
    if len(drivers) == limit and not -rank < -drivers[-1][0]:
        return  # it would go in last and be cut at once
    driver: Driver = (rank, event_id, event_type, at, component, pull, reason)
    bisect.insort(drivers, driver, key=_rank_order)
    del drivers[limit:]


def _rank_order(driver: Driver) -> float:
    return -driver[0]


def _breakdown_keys(event: Interaction) -> tuple[str, ...]:
    # the same few combinations of stage, channel, interaction and dimension come back
    combination = (event.stage, event.channel, event.interaction, event.dimension)
    keys = _KEYS.get(combination)
    if keys is None:
        if len(_KEYS) >= _MAX_CACHED:
            _KEYS.clear()
        keys = _KEYS[combination] = tuple(
            f"{group}:{name}" for group, name in zip(_GROUPS, combination, strict=True) if name
        )
    return keys


_GROUPS: Final = ("stage", "channel", "interaction", "dimension")
_KEYS: dict[tuple[str | None, ...], tuple[str, ...]] = {}
_MAX_CACHED: Final = 4096


def _in_window(state: CustomerState, t: float) -> bool:
    return int(t // DAY) > int(state.ref // DAY) - _HORIZON_DAYS


def _count_resolution(state: CustomerState, done: Resolution, card: Scorecard) -> None:
    if _in_window(state, done.resolved_at):
        bucket = state.new_bucket(int(done.resolved_at // DAY))
        bucket[TTR_COUNT] += 1.0
        bucket[TTR_SUM] += done.seconds


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
    bucket[EVENTS] += 1.0
    if event.csat is not None:
        bucket[CSAT_RESPONSES] += 1.0
        if csat_satisfied(event.csat):
            bucket[CSAT_SATISFIED] += 1.0
    if event.ces is not None:
        bucket[CES_RESPONSES] += 1.0
        bucket[CES_SUM] += event.ces
        if event.ces >= 5:
            bucket[CES_EASY] += 1.0
    if event.type == "ticket_opened":
        bucket[TICKETS_OPENED] += 1.0
    elif event.type == "complaint":
        bucket[COMPLAINTS] += 1.0


def _points(pull: float, card: Scorecard) -> float:
    """Score points (0-100) for a total decayed pull: monotonic, so every bad signal lowers it."""
    return 50.0 + 50.0 * math.tanh(pull / card.score_scale)


class Standing(NamedTuple):
    """A signal of how things stand as of the customer's newest event, derived each time from
    order-independent state rather than stored: an open ticket past its target, a lapse."""

    pull: float
    component: str
    event_id: str | None
    type: str | None
    since: float
    reason: str


@dataclass(slots=True)
class Assessment:
    """How things stand as of the newest event, derived once and shared by the score, the
    alerts' drivers and the score update (nothing in between changes what it is made of)."""

    standing: list[Standing]
    #: the sum of all decayed pulls and standing pulls, its points (unrounded) and the score
    total: float
    points: float
    score: float
    confidence: float
    #: `tickets.open_tickets`
    opened: list[tuple[str, float, str | None]]
    #: window length in days -> `measures.window_columns` of the buckets inside it
    windows: dict[int, list[tuple[float, ...]]]
    #: window length in days -> days with an event in it
    active: dict[int, int]


def _assess(state: CustomerState, card: Scorecard) -> Assessment:
    today = int(state.ref // DAY)
    items = state.buckets.items()
    windows, active = {}, {}
    for days in _SPANS:
        oldest = today - days
        windows[days] = columns = window_columns([b for d, b in items if d > oldest])
        active[days] = active_days(columns)
    opened = open_tickets(state.tickets)
    standing = _standing(state, card, opened, active)
    total = sum(state.component_sum) + (sum([s.pull for s in standing]) if standing else 0)
    points = _points(total, card)
    evidence = sum(state.component_evidence)
    confidence = round_to(evidence / (evidence + card.confidence_evidence), 3)
    return Assessment(
        standing, total, points, round_to(points, 1), confidence, opened, windows, active
    )


def _standing(
    state: CustomerState,
    card: Scorecard,
    opened: list[tuple[str, float, str | None]],
    active: dict[int, int],
) -> list[Standing]:
    out = []
    for ticket, since, opened_by in opened:
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
    lapse = _lapse(state, card, active)
    if lapse is not None:
        out.append(lapse)
    return out


def _lapse(state: CustomerState, card: Scorecard, active: dict[int, int]) -> Standing | None:
    """Engagement against the customer's own rhythm: active days in the last 7 days against
    their usual week over the 23 days before."""
    recent = active[7]
    usual = active[30] - recent
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


def _rescore(state: CustomerState, event: Interaction, card: Scorecard) -> Outcome:
    now = _assess(state, card)
    score, confidence = now.score, now.confidence
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
        drivers = _drivers(state, card, now, positive=positive, negative=not positive)
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
    return Outcome(state, "scored", _score_update(state, card, now), alerts)


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
    now: Assessment,
    *,
    positive: bool = True,
    negative: bool = True,
) -> list[dict[str, Any]]:
    """The signals that move the score most now, in score points, strongest first."""
    # Each signal gets its share of the score's distance from neutral, in proportion to its
    # pull: the shares add up to the score, and a signal never looks small just because the
    # score is near 0 or 100 already.
    total = now.total
    points_per_pull = (now.points - 50.0) / total if abs(total) > 1e-9 else 50.0 / card.score_scale
    # rows of [event_id, type, occurred_at, component, impact, reason, largest impact (then
    # the sort key)]
    by_event: dict[str | None, list[Any]] = {}
    if negative:
        for signal in now.standing:
            by_event[signal.event_id or signal.reason] = [
                signal.event_id,
                signal.type,
                signal.since,
                signal.component,
                signal.pull * points_per_pull,
                signal.reason,
                0.0,
            ]
    chosen: list[Driver] = []
    if negative:
        chosen += state.negative_drivers
    if positive:
        chosen += state.positive_drivers
    # One event can move several components (a complaint: service and sentiment): one driver
    # per event, its impacts summed, named after the component it moved most.
    ref, half_life = state.ref, card.half_life_seconds
    for _rank, event_id, kind, at, component, pull, reason in chosen:
        impact = pull * 2.0 ** (-(ref - at) / half_life) * points_per_pull
        seen = by_event.get(event_id)
        if seen is None:
            by_event[event_id] = [event_id, kind, at, component, impact, reason, abs(impact)]
            continue
        seen[4] += impact
        if abs(impact) > seen[6]:
            seen[3], seen[6] = component, abs(impact)
    rows = list(by_event.values())
    for row in rows:
        row[4] = impact = round_to(row[4], 2)
        row[6] = -abs(impact)
    rows.sort(key=_DRIVER_ORDER)  # strongest first, then by event id
    return [
        {
            "event_id": row[0],
            "type": row[1],
            "occurred_at": format_time(row[2]),
            "component": row[3],
            "impact": row[4],
            "reason": row[5],
        }
        for row in rows[: 2 * card.max_drivers]
    ]


_DRIVER_ORDER: Final = itemgetter(6, 0)


def score_update(state: CustomerState, card: Scorecard = DEFAULT_SCORECARD) -> dict[str, Any]:
    """The score update published for a customer (without `updated_at`, a wall-clock time)."""
    return _score_update(state, card, _assess(state, card))


def _score_update(state: CustomerState, card: Scorecard, now: Assessment) -> dict[str, Any]:
    standing = now.standing
    if standing:
        totals = [
            total + sum(s.pull for s in standing if s.component == name)
            for name, total in zip(COMPONENTS, state.component_sum, strict=True)
        ]
    else:
        # without standing signals the old form added 0, which changes only -0.0, and
        # both zeros give 50.0
        totals = state.component_sum
    pairs = state.breakdown
    scores = _sub_scores([*totals, *[pair[0] for pair in pairs.values()]], card.score_scale)
    components = dict(zip(COMPONENTS, scores, strict=False))
    breakdown: dict[str, dict[str, float]] = {
        "stage": {},
        "channel": {},
        "interaction": {},
        "dimension": {},
    }
    split_keys = _SPLIT_KEYS
    for key, score in zip(pairs, scores[len(COMPONENTS) :], strict=True):
        group, name = split_keys.get(key) or _split_key(key)
        breakdown[group][name] = score
    opened = now.opened
    nps = state.nps_latest[2] if state.nps_latest else None
    measures: dict[str, Any] = {
        "nps_latest": nps,
        "nps_category": nps_category(nps) if nps is not None else None,
    }
    for days in WINDOWS:
        add_window_measures(measures, now.windows[days], _SUFFIXES[days], now.active[days])
    measures["open_tickets"] = len(opened)
    measures["longest_open_ticket_seconds"] = (
        round(max(0.0, state.ref - min([since for _, since, _ in opened])), 1) if opened else None
    )
    return {
        "customer_id": state.customer_id,
        "score": now.score,
        "band": state.band or next_band(None, now.score, card),
        "confidence": now.confidence,
        "components": components,
        "breakdown": breakdown,
        "measures": measures,
        "drivers": _drivers(state, card, now),
        "event_count": state.event_count,
        "last_event_at": format_time(state.ref),
        "profile": state.profile,
    }


def _sub_scores(totals: list[float], scale: float) -> list[float]:
    """`round(_points(total), 1)` for each total: the score of a component or a breakdown key.

    `rounding.round_to(points, 1)` written out, as this is the score update's innermost loop;
    points lie in [0, 100] and are never -0.0, which is all that shortcut needs.
    """
    out: list[float] = []
    append, tanh = out.append, math.tanh
    for total in totals:
        if not total:
            append(50.0)  # 50 + 50 tanh(0), whatever the scale
            continue
        points = 50.0 + 50.0 * tanh(total / scale)
        y = points * 10.0 + 0.5
        fraction = y % 1.0
        append((y - fraction) / 10.0 if 1e-6 < fraction < 0.999999 else round(points, 1))
    return out


def _split_key(key: str) -> tuple[str, str]:
    if len(_SPLIT_KEYS) >= _MAX_CACHED:
        _SPLIT_KEYS.clear()
    group, _, name = key.partition(":")
    split = _SPLIT_KEYS[key] = (group, name)
    return split


_SPLIT_KEYS: dict[str, tuple[str, str]] = {}
_SUFFIXES: Final = {days: f"{days}d" for days in WINDOWS}
