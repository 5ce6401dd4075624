from streams.scoring.risk import decide_alerts, is_high_value, next_band, recommended_action
from streams.scoring.scorecard import DEFAULT_SCORECARD

CARD = DEFAULT_SCORECARD


def test_bands_from_scores() -> None:
    assert next_band(None, 80, CARD) == "healthy"
    assert next_band(None, 50, CARD) == "neutral"
    assert next_band(None, 40, CARD) == "at_risk"
    assert next_band(None, 10, CARD) == "critical"


def test_leaving_a_band_upwards_needs_the_margin() -> None:
    assert next_band("at_risk", 46, CARD) == "at_risk"  # above 45, below 45 + 5
    assert next_band("at_risk", 50, CARD) == "neutral"
    assert next_band("critical", 72, CARD) == "healthy"
    assert next_band("critical", 68, CARD) == "neutral"


def test_falling_is_immediate() -> None:
    assert next_band("healthy", 44.9, CARD) == "at_risk"


def _decide(**kw: object) -> list[str]:
    args: dict[str, object] = dict(
        previous_band="neutral",
        band="neutral",
        score=50.0,
        peak=None,
        confidence=0.9,
        risk_alerted=None,
        last_alerts={},
        now=1_000_000.0,
        high_value=False,
        card=CARD,
    )
    args.update(kw)
    return [f"{d.kind}:{d.severity}" for d in decide_alerts(**args)]  # type: ignore[arg-type]


def test_entering_risk_raises_churn_risk_once() -> None:
    assert _decide(band="at_risk", score=40.0) == ["churn_risk:medium"]
    assert _decide(band="at_risk", score=40.0, risk_alerted="at_risk") == []


def test_escalation_to_critical_raises_again_despite_cooldown() -> None:
    last = {"churn_risk": 1_000_000.0 - 60}
    assert _decide(band="critical", score=20.0, risk_alerted="at_risk", last_alerts=last) == [
        "churn_risk:high"
    ]


def test_low_confidence_raises_nothing() -> None:
    assert _decide(band="critical", score=20.0, confidence=0.1) == []


def test_high_value_customers_are_escalated() -> None:
    assert _decide(band="at_risk", score=40.0, high_value=True) == ["churn_risk:high"]


def test_leaving_risk_is_a_recovery() -> None:
    assert _decide(band="neutral", score=55.0, risk_alerted="critical") == ["recovered:low"]


def test_a_sharp_drop_in_a_fine_band_is_a_score_drop() -> None:
    assert _decide(band="neutral", score=50.0, peak=75.0) == ["score_drop:low"]
    assert _decide(band="neutral", score=50.0, peak=65.0) == []


def test_cooldown_stops_a_repeated_score_drop() -> None:
    last = {"score_drop": 1_000_000.0 - 3600}
    assert _decide(band="neutral", score=50.0, peak=75.0, last_alerts=last) == []


def test_high_value_by_ltv_or_tier() -> None:
    assert is_high_value({"lifetime_value": 25_000}, CARD)
    assert is_high_value({"tier": "Platinum"}, CARD)
    assert not is_high_value({"tier": "standard", "lifetime_value": 10}, CARD)
    assert not is_high_value(None, CARD)


def test_actions_name_the_ticket() -> None:
    action = recommended_action("churn_risk", "ticket_reopened", "T-88", False)
    assert "T-88" in action
    assert recommended_action("churn_risk", "ticket_reopened", "T-88", True).startswith(
        "High-value customer: escalate"
    )
