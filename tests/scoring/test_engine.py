import random

from streams.scoring.engine import (
    Outcome,
    apply_profile,
    check_silence,
    score_event,
    score_update,
    silence_deadline,
)
from streams.scoring.interaction import Interaction, Profile, format_time
from streams.scoring.scorecard import DEFAULT_SCORECARD
from streams.scoring.state import CustomerState

DAY = 86400.0
T0 = 1_795_000_000.0  # 2026-11-18
CARD = DEFAULT_SCORECARD


def ev(n: int, kind: str, at: float, **fields: object) -> Interaction:
    return Interaction(f"e{n}", "C-1", T0 + at, kind, **fields)  # type: ignore[arg-type]


def run(events: list[Interaction], state: CustomerState | None = None) -> list[Outcome]:
    outcomes = []
    for event in events:
        outcome = score_event(state, event, CARD)
        state = outcome.state
        outcomes.append(outcome)
    return outcomes


SOURING = [
    ev(1, "login", 0, channel="web"),
    ev(2, "purchase", 3600, channel="web", amount=80.0),
    ev(3, "delivery_failed", 2 * DAY, channel="delivery"),
    ev(4, "ticket_opened", 2 * DAY + 60, channel="chat", ticket_id="T-88"),
    ev(5, "complaint", 3 * DAY, channel="phone"),
    ev(6, "nps_response", 4 * DAY, nps=2),
]


def test_a_customer_whose_journey_turns_bad_gets_a_churn_risk_alert() -> None:
    outcomes = run(SOURING)
    alerts = [a for o in outcomes for a in o.alerts]
    churn = [a for a in alerts if a["kind"] == "churn_risk"]
    assert churn, [o.update["score"] for o in outcomes if o.update]
    last = outcomes[-1].update
    assert last is not None and last["band"] in ("at_risk", "critical")
    driver_ids = {d["event_id"] for d in churn[-1]["drivers"]}
    assert {"e3", "e6"} & driver_ids
    assert all(d["impact"] < 0 for d in churn[-1]["drivers"])
    assert churn[-1]["recommended_action"]


def test_a_happy_customer_gets_no_alert() -> None:
    happy = [
        ev(1, "login", 0, channel="app"),
        ev(2, "purchase", DAY, channel="app", amount=40.0),
        ev(3, "delivery_completed", 2 * DAY, channel="delivery"),
        ev(4, "nps_response", 3 * DAY, nps=10),
        ev(5, "review", 4 * DAY, channel="review_site", rating=5.0),
        ev(6, "subscription_renewed", 5 * DAY),
    ]
    outcomes = run(happy)
    assert [a for o in outcomes for a in o.alerts] == []
    assert outcomes[-1].update is not None and outcomes[-1].update["band"] == "healthy"


def test_alert_ids_are_deterministic() -> None:
    first = [a["alert_id"] for o in run(SOURING) for a in o.alerts]
    again = [a["alert_id"] for o in run(SOURING) for a in o.alerts]
    assert first and first == again


def test_a_duplicate_event_changes_nothing() -> None:
    outcomes = run([*SOURING, SOURING[2]])
    assert outcomes[-1].status == "duplicate"
    assert outcomes[-1].update is None and outcomes[-1].alerts == []
    assert outcomes[-1].state.event_count == len(SOURING)


def test_order_within_lateness_gives_the_same_score() -> None:
    within = [e for e in SOURING if e.occurred_at >= T0 + DAY]  # spans less than the lateness
    baseline = score_update(run(within)[-1].state, CARD)
    for seed in range(5):
        shuffled = within[:]
        random.Random(seed).shuffle(shuffled)
        outcomes = run(shuffled)
        assert {o.status for o in outcomes} == {"scored"}
        update = score_update(outcomes[-1].state, CARD)
        assert update["score"] == baseline["score"]
        assert update["components"] == baseline["components"]
        assert update["measures"] == baseline["measures"]


def test_an_event_older_than_the_allowed_lateness_is_too_late() -> None:
    outcomes = run([ev(1, "login", 10 * DAY), ev(2, "complaint", 10 * DAY - 4 * DAY)])
    assert outcomes[-1].status == "too_late"
    assert outcomes[-1].state.event_count == 1


def test_unknown_types_are_neutral() -> None:
    outcome = run([ev(1, "hologram_beamed", 0)])[-1]
    assert outcome.status == "scored"
    assert outcome.update is not None and outcome.update["score"] == 50.0


def test_score_decays_back_toward_neutral() -> None:
    bad = run([ev(1, "nps_response", 0, nps=0)])[-1].update
    later = run([ev(1, "nps_response", 0, nps=0), ev(2, "hologram_beamed", 120 * DAY)])[-1].update
    assert bad is not None and later is not None
    assert bad["score"] < 30
    assert abs(later["score"] - 50) < 1


def test_ticket_resolution_time_against_target() -> None:
    outcomes = run(
        [
            ev(1, "ticket_opened", 0, ticket_id="T-1", channel="chat"),
            ev(2, "ticket_resolved", 5 * DAY, ticket_id="T-1", channel="chat"),
        ]
    )
    update = outcomes[-1].update
    assert update is not None
    assert update["measures"]["ttr_mean_seconds_30d"] == 5 * DAY
    assert update["measures"]["open_tickets"] == 0
    reasons = [d["reason"] for d in update["drivers"]]
    assert "Ticket T-1 took 5.0 days to resolve, target 1 day" in reasons


def test_survey_measures() -> None:
    outcomes = run(
        [
            ev(1, "csat_response", 0, csat=5),
            ev(2, "csat_response", 60, csat=2),
            ev(3, "ces_response", 120, ces=6),
            ev(4, "ces_response", 180, ces=2),
            ev(5, "nps_response", 240, nps=8),
        ]
    )
    m = outcomes[-1].update["measures"]  # type: ignore[index]
    assert m["csat_responses_30d"] == 2
    assert m["csat_satisfied_rate_30d"] == 0.5
    assert m["ces_mean_30d"] == 4.0
    assert m["ces_easy_share_30d"] == 0.5
    assert m["nps_latest"] == 8 and m["nps_category"] == "passive"


def test_little_evidence_means_low_confidence() -> None:
    one = run([ev(1, "login", 0)])[-1].update
    many = run([ev(i, "login", i * 60.0) for i in range(50)])[-1].update
    assert one is not None and many is not None
    assert one["confidence"] < 0.1 < many["confidence"]


def test_state_round_trips_through_bytes() -> None:
    state = run(SOURING)[-1].state
    state = apply_profile(state, Profile("C-1", tier="gold", lifetime_value=12_000.0))
    assert CustomerState.from_bytes(state.to_bytes()) == state


def test_state_stays_bounded_for_a_long_lived_customer() -> None:
    events = [
        ev(i, "ticket_opened" if i % 3 else "login", i * 3600.0, ticket_id=f"T-{i}")
        if i % 3
        else ev(i, "login", i * 3600.0, channel="web")
        for i in range(5000)
    ]
    state = run(events)[-1].state
    assert len(state.seen) <= CARD.max_dedupe_ids
    assert len(state.tickets) <= CARD.max_open_tickets
    assert len(state.buckets) <= 31
    assert len(state.negative_drivers) <= CARD.max_drivers
    assert len(state.to_bytes()) < 16_000


def test_profile_travels_with_alerts_and_raises_severity() -> None:
    state = apply_profile(None, Profile("C-1", tier="platinum", lifetime_value=50_000.0))
    outcomes = run(SOURING, state)
    churn = [a for o in outcomes for a in o.alerts if a["kind"] == "churn_risk"]
    assert churn and churn[0]["profile"]["tier"] == "platinum"
    plain = [a for o in run(SOURING) for a in o.alerts if a["kind"] == "churn_risk"]
    order = ["low", "medium", "high", "critical"]
    assert order.index(churn[0]["severity"]) > order.index(plain[0]["severity"])


def test_one_driver_per_event_even_when_it_moves_two_components() -> None:
    update = run([ev(1, "complaint", 0, channel="phone")])[-1].update
    assert update is not None
    assert [d["event_id"] for d in update["drivers"]] == ["e1"]
    assert update["drivers"][0]["component"] == "service"


def regular(days: int, every: float = 1.0) -> list[Interaction]:
    return [ev(i, "login", i * every * DAY, channel="app") for i in range(days)]


def test_a_regular_customer_who_stops_gets_one_silent_alert() -> None:
    state = run(regular(10))[-1].state
    deadline = silence_deadline(state, CARD)
    assert deadline == state.ref + CARD.silence_min_seconds  # 3 x 1 day, but at least 3 days
    assert check_silence(state, deadline - 60, CARD).alerts == []
    outcome = check_silence(state, deadline + 60, CARD)
    assert [a["kind"] for a in outcome.alerts] == ["silent"]
    alert = outcome.alerts[0]
    assert alert["drivers"][0]["event_id"] == "e9"
    assert "usually active every 1.0 days" in alert["drivers"][0]["reason"]
    assert alert["raised_at"] == format_time(deadline)
    assert check_silence(outcome.state, deadline + 86400, CARD).alerts == []  # once


def test_silence_follows_the_customers_own_rhythm() -> None:
    weekly = run(regular(8, every=7.0))[-1].state
    deadline = silence_deadline(weekly, CARD)
    assert deadline is not None and deadline - weekly.ref == 21 * DAY
    assert check_silence(weekly, weekly.ref + 10 * DAY, CARD).alerts == []


def test_no_rhythm_no_silence_and_activity_resets_it() -> None:
    assert silence_deadline(run(regular(2))[-1].state, CARD) is None
    state = run(regular(10))[-1].state
    state = check_silence(state, state.ref + 30 * DAY, CARD).state
    assert silence_deadline(state, CARD) is None
    back = score_event(state, ev(99, "login", 40 * DAY), CARD).state
    assert silence_deadline(back, CARD) is not None


def test_counts_and_rates_over_the_last_7_and_30_days() -> None:
    outcomes = run(
        [
            ev(1, "csat_response", 0, csat=1),
            ev(2, "complaint", DAY),
            ev(3, "csat_response", 20 * DAY, csat=5),
            ev(4, "ticket_opened", 21 * DAY, ticket_id="T-1"),
            ev(5, "csat_response", 22 * DAY, csat=4),
        ]
    )
    m = outcomes[-1].update["measures"]  # type: ignore[index]
    assert (m["csat_responses_30d"], m["csat_satisfied_rate_30d"]) == (3, round(2 / 3, 4))
    assert (m["csat_responses_7d"], m["csat_satisfied_rate_7d"]) == (2, 1.0)
    assert (m["complaints_30d"], m["complaints_7d"]) == (1, 0)
    assert (m["tickets_opened_30d"], m["tickets_opened_7d"]) == (1, 1)
    assert m["open_tickets"] == 1 and m["longest_open_ticket_seconds"] == DAY


def test_an_open_ticket_past_its_target_weighs_more_the_longer_it_stays_open() -> None:
    opened = [ev(1, "login", 0), ev(2, "ticket_opened", 60, ticket_id="T-88", channel="chat")]
    fresh = score_update(run([*opened, ev(3, "login", 0.5 * DAY)])[-1].state, CARD)
    late = score_update(run([*opened, ev(3, "login", 5 * DAY)])[-1].state, CARD)
    assert late["score"] < fresh["score"]
    aging = [d for d in late["drivers"] if d["event_id"] == "e2"]
    assert aging and aging[0]["reason"] == "Ticket T-88 open 5.0 days, target 1 day"
    resolved = run([*opened, ev(3, "ticket_resolved", 5 * DAY, ticket_id="T-88")])[-1].update
    assert resolved is not None
    assert not [d for d in resolved["drivers"] if d["reason"].startswith("Ticket T-88 open ")]


def test_a_lapse_against_the_customers_own_rhythm_lowers_engagement() -> None:
    usual = [ev(i, "login", i * DAY, channel="app") for i in range(23)]  # daily for 23 days
    steady = score_update(
        run([*usual, *[ev(100 + i, "login", (23 + i) * DAY) for i in range(7)]])[-1].state, CARD
    )
    lapsed = score_update(run([*usual, ev(200, "login", 29 * DAY)])[-1].state, CARD)
    assert lapsed["components"]["engagement"] < steady["components"]["engagement"]
    assert lapsed["measures"]["active_days_7d"] == 1
    reasons = [d["reason"] for d in lapsed["drivers"]]
    assert "Active on 1 of the last 7 days; usually about 7" in reasons
    assert not any(r.startswith("Active on") for r in (d["reason"] for d in steady["drivers"]))
