"""What the worker knows of its customers as a whole, for `/at-risk`, `/stats` and the band
gauges, and when each might go silent.

Derived data: rebuilt from the state table after a recovery, kept up to date with every score
change. The index holds no entry per customer, only the at-risk ones (so memory follows the
customers at risk, not all of them, which with RocksDB live on disk): counts move with each
change from a customer's previous band and score to the new ones.
"""

from __future__ import annotations

import heapq
from collections import Counter

from streams.scoring.risk import RISK_BANDS

__all__ = ["CustomerIndex", "SilenceWatch"]


def _decile(score: float | None) -> int:
    return min(9, int((score or 0.0) // 10))


class CustomerIndex:
    """Customers by band and by score decile, and the at-risk ones' scores."""

    def __init__(self) -> None:
        self._at_risk: dict[str, float] = {}
        self._counts: Counter[str] = Counter()
        self._deciles = [0] * 10
        self._tracked = 0

    def observe(
        self,
        customer_id: str,
        band: str | None,
        score: float | None,
        *,
        was: tuple[str | None, float | None] = (None, None),
    ) -> None:
        """The customer's band and score are now `band` and `score`; `was`: what they were
        (no band: not counted yet)."""
        if band is None:
            return
        previous_band, previous_score = was
        if previous_band is None:
            self._tracked += 1
        else:
            self._counts[previous_band] -= 1
            self._deciles[_decile(previous_score)] -= 1
        self._counts[band] += 1
        self._deciles[_decile(score)] += 1
        if band in RISK_BANDS and score is not None:
            self._at_risk[customer_id] = score
        else:
            self._at_risk.pop(customer_id, None)

    def clear(self) -> None:
        self._at_risk.clear()
        self._counts.clear()
        self._deciles = [0] * 10
        self._tracked = 0

    def tracked(self) -> int:
        return self._tracked

    def distribution(self) -> list[int]:
        """Customers by current score: 0-10, 10-20, ..., 90-100."""
        return list(self._deciles)

    def count(self, band: str) -> int:
        return self._counts[band]

    def at_risk_count(self) -> int:
        return len(self._at_risk)

    def lowest(self, limit: int) -> list[tuple[str, float]]:
        """The `limit` at-risk customers with the lowest scores, lowest first."""
        return heapq.nsmallest(limit, self._at_risk.items(), key=lambda item: (item[1], item[0]))


class SilenceWatch:
    """When each customer of each partition would count as silent.

    Entries are hints: the state is read again before an alert. A customer keeps one entry, the
    earliest deadline given; a later one replaces it when that entry comes due and is re-checked.

    A customer costs a dict entry and a float here (about 65 bytes), not a heap entry as well
    (a tuple and a slot, as much again): the worker keeps one for every customer, whatever
    its store, and looks for due ones only every `CX_SILENCE_CHECK_SECONDS`, so a scan of a
    partition's entries when one is due (a few milliseconds for 100,000) is the cheaper side.
    """

    def __init__(self) -> None:
        self._deadlines: dict[int, dict[str, float]] = {}
        #: per partition, the earliest deadline (None: to be found again)
        self._earliest: dict[int, float | None] = {}

    def watch(self, partition: int, customer_id: str, deadline: float | None) -> None:
        if deadline is None:
            return
        deadlines = self._deadlines.get(partition)
        if deadlines is None:
            deadlines = self._deadlines[partition] = {}
        current = deadlines.get(customer_id)
        if current is not None and current <= deadline:
            return
        deadlines[customer_id] = deadline
        earliest = self._earliest.get(partition)
        if len(deadlines) == 1 or (earliest is not None and deadline < earliest):
            self._earliest[partition] = deadline

    def next_due(self, partition: int) -> float | None:
        deadlines = self._deadlines.get(partition)
        if not deadlines:
            return None
        earliest = self._earliest.get(partition)
        if earliest is None:
            earliest = self._earliest[partition] = min(deadlines.values())
        return earliest

    def pop_due(self, partition: int, clock: float) -> list[str]:
        """The customers due by `clock`, earliest first, forgotten here."""
        deadlines = self._deadlines.get(partition)
        if not deadlines:
            return []
        earliest = self._earliest.get(partition)
        if earliest is not None and earliest > clock:
            return []  # none due; without a known earliest, the scan below finds out
        due = sorted(
            [
                (deadline, customer_id)
                for customer_id, deadline in deadlines.items()
                if deadline <= clock
            ]
        )
        for _, customer_id in due:
            del deadlines[customer_id]
        self._earliest[partition] = None
        return [customer_id for _, customer_id in due]

    def clear(self) -> None:
        self._deadlines.clear()
        self._earliest.clear()
