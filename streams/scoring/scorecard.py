"""The scorecard: every weight, half-life, threshold and target of the model, with defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

__all__ = ["BANDS", "COMPONENTS", "DEFAULT_SCORECARD", "Scorecard"]

#: The sub-scores of the experience score.
COMPONENTS: Final = ("survey", "service", "sentiment", "friction", "commercial", "engagement")

#: Bands from worst to best.
BANDS: Final = ("critical", "at_risk", "neutral", "healthy")

DAY: Final = 86400.0


def _component_weights() -> dict[str, float]:
    return dict.fromkeys(COMPONENTS, 1.0)


def _band_floors() -> dict[str, float]:
    return {"critical": 0.0, "at_risk": 30.0, "neutral": 45.0, "healthy": 65.0}


@dataclass(frozen=True, slots=True)
class Scorecard:
    """Parameters of the experience score and the churn-risk rules.

    A score is 50 (neutral) plus up to +/-50 points from time-decayed signals; `prior_evidence`
    is how much evidence a customer needs before the signals pull the score halfway from neutral.
    """

    half_life_seconds: float = 14 * DAY
    prior_evidence: float = 2.0
    confidence_evidence: float = 3.0
    component_weights: dict[str, float] = field(default_factory=_component_weights)

    # Service targets
    resolution_target_seconds: float = 1 * DAY

    # Bands and their hysteresis: moving up into a band needs its floor plus the margin.
    band_floors: dict[str, float] = field(default_factory=_band_floors)
    band_margin: float = 5.0

    # Alert rules
    drop_points: float = 20.0
    drop_window_seconds: float = 7 * DAY
    min_alert_confidence: float = 0.3
    cooldown_seconds: float = 1 * DAY
    high_value_lifetime_value: float = 10_000.0
    high_value_tiers: frozenset[str] = frozenset({"gold", "platinum", "vip", "enterprise"})

    # Windows and memory bounds
    window_days: int = 30
    max_drivers: int = 5
    max_dedupe_ids: int = 128
    max_open_tickets: int = 16
    allowed_lateness_seconds: float = 3 * DAY

    def band_floor(self, band: str) -> float:
        return self.band_floors[band]


DEFAULT_SCORECARD: Final = Scorecard()
