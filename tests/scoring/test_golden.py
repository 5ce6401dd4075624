"""Golden journeys: events in, band, alerts and drivers out, written as data (golden/*.toml)."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from streams.contract import interaction_from_body, profile_from_body
from streams.scoring.engine import apply_profile, check_silence, score_event, score_update
from streams.scoring.scorecard import DEFAULT_SCORECARD
from streams.scoring.state import CustomerState

GOLDEN = sorted((Path(__file__).parent / "golden").glob("*.toml"))
DAY_ZERO = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def at(day: float) -> datetime:
    return DAY_ZERO + timedelta(days=day)


def play(journey: dict[str, Any]) -> tuple[CustomerState, list[dict[str, Any]]]:
    customer = "C-golden"
    state: CustomerState | None = None
    if "profile" in journey:
        state = apply_profile(
            None, profile_from_body({"customer_id": customer, **journey["profile"]})
        )
    alerts: list[dict[str, Any]] = []
    for raw in journey["events"]:
        body = {k: v for k, v in raw.items() if k not in ("id", "day")}
        body |= {
            "event_id": raw["id"],
            "customer_id": customer,
            "occurred_at": at(raw["day"]).isoformat(),
        }
        outcome = score_event(state, interaction_from_body(body), DEFAULT_SCORECARD)
        assert outcome.status == "scored", raw["id"]
        state = outcome.state
        alerts += outcome.alerts
    assert state is not None
    if "silence_check" in journey:
        clock = at(journey["silence_check"]["day"]).timestamp()
        alerts += check_silence(state, clock, DEFAULT_SCORECARD).alerts
    return state, alerts


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_golden_journey(path: Path) -> None:
    journey = tomllib.loads(path.read_text())
    expect = journey["expect"]
    state, alerts = play(journey)
    update = score_update(state, DEFAULT_SCORECARD)
    assert update["band"] == expect["band"], update["score"]
    assert [a["kind"] for a in alerts] == expect["alerts"]
    if "severities" in expect:
        assert [a["severity"] for a in alerts] == expect["severities"]
    assert set(expect.get("drivers_include", [])) <= {d["event_id"] for d in update["drivers"]}
    explained = alerts[-1]["drivers"] if alerts else []
    assert set(expect.get("alert_drivers_include", [])) <= {d["event_id"] for d in explained}
    reasons = {d["reason"] for d in explained} | {d["reason"] for d in update["drivers"]}
    for reason in expect.get("reasons_include", []):
        assert reason in reasons
    if "action_contains" in expect:
        assert expect["action_contains"] in alerts[-1]["recommended_action"]
    if "nps_category" in expect:
        assert update["measures"]["nps_category"] == expect["nps_category"]


def test_every_journey_of_the_scoring_issue_is_there() -> None:
    assert {p.stem for p in GOLDEN} >= {
        "loyal_promoter",
        "tickets_drag_on",
        "detractor_after_failed_delivery",
        "goes_silent",
        "recovery_after_quick_fix",
        "high_value_small_drop",
    }
