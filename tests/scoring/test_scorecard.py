import pytest

from streams.scoring.scorecard import (
    DEFAULT_SCORECARD,
    DEFAULT_SCORECARD_TEXT,
    ScorecardError,
    parse_scorecard,
)
from streams.scoring.vocabulary import EVENT_TYPES


def test_the_shipped_file_is_the_default() -> None:
    assert parse_scorecard(DEFAULT_SCORECARD_TEXT) == DEFAULT_SCORECARD
    assert parse_scorecard("") == DEFAULT_SCORECARD


def test_every_known_type_with_a_fixed_signal_is_mapped() -> None:
    special = {
        "ticket_resolved",
        "nps_response",
        "csat_response",
        "ces_response",
        "review",
        "social_mention",
    }
    assert set(DEFAULT_SCORECARD.signals) == set(EVENT_TYPES) - special


def test_a_file_overrides_only_what_it_names() -> None:
    card = parse_scorecard(
        "[score]\nhalf_life_days = 7\n[signals.purchase]\n"
        'impacts = [{ component = "commercial", value = 0.9, weight = 2 }]\nreason = "Bought"\n'
    )
    assert card.half_life_seconds == 7 * 86400
    assert card.signals["purchase"].impacts[0].value == 0.9
    assert card.signals["refund_issued"] == DEFAULT_SCORECARD.signals["refund_issued"]
    assert card.score_scale == DEFAULT_SCORECARD.score_scale


def test_new_event_types_can_be_mapped() -> None:
    card = parse_scorecard(
        '[signals.warranty_claim]\nimpacts = [{ component = "service", value = -0.5, '
        'weight = 1 }]\nreason = "Warranty claim on {date}"\n'
    )
    assert "warranty_claim" in card.signals


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[score]\nhalf_life_days = 0\n", "score.half_life_days"),
        ("[score]\nhalf_lfe_days = 3\n", "score.half_lfe_days"),
        ("[scroe]\n", "scroe"),
        ('[bands]\nat_risk = "low"\n', "bands.at_risk"),
        ("[bands]\nat_risk = 70\n", "bands"),
        ("[components]\nsurvey = -1\n", "components.survey"),
        ("[surveys]\nnps_values = [1, 2]\n", "surveys.nps_values"),
        ("[surveys]\ncsat_values = [0, 0, 0, 0, 2]\n", "surveys.csat_values[4]"),
        ("[limits]\ndrivers = 0\n", "limits.drivers"),
        (
            '[signals.purchase]\nimpacts = [{ component = "mood", value = 1, weight = 1 }]\n',
            "signals.purchase.impacts[0].component",
        ),
        (
            "[signals.purchase]\nimpacts = [{ value = 3, weight = 1 }]\n",
            "signals.purchase.impacts[0].value",
        ),
        ('[signals.purchase]\nimpacts = []\nreason = "On {day}"\n', "signals.purchase.reason"),
        ("not toml = = =", "(file)"),
    ],
)
def test_a_bad_file_names_the_bad_key(text: str, key: str) -> None:
    with pytest.raises(ScorecardError) as error:
        parse_scorecard(text)
    assert error.value.key == key
    assert key in str(error.value)
