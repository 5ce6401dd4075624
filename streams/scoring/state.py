"""Compact per-customer state, bounded in size however long the customer lives, and its codec.

Decayed sums are kept relative to `ref`, the newest event time seen: advancing `ref` rescales
them, and a late event adds its contribution already decayed, so the sums do not depend on the
order events arrive in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from streams.scoring.measures import BUCKET_FIELDS
from streams.scoring.scorecard import COMPONENTS

__all__ = ["CustomerState", "Driver"]

#: A driver candidate: (rank key, event_id, type, occurred_at, component, signed evidence, reason).
Driver = tuple[float, str, str, float, str, float, str]


def _zeros() -> list[float]:
    return [0.0] * len(COMPONENTS)


@dataclass(slots=True)
class CustomerState:
    customer_id: str
    ref: float = 0.0
    component_sum: list[float] = field(default_factory=_zeros)
    component_evidence: list[float] = field(default_factory=_zeros)
    #: "stage:usage", "channel:chat", ... -> [decayed sum, decayed evidence]
    breakdown: dict[str, list[float]] = field(default_factory=dict)
    #: day number (epoch days) -> counters in `measures.BUCKET_FIELDS` order
    buckets: dict[int, list[float]] = field(default_factory=dict)
    #: (event time, event id, NPS) of the newest NPS answer
    nps_latest: tuple[float, str, int] | None = None
    #: ticket id -> `tickets.TicketRecord`
    tickets: dict[str, list[Any]] = field(default_factory=dict)
    #: stable hashes of recent event ids -> event time, for dropping duplicates
    seen: dict[int, float] = field(default_factory=dict)
    negative_drivers: list[Driver] = field(default_factory=list)
    positive_drivers: list[Driver] = field(default_factory=list)
    #: decreasing (time, score) pairs: the running maximum over the drop window
    peaks: list[tuple[float, float]] = field(default_factory=list)
    score: float | None = None
    band: str | None = None
    #: the worst risk band an alert has been raised for since the customer was last fine
    risk_alerted: str | None = None
    last_alerts: dict[str, float] = field(default_factory=dict)
    event_count: int = 0
    profile: dict[str, Any] | None = None
    #: the newest event (for silence alerts)
    last_event_id: str | None = None
    last_event_type: str | None = None
    #: the customer's rhythm: mean days between active days (moving average), days seen
    rhythm_days: float | None = None
    active_days: int = 0
    last_active_day: int = -1
    silent_alerted: bool = False
    #: the last scores published, (event time, score): for charts, bounded
    history: list[tuple[float, float]] = field(default_factory=list)

    def new_bucket(self, day: int) -> list[float]:
        bucket = self.buckets.get(day)
        if bucket is None:
            bucket = self.buckets[day] = [0.0] * len(BUCKET_FIELDS)
        return bucket

    def to_bytes(self) -> bytes:
        # A copy of exactly its length: the bytes orjson returns keep the capacity of its
        # output buffer (about 8 KiB for a 3 KB state), and the table keeps every state.
        data = orjson.dumps(
            {
                "c": self.customer_id,
                "r": self.ref,
                "cs": self.component_sum,
                "ce": self.component_evidence,
                "b": self.breakdown,
                "k": [[day, counts] for day, counts in self.buckets.items()],
                "n": self.nps_latest,
                "t": self.tickets,
                "s": [[h, t] for h, t in self.seen.items()],
                "dn": self.negative_drivers,
                "dp": self.positive_drivers,
                "p": self.peaks,
                "sc": self.score,
                "bd": self.band,
                "ra": self.risk_alerted,
                "la": self.last_alerts,
                "ec": self.event_count,
                "pf": self.profile,
                "li": self.last_event_id,
                "lt": self.last_event_type,
                "rd": self.rhythm_days,
                "ad": self.active_days,
                "lad": self.last_active_day,
                "sa": self.silent_alerted,
                "h": self.history,
            }
        )
        return bytes(memoryview(data))

    @classmethod
    def from_bytes(cls, data: bytes) -> CustomerState:
        d = orjson.loads(data)
        nps = d["n"]
        return cls(
            customer_id=d["c"],
            ref=d["r"],
            component_sum=d["cs"],
            component_evidence=d["ce"],
            breakdown=d["b"],
            buckets={int(day): counts for day, counts in d["k"]},
            nps_latest=(nps[0], nps[1], nps[2]) if nps else None,
            tickets=d["t"],
            seen={int(h): t for h, t in d["s"]},
            negative_drivers=[tuple(x) for x in d["dn"]],
            positive_drivers=[tuple(x) for x in d["dp"]],
            peaks=[(t, s) for t, s in d["p"]],
            score=d["sc"],
            band=d["bd"],
            risk_alerted=d["ra"],
            last_alerts=d["la"],
            event_count=d["ec"],
            profile=d["pf"],
            last_event_id=d["li"],
            last_event_type=d["lt"],
            rhythm_days=d["rd"],
            active_days=d["ad"],
            last_active_day=d["lad"],
            silent_alerted=d["sa"],
            history=[(t, s) for t, s in d["h"]],
        )
