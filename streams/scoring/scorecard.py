"""The scorecard: every weight, half-life, threshold, target and the event-type mapping.

The defaults live in `scorecard.toml` beside this module; a deployment's own file (TOML, same
keys) is laid over them. `parse_scorecard` checks every key and names the bad one.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.resources import files
from typing import Any, Final

__all__ = [
    "BANDS",
    "COMPONENTS",
    "DEFAULT_SCORECARD",
    "DEFAULT_SCORECARD_TEXT",
    "Impact",
    "Scorecard",
    "ScorecardError",
    "SignalRule",
    "parse_scorecard",
]

#: The sub-scores of the experience score.
COMPONENTS: Final = ("survey", "service", "sentiment", "friction", "commercial", "engagement")

#: Bands from worst to best.
BANDS: Final = ("critical", "at_risk", "neutral", "healthy")

HOUR: Final = 3600.0
DAY: Final = 86400.0


class ScorecardError(ValueError):
    """A scorecard key with a bad value; `key` is its dotted name."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"scorecard key {key!r}: {problem}")
        self.key = key


@dataclass(frozen=True, slots=True)
class Impact:
    component: str
    value: float
    weight: float


@dataclass(frozen=True, slots=True)
class SignalRule:
    impacts: tuple[Impact, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class Scorecard:
    """Parameters of the experience score and the churn-risk rules (see scorecard.toml)."""

    half_life_seconds: float
    score_scale: float
    confidence_evidence: float
    component_weights: Mapping[str, float]
    band_floors: Mapping[str, float]
    band_margin: float
    drop_points: float
    drop_window_seconds: float
    min_alert_confidence: float
    cooldown_seconds: float
    high_value_lifetime_value: float
    high_value_tiers: frozenset[str]
    silence_min_active_days: int
    silence_factor: float
    silence_min_seconds: float
    rhythm_weight: float
    rhythm_min_active_days: float
    rhythm_lapse_weight: float
    allowed_lateness_seconds: float
    max_drivers: int
    max_dedupe_ids: int
    max_open_tickets: int
    max_history: int
    nps_weight: float
    nps_values: tuple[float, ...]
    csat_weight: float
    csat_values: tuple[float, ...]
    ces_weight: float
    rating_weight: float
    sentiment_weight: float
    negative_word_of_mouth: float
    resolution_target_seconds: float
    resolved_in_target: Impact
    resolved_late_weight: float
    late_slope: float
    signals: Mapping[str, SignalRule]

    def band_floor(self, band: str) -> float:
        return self.band_floors[band]


# --- checking -------------------------------------------------------------------------------

Check = Callable[[str, Any], Any]


def _number(low: float = -math.inf, high: float = math.inf, *, above: bool = False) -> Check:
    def check(key: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ScorecardError(key, f"expected a number, got {value!r}")
        if not math.isfinite(value) or value < low or value > high or (above and value <= low):
            bounds = f"above {low:g}" if above else f"between {low:g} and {high:g}"
            if high == math.inf and not above:
                bounds = f"at least {low:g}"
            raise ScorecardError(key, f"{value!r} is out of range: must be {bounds}")
        return float(value)

    return check


def _count(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ScorecardError(key, f"expected a whole number of at least 1, got {value!r}")
    return value


def _values(length: int) -> Check:
    def check(key: str, value: Any) -> tuple[float, ...]:
        if not isinstance(value, list) or len(value) != length:
            raise ScorecardError(key, f"expected a list of {length} numbers")
        return tuple(_number(-1, 1)(f"{key}[{i}]", v) for i, v in enumerate(value))

    return check


def _words(key: str, value: Any) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ScorecardError(key, "expected a list of strings")
    return frozenset(v.lower() for v in value)


def _impact(key: str, value: Any) -> Impact:
    if not isinstance(value, dict):
        raise ScorecardError(
            key, "expected a table like { component = ..., value = ..., weight = ... }"
        )
    _no_strangers(key, value, {"component", "value", "weight"})
    component = value.get("component", "service")
    if component not in COMPONENTS:
        raise ScorecardError(
            f"{key}.component", f"{component!r} is not one of {', '.join(COMPONENTS)}"
        )
    return Impact(
        component,
        _number(-1, 1)(f"{key}.value", _required(key, value, "value")),
        _number(0)(f"{key}.weight", _required(key, value, "weight")),
    )


def _required(key: str, table: Mapping[str, Any], name: str) -> Any:
    if name not in table:
        raise ScorecardError(f"{key}.{name}", "is missing")
    return table[name]


def _no_strangers(key: str, table: Mapping[str, Any], known: set[str]) -> None:
    for name in table:
        if name not in known:
            where = f"{key}.{name}" if key else name
            raise ScorecardError(where, f"unknown key (known: {', '.join(sorted(known))})")


def _signal(key: str, value: Any) -> SignalRule:
    if not isinstance(value, dict):
        raise ScorecardError(key, "expected a table with impacts and reason")
    _no_strangers(key, value, {"impacts", "reason"})
    impacts = _required(key, value, "impacts")
    if not isinstance(impacts, list):
        raise ScorecardError(f"{key}.impacts", "expected a list of impact tables")
    reason = value.get("reason", "{date}")
    if not isinstance(reason, str):
        raise ScorecardError(f"{key}.reason", "expected a string")
    try:
        reason.format(date="", via="", ticket="")
    except (KeyError, IndexError, ValueError) as exc:
        raise ScorecardError(
            f"{key}.reason", f"bad placeholder {exc}; use {{date}}, {{via}}, {{ticket}}"
        ) from None
    return SignalRule(
        tuple(_impact(f"{key}.impacts[{i}]", v) for i, v in enumerate(impacts)), reason
    )


_SECTIONS: Final[dict[str, dict[str, Check]]] = {
    "score": {
        "half_life_days": _number(0, above=True),
        "scale": _number(0, above=True),
        "confidence_evidence": _number(0, above=True),
    },
    "components": {name: _number(0) for name in COMPONENTS},
    "bands": {**{band: _number(0, 100) for band in BANDS}, "margin": _number(0, 50)},
    "alerts": {
        "drop_points": _number(0, 100, above=True),
        "drop_window_days": _number(0, above=True),
        "min_confidence": _number(0, 1),
        "cooldown_hours": _number(0),
        "high_value_lifetime_value": _number(0),
        "high_value_tiers": _words,
    },
    "silence": {
        "min_active_days": _count,
        "factor": _number(1),
        "min_days": _number(0, above=True),
        "rhythm_weight": _number(0, 1, above=True),
    },
    "engagement": {
        "min_active_days_per_week": _number(0, 7, above=True),
        "lapse_weight": _number(0),
    },
    "windows": {"allowed_lateness_hours": _number(0)},
    "limits": {"drivers": _count, "dedupe_ids": _count, "open_tickets": _count, "history": _count},
    "surveys": {
        "nps_weight": _number(0),
        "nps_values": _values(11),
        "csat_weight": _number(0),
        "csat_values": _values(5),
        "ces_weight": _number(0),
    },
    "word_of_mouth": {
        "rating_weight": _number(0),
        "sentiment_weight": _number(0),
        "negative_multiplier": _number(0),
    },
    "service": {
        "resolution_target_hours": _number(0, above=True),
        "resolved_in_target": _impact,
        "resolved_late_weight": _number(0),
        "late_slope": _number(0, above=True),
    },
}


def _checked(raw: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    _no_strangers("", raw, {*_SECTIONS, "signals"})
    out: dict[str, dict[str, Any]] = {}
    for section, checks in _SECTIONS.items():
        table = raw.get(section, {})
        if not isinstance(table, dict):
            raise ScorecardError(section, "expected a table")
        _no_strangers(section, table, set(checks))
        out[section] = {
            name: check(f"{section}.{name}", table[name])
            for name, check in checks.items()
            if name in table
        }
    signals = raw.get("signals", {})
    if not isinstance(signals, dict):
        raise ScorecardError("signals", "expected a table of event types")
    out["signals"] = {kind: _signal(f"signals.{kind}", rule) for kind, rule in signals.items()}
    return out


def _merged(
    base: dict[str, dict[str, Any]], over: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    return {
        section: {**base.get(section, {}), **over.get(section, {})} for section in {*base, *over}
    }


def _build(v: dict[str, dict[str, Any]]) -> Scorecard:
    missing = [f"{s}.{k}" for s, checks in _SECTIONS.items() for k in checks if k not in v[s]]
    if missing:
        raise ScorecardError(missing[0], "is missing")
    floors = {band: v["bands"][band] for band in BANDS}
    if [floors[b] for b in BANDS] != sorted(floors.values()) or len(set(floors.values())) < 4:
        raise ScorecardError(
            "bands", "floors must rise from critical to at_risk to neutral to healthy"
        )
    score, alerts, surveys, wom, service = (
        v["score"],
        v["alerts"],
        v["surveys"],
        v["word_of_mouth"],
        v["service"],
    )
    return Scorecard(
        half_life_seconds=score["half_life_days"] * DAY,
        score_scale=score["scale"],
        confidence_evidence=score["confidence_evidence"],
        component_weights=dict(v["components"]),
        band_floors=floors,
        band_margin=v["bands"]["margin"],
        drop_points=alerts["drop_points"],
        drop_window_seconds=alerts["drop_window_days"] * DAY,
        min_alert_confidence=alerts["min_confidence"],
        cooldown_seconds=alerts["cooldown_hours"] * HOUR,
        high_value_lifetime_value=alerts["high_value_lifetime_value"],
        high_value_tiers=alerts["high_value_tiers"],
        silence_min_active_days=v["silence"]["min_active_days"],
        silence_factor=v["silence"]["factor"],
        silence_min_seconds=v["silence"]["min_days"] * DAY,
        rhythm_weight=v["silence"]["rhythm_weight"],
        rhythm_min_active_days=v["engagement"]["min_active_days_per_week"],
        rhythm_lapse_weight=v["engagement"]["lapse_weight"],
        allowed_lateness_seconds=v["windows"]["allowed_lateness_hours"] * HOUR,
        max_drivers=v["limits"]["drivers"],
        max_dedupe_ids=v["limits"]["dedupe_ids"],
        max_open_tickets=v["limits"]["open_tickets"],
        max_history=v["limits"]["history"],
        nps_weight=surveys["nps_weight"],
        nps_values=surveys["nps_values"],
        csat_weight=surveys["csat_weight"],
        csat_values=surveys["csat_values"],
        ces_weight=surveys["ces_weight"],
        rating_weight=wom["rating_weight"],
        sentiment_weight=wom["sentiment_weight"],
        negative_word_of_mouth=wom["negative_multiplier"],
        resolution_target_seconds=service["resolution_target_hours"] * HOUR,
        resolved_in_target=service["resolved_in_target"],
        resolved_late_weight=service["resolved_late_weight"],
        late_slope=service["late_slope"],
        signals=dict(v["signals"]),
    )


#: The shipped scorecard file, documented key by key.
DEFAULT_SCORECARD_TEXT: Final = (
    files("streams.scoring").joinpath("scorecard.toml").read_text("utf-8")
)
_DEFAULTS: Final = _checked(tomllib.loads(DEFAULT_SCORECARD_TEXT))


def parse_scorecard(text: str) -> Scorecard:
    """A scorecard from TOML text, laid over the shipped defaults; `ScorecardError` if bad."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScorecardError("(file)", f"not valid TOML: {exc}") from None
    return _build(_merged(_DEFAULTS, _checked(raw)))


DEFAULT_SCORECARD: Final = _build(_DEFAULTS)
