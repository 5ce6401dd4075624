"""A state survives its bytes exactly, in format 2, and from format 1 and the JSON that earlier
code wrote."""

from __future__ import annotations

import math
import random
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path

import pytest

from streams.contract import Rejection, parse_interaction
from streams.generator import GeneratorConfig, JourneyGenerator
from streams.scoring.engine import apply_profile, score_event
from streams.scoring.interaction import Interaction, Profile
from streams.scoring.state import CustomerState
from streams.scoring.vocabulary import CHANNELS, DIMENSIONS, EVENT_TYPES, INTERACTIONS, STAGES

DAY = 86400.0
T0 = 1_795_000_000.0
JSON_STATE = Path(__file__).parent / "data" / "state-json-format.json"
#: journey_state() in format 1, as the code before format 2 wrote it
FORMAT_1_STATE = Path(__file__).parent / "data" / "state-format-1.bin"


def content(state: CustomerState) -> list[str]:
    """Every field as repr shows it: float bits, int or float, tuple or list, dict order."""
    return [repr(getattr(state, f.name)) for f in fields(CustomerState)]


def round_trip(state: CustomerState) -> CustomerState:
    again = CustomerState.from_bytes(state.to_bytes())
    assert content(again) == content(state)
    return again


def ev(n: int, kind: str, at: float, **extra: object) -> Interaction:
    return Interaction(f"e{n}", "C-1", T0 + at, kind, **extra)  # type: ignore[arg-type]


# the journey the JSON fixture was written after, by the code before format 1
JOURNEY = [
    ev(1, "login", 0, channel="web", stage="usage", interaction="direct", dimension="act"),
    ev(2, "purchase", 3600.25, channel="web", amount=80.0),
    ev(3, "delivery_failed", 2 * DAY, channel="delivery"),
    ev(4, "ticket_opened", 2 * DAY + 60, channel="chat", ticket_id="T-88"),
    ev(5, "csat_response", 2.5 * DAY, csat=2),
    ev(6, "complaint", 3 * DAY, channel="phone"),
    ev(7, "ces_response", 3.2 * DAY, ces=6),
    ev(8, "ticket_resolved", 3.5 * DAY, ticket_id="T-77", resolution_seconds=7200.0),
    ev(9, "nps_response", 4 * DAY, nps=2),
    ev(10, "hologram_beamed", 4.5 * DAY, stage="orbit", channel="teleporter"),
    ev(11, "ticket_resolved", 4.6 * DAY, ticket_id="T-99"),
]
PROFILE = {"customer_id": "C-1", "tier": "gold", "lifetime_value": 12000.0, "tags": ["a", "b"]}


def journey_state() -> CustomerState:
    state = apply_profile(
        None, Profile("C-1", tier="gold", lifetime_value=12_000.0, raw=dict(PROFILE))
    )
    for event in JOURNEY:
        state = score_event(state, event).state
    return state


def test_the_json_of_earlier_code_is_read_as_it_was_written() -> None:
    data = JSON_STATE.read_bytes()
    assert data[:1] == b"{"
    state = CustomerState.from_bytes(data)
    assert content(state) == content(journey_state())
    binary = state.to_bytes()
    assert binary[:1] == b"\x02" and len(binary) < 0.6 * len(data)
    round_trip(state)


def test_format_1_of_earlier_code_is_read_as_it_was_written() -> None:
    data = FORMAT_1_STATE.read_bytes()
    assert data[:1] == b"\x01"
    state = CustomerState.from_bytes(data)
    assert content(state) == content(journey_state())
    assert len(state.to_bytes()) < len(data)  # the drivers' days are left out now
    round_trip(state)


def test_a_reason_keeps_its_own_words_whatever_day_it_ends_with() -> None:
    state = journey_state()
    assert state.negative_drivers and state.positive_drivers
    at = state.negative_drivers[0][3]
    day = datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%d")
    other = datetime.fromtimestamp(at + DAY, tz=UTC).strftime("%Y-%m-%d")
    for reason in (f"Seen on {day}", f"Seen on {other}", f" on {day}", "on " + day, "", day):
        d = state.negative_drivers[0]
        state.negative_drivers[0] = (*d[:6], reason)
        again = round_trip(state)
        assert again.negative_drivers[0][6] == reason


def test_an_empty_state_and_a_profile_only_state() -> None:
    round_trip(CustomerState("C-1"))
    round_trip(apply_profile(None, Profile("C-2", segment="smb", lifetime_value=10)))


def test_generator_states_round_trip_after_every_event() -> None:
    config = GeneratorConfig(customers=25, rate=0, events=4_000, backfill_days=30)
    clock = datetime(2026, 11, 1, tzinfo=UTC)
    generator = JourneyGenerator(config, clock)
    states: dict[str, CustomerState] = {}
    most_seen = 0
    for _ in range(config.events or 0):
        key, value = generator.next_message(clock)
        parsed = parse_interaction(
            value, key, now=clock.timestamp(), max_bytes=65536, future_skew=300
        )
        assert not isinstance(parsed, Rejection)
        event = parsed[1]
        state = score_event(states.get(event.customer_id), event).state
        states[event.customer_id] = round_trip(state)  # keep scoring the decoded copy
        most_seen = max(most_seen, len(state.seen))
    assert most_seen == 128  # the bound on remembered ids was reached


def test_whatever_format_1_has_no_short_form_for_is_stored_in_full() -> None:
    rng = random.Random(3)
    state: CustomerState | None = None
    for n in range(400):
        at = n * 600.0 - rng.choice([0.0, 0.0, 7200.0])  # some late, so history and seen differ
        state = score_event(
            state,
            ev(
                n,
                rng.choice(["hologram_beamed", "ticket_resolved", "csat_response", "complaint"]),
                at,
                channel=rng.choice(["warp", "chat", None]),
                stage=rng.choice(["orbit", "usage", None]),
                ticket_id=f"T-{n % 7}",
                resolution_seconds=rng.choice([None, 1e-3 * n, 86400.0 / 7]),
                csat=rng.randint(1, 5),
            ),
        ).state
        round_trip(state)
    assert state is not None
    assert {"stage:orbit", "channel:warp"} <= set(state.breakdown)
    day = next(iter(state.buckets))
    state.buckets[day][-1] = 5000.0  # more than float16 holds exactly
    round_trip(state)
    state.buckets[day][0] = 0.5
    round_trip(state)


def test_floats_keep_their_bits() -> None:
    state = journey_state()
    state.component_sum[5] = -0.0
    state.rhythm_days = 5e-324
    state.buckets[next(iter(state.buckets))][8] = math.pi
    again = round_trip(state)
    assert math.copysign(1.0, again.component_sum[5]) == -1.0


def test_every_word_of_the_vocabulary_has_a_short_form() -> None:
    from streams.scoring.scorecard import COMPONENTS
    from streams.scoring.state import _CODES

    keys = [
        f"{group}:{name}"
        for group, names in (
            ("stage", STAGES),
            ("channel", CHANNELS),
            ("interaction", INTERACTIONS),
            ("dimension", DIMENSIONS),
        )
        for name in names
    ]
    assert set(_CODES) >= {*COMPONENTS, *EVENT_TYPES, *keys}


def test_bytes_of_neither_format_are_refused() -> None:
    with pytest.raises(ValueError, match="not a customer state"):
        CustomerState.from_bytes(b"\x07junk")
