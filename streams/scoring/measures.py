"""NPS, CSAT, CES and TTR by their standard definitions, and the daily buckets they come from.

- NPS (0-10): promoters 9-10, passives 7-8, detractors 0-6.
- CSAT (1-5): 4 or 5 is satisfied; the rate is satisfied / responses.
- CES 2.0 (1-7, higher is easier): the mean, and the share of 5-7.
- TTR: from a ticket's opening to its resolution.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import reduce
from operator import add
from typing import Final

from streams.scoring.rounding import round_to

__all__ = [
    "BUCKET_FIELDS",
    "CES_EASY",
    "CES_RESPONSES",
    "CES_SUM",
    "COMPLAINTS",
    "CSAT_RESPONSES",
    "CSAT_SATISFIED",
    "EVENTS",
    "TICKETS_OPENED",
    "TTR_COUNT",
    "TTR_SUM",
    "WINDOWS",
    "active_days",
    "add_window_measures",
    "ces_easy_share",
    "csat_satisfied",
    "nps_category",
    "nps_of_group",
    "window_columns",
    "window_measures",
]

#: Daily bucket layout: one list of counters per day.
BUCKET_FIELDS: Final = (
    "csat_responses",
    "csat_satisfied",
    "ces_responses",
    "ces_sum",
    "ces_easy",
    "tickets_opened",
    "complaints",
    "ttr_count",
    "ttr_sum",
    "events",
)
_INDEX: Final = {name: i for i, name in enumerate(BUCKET_FIELDS)}
#: where each field is in a bucket
CSAT_RESPONSES: Final = _INDEX["csat_responses"]
CSAT_SATISFIED: Final = _INDEX["csat_satisfied"]
CES_RESPONSES: Final = _INDEX["ces_responses"]
CES_SUM: Final = _INDEX["ces_sum"]
CES_EASY: Final = _INDEX["ces_easy"]
TICKETS_OPENED: Final = _INDEX["tickets_opened"]
COMPLAINTS: Final = _INDEX["complaints"]
TTR_COUNT: Final = _INDEX["ttr_count"]
TTR_SUM: Final = _INDEX["ttr_sum"]
EVENTS: Final = _INDEX["events"]

#: The rolling event-time windows of the score update's counts and rates, in days.
WINDOWS: Final = (7, 30)


def nps_category(score: int) -> str:
    if score >= 9:
        return "promoter"
    if score >= 7:
        return "passive"
    return "detractor"


def nps_of_group(scores: Iterable[int]) -> float | None:
    """% promoters - % detractors, -100..100; None with no responses (undefined, not 0)."""
    values = list(scores)
    if not values:
        return None
    promoters = sum(1 for s in values if s >= 9)
    detractors = sum(1 for s in values if s <= 6)
    return 100.0 * (promoters - detractors) / len(values)


def csat_satisfied(score: int) -> bool:
    return score >= 4


def ces_easy_share(scores: Iterable[int]) -> float | None:
    values = list(scores)
    if not values:
        return None
    return sum(1 for s in values if s >= 5) / len(values)


def window_measures(buckets: Iterable[list[float]], suffix: str) -> dict[str, float | int | None]:
    """Sum daily buckets into the score update's figures for one window (`suffix`: 7d, 30d)."""
    out: dict[str, float | int | None] = {}
    add_window_measures(out, window_columns(list(buckets)), suffix)
    return out


def window_columns(buckets: list[list[float]]) -> list[tuple[float, ...]]:
    """A window's daily buckets field by field (`BUCKET_FIELDS` order), each in bucket order."""
    if not buckets:
        return [()] * len(BUCKET_FIELDS)
    return list(zip(*buckets))  # noqa: B905 (every bucket has every field; strict= costs)


def active_days(columns: list[tuple[float, ...]]) -> int:
    """Days with at least one event among a window's buckets (`window_columns`)."""
    events = columns[EVENTS]
    return len(events) - events.count(0.0)  # counts of events: whole numbers, never below 0


def add_window_measures(
    out: dict[str, float | int | None],
    columns: list[tuple[float, ...]],
    suffix: str,
    active: int | None = None,
) -> None:
    """`window_measures` from a window's `window_columns` (and `active_days`, if known),
    written into `out` (the score update's measures, in key order)."""
    names = _NAMES.get(suffix)
    if names is None:
        names = _NAMES[suffix] = tuple(f"{name}_{suffix}" for name in _FIGURES)
    # Counters only ever grow by 1, so their sums are whole numbers, exact in any order; the
    # two sums of measured values are added in bucket order, one bucket after another.
    csat_n = int(sum(columns[CSAT_RESPONSES]))
    ces_n = int(sum(columns[CES_RESPONSES]))
    ttr_n = int(sum(columns[TTR_COUNT]))
    out[names[0]] = active_days(columns) if active is None else active
    out[names[1]] = csat_n
    out[names[2]] = round_to(sum(columns[CSAT_SATISFIED]) / csat_n, 4) if csat_n else None
    out[names[3]] = ces_n
    out[names[4]] = round_to(reduce(add, columns[CES_SUM], 0.0) / ces_n, 3) if ces_n else None
    out[names[5]] = round_to(sum(columns[CES_EASY]) / ces_n, 4) if ces_n else None
    out[names[6]] = int(sum(columns[TICKETS_OPENED]))
    out[names[7]] = int(sum(columns[COMPLAINTS]))
    out[names[8]] = round_to(reduce(add, columns[TTR_SUM], 0.0) / ttr_n, 1) if ttr_n else None


_FIGURES: Final = (
    "active_days",
    "csat_responses",
    "csat_satisfied_rate",
    "ces_responses",
    "ces_mean",
    "ces_easy_share",
    "tickets_opened",
    "complaints",
    "ttr_mean_seconds",
)
_NAMES: dict[str, tuple[str, ...]] = {}
