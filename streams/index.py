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
    """When each customer of each partition would count as silent: a heap per partition.

    Entries are hints: the state is read again before an alert. A customer keeps one entry, the
    earliest deadline given; a later one replaces it when that entry comes due and is re-checked.
    """

    def __init__(self) -> None:
        self._due: dict[int, list[tuple[float, str]]] = {}
        self._watched: dict[str, float] = {}

    def watch(self, partition: int, customer_id: str, deadline: float | None) -> None:
        if deadline is None:
            return
        current = self._watched.get(customer_id)
        if current is not None and current <= deadline:
            return
        self._watched[customer_id] = deadline
        heapq.heappush(self._due.setdefault(partition, []), (deadline, customer_id))

    def next_due(self, partition: int) -> float | None:
        due = self._due.get(partition)
        return due[0][0] if due else None

    def pop_due(self, partition: int, clock: float) -> list[str]:
        due = self._due.get(partition, [])
        out = []
        while due and due[0][0] <= clock:
            deadline, customer_id = heapq.heappop(due)
            if self._watched.get(customer_id) == deadline:
                del self._watched[customer_id]
                out.append(customer_id)
        return out

    def clear(self) -> None:
        self._due.clear()
        self._watched.clear()
