"""NPS, CSAT, CES and TTR by their standard definitions, and the daily buckets they come from.

- NPS (0-10): promoters 9-10, passives 7-8, detractors 0-6.
- CSAT (1-5): 4 or 5 is satisfied; the rate is satisfied / responses.
- CES 2.0 (1-7, higher is easier): the mean, and the share of 5-7.
- TTR: from a ticket's opening to its resolution.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

__all__ = [
    "BUCKET_FIELDS",
    "WINDOWS",
    "add_to_bucket",
    "ces_easy_share",
    "csat_satisfied",
    "nps_category",
    "nps_of_group",
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


def add_to_bucket(bucket: list[float], name: str, amount: float = 1.0) -> None:
    bucket[_INDEX[name]] += amount


def window_measures(buckets: Iterable[list[float]], suffix: str) -> dict[str, float | int | None]:
    """Sum daily buckets into the score update's figures for one window (`suffix`: 7d, 30d)."""
    total = [0.0] * len(BUCKET_FIELDS)
    buckets_seen = list(buckets)
    for bucket in buckets_seen:  # summed in bucket order, field by field
        total = [a + b for a, b in zip(total, bucket, strict=True)]
    t = dict(zip(BUCKET_FIELDS, total, strict=True))
    csat_n, ces_n, ttr_n = int(t["csat_responses"]), int(t["ces_responses"]), int(t["ttr_count"])
    return {
        f"active_days_{suffix}": sum(1 for bucket in buckets_seen if bucket[_INDEX["events"]] > 0),
        f"csat_responses_{suffix}": csat_n,
        f"csat_satisfied_rate_{suffix}": round(t["csat_satisfied"] / csat_n, 4) if csat_n else None,
        f"ces_responses_{suffix}": ces_n,
        f"ces_mean_{suffix}": round(t["ces_sum"] / ces_n, 3) if ces_n else None,
        f"ces_easy_share_{suffix}": round(t["ces_easy"] / ces_n, 4) if ces_n else None,
        f"tickets_opened_{suffix}": int(t["tickets_opened"]),
        f"complaints_{suffix}": int(t["complaints"]),
        f"ttr_mean_seconds_{suffix}": round(t["ttr_sum"] / ttr_n, 1) if ttr_n else None,
    }
