"""In-memory index of this worker's customers by band, for `/at-risk` and the band gauges.

It is derived data: rebuilt from the state table after recovery, updated on every score change.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable
from typing import Final

from streams.scoring.risk import RISK_BANDS
from streams.scoring.scorecard import BANDS

__all__ = ["CustomerIndex", "SilenceWatch"]


def _decile(score: float | None) -> int:
    return min(9, int((score or 0.0) // 10))


_BAND_CODE: Final = {band: i for i, band in enumerate(BANDS)}


class CustomerIndex:
    """Band and score decile of every customer of this worker, and the at-risk ones' scores."""

    def __init__(self) -> None:
        #: customer id -> band code * 10 + decile: a small int, which Python does not allocate
        self._where: dict[str, int] = {}
        self._at_risk: dict[str, float] = {}
        self._counts: Counter[str] = Counter()
        self._deciles = [0] * 10

    def observe(self, customer_id: str, band: str | None, score: float | None) -> None:
        if band is None:
            return
        previous = self._where.get(customer_id)
        now = _BAND_CODE[band] * 10 + _decile(score)
        if previous != now:
            if previous is not None:
                self._counts[BANDS[previous // 10]] -= 1
                self._deciles[previous % 10] -= 1
            self._counts[band] += 1
            self._deciles[now % 10] += 1
            self._where[customer_id] = now
        if band in RISK_BANDS and score is not None:
            self._at_risk[customer_id] = score
        else:
            self._at_risk.pop(customer_id, None)

    def rebuild(self, customers: Iterable[tuple[str, str | None, float | None]]) -> None:
        self._where.clear()
        self._at_risk.clear()
        self._counts.clear()
        self._deciles = [0] * 10
        for customer_id, band, score in customers:
            self.observe(customer_id, band, score)

    def tracked(self) -> int:
        return len(self._where)

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
