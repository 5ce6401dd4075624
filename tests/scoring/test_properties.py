"""Properties of the score that hold for any sequence of events (hypothesis)."""

from __future__ import annotations

import math
import random
from dataclasses import replace

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from streams.scoring.engine import score_event, score_update
from streams.scoring.interaction import Interaction
from streams.scoring.scorecard import DEFAULT_SCORECARD as CARD
from streams.scoring.state import CustomerState
from streams.scoring.tickets import open_tickets
from streams.scoring.vocabulary import CHANNELS, EVENT_TYPES

T0 = 1_795_000_000.0
DAY = 86400.0
NEGATIVE = [
    "complaint",
    "payment_failed",
    "delivery_failed",
    "subscription_cancelled",
    "ticket_reopened",
    "app_error",
]


SINGLE = [t for t in EVENT_TYPES if not t.startswith("ticket_")] + ["hologram_beamed"]


@st.composite
def interactions(draw: st.DrawFn, n: int, span_days: float) -> list[Interaction]:
    """One event, or a ticket's whole life (opened, resolved, perhaps reopened and resolved)."""
    start = T0 + draw(st.floats(0, span_days * DAY))
    # fewer tickets than the memory bound keeps track of (beyond it, the oldest are forgotten)
    if n < CARD.max_open_tickets and draw(st.integers(0, 5)) == 0:
        steps = ["ticket_opened", "ticket_resolved"]
        steps += draw(
            st.sampled_from([[], ["ticket_reopened"], ["ticket_reopened", "ticket_resolved"]])
        )
        at, life = start, []
        for i, kind in enumerate(steps):
            if i:
                at = min(at + draw(st.floats(0, 0.5 * DAY)), T0 + span_days * DAY)
            seconds = (
                draw(st.one_of(st.none(), st.floats(0, 30 * DAY)))
                if kind == "ticket_resolved"
                else None
            )
            life.append(
                Interaction(
                    f"e{n}.{i}",
                    "C-1",
                    at,
                    kind,
                    channel="chat",
                    ticket_id=f"T-{n}",
                    resolution_seconds=seconds,
                )
            )
        return life
    kind = draw(st.sampled_from(SINGLE))
    fields: dict[str, object] = {}
    if kind == "nps_response" or (draw(st.booleans()) and kind == "chat_completed"):
        fields["nps"] = draw(st.integers(0, 10))
    if kind == "csat_response":
        fields["csat"] = draw(st.integers(1, 5))
    if kind == "ces_response":
        fields["ces"] = draw(st.integers(1, 7))
    if kind == "review":
        fields["rating"] = draw(st.integers(1, 5))
    if kind == "social_mention":
        fields["sentiment"] = draw(st.floats(-1, 1))
    return [
        Interaction(
            event_id=f"e{n}",
            customer_id="C-1",
            occurred_at=start,
            type=kind,
            channel=draw(st.sampled_from([None, *CHANNELS])),
            **fields,  # type: ignore[arg-type]
        )
    ]


def journeys(span_days: float, max_size: int = 30) -> st.SearchStrategy[list[Interaction]]:
    return st.integers(1, max_size).flatmap(
        lambda size: st.tuples(*(interactions(i, span_days) for i in range(size))).map(
            lambda groups: [event for group in groups for event in group]
        )
    )


def play(events: list[Interaction]) -> CustomerState:
    state: CustomerState | None = None
    for event in events:
        state = score_event(state, event, CARD).state
    assert state is not None
    return state


def pull(state: CustomerState) -> float:
    return sum(state.component_sum)


@settings(max_examples=200, deadline=None)
@given(journeys(span_days=60))
def test_scores_stay_between_0_and_100(events: list[Interaction]) -> None:
    update = score_update(play(events), CARD)
    values = [update["score"], *update["components"].values()]
    values += [v for group in update["breakdown"].values() for v in group.values()]
    values += [d["impact"] + 50 for d in update["drivers"]]
    assert all(0.0 <= v <= 100.0 for v in values[: -len(update["drivers"]) or None])
    assert 0.0 <= update["confidence"] <= 1.0


@settings(max_examples=200, deadline=None)
@given(journeys(span_days=2.5), st.randoms(use_true_random=False))
def test_shuffling_within_the_allowed_lateness_gives_the_same_score(
    events: list[Interaction], rng: random.Random
) -> None:
    shuffled = events[:]
    rng.shuffle(shuffled)
    a, b = play(events), play(shuffled)
    assert math.isclose(pull(a), pull(b), rel_tol=1e-9, abs_tol=1e-9)
    ua, ub = score_update(a, CARD), score_update(b, CARD)
    assert abs(ua["score"] - ub["score"]) <= 0.1
    assert ua["measures"] == ub["measures"]
    assert ua["event_count"] == ub["event_count"]


@settings(max_examples=200, deadline=None)
@given(journeys(span_days=2.5), st.data())
def test_a_duplicate_changes_nothing(events: list[Interaction], data: st.DataObject) -> None:
    state = play(events)
    before = state.to_bytes()
    again = data.draw(st.sampled_from(events))
    outcome = score_event(state, again, CARD)
    assert outcome.status == "duplicate"
    assert outcome.update is None and outcome.alerts == []
    assert outcome.state.to_bytes() == before


@settings(max_examples=200, deadline=None)
@given(journeys(span_days=2.5), st.sampled_from(NEGATIVE), st.floats(0, 2))
def test_a_negative_signal_never_raises_the_score(
    events: list[Interaction], bad: str, later_days: float
) -> None:
    at = max(e.occurred_at for e in events) + later_days * DAY
    neutral = Interaction("x", "C-1", at, "hologram_beamed")
    negative = replace(neutral, type=bad, ticket_id="T-9")
    with_neutral = pull(score_event(play(events), neutral, CARD).state)
    with_negative = pull(score_event(play(events), negative, CARD).state)
    assert with_negative < with_neutral


@settings(max_examples=100, deadline=None)
@given(journeys(span_days=10))
def test_without_events_the_score_fades_back_to_neutral(events: list[Interaction]) -> None:
    state = play(events)
    # an open ticket keeps weighing until it is resolved: that is news, not history
    assume(not open_tickets(state.tickets))
    year_later = Interaction("quiet", "C-1", state.ref + 365 * DAY, "hologram_beamed")
    update = score_update(score_event(state, year_later, CARD).state, CARD)
    assert abs(update["score"] - 50.0) < 0.5
    assert update["confidence"] < 0.01
