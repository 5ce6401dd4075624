"""Compact per-customer state, bounded in size however long the customer lives, and its codec.

Decayed sums are kept relative to `ref`, the newest event time seen: advancing `ref` rescales
them, and a late event adds its contribution already decayed, so the sums do not depend on the
order events arrive in.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain, compress, repeat
from operator import and_
from typing import Any, Final

import orjson

from streams.scoring.interaction import day_number, day_text
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
        """The state in binary format 2 (`from_bytes` also reads format 1 and the JSON of
        earlier code)."""
        return _encode(self)

    @classmethod
    def from_bytes(cls, data: bytes) -> CustomerState:
        if data[:1] == b"{":
            return _from_json(data)
        if data[:1] in (b"\x01", b"\x02"):
            return _decode(data)
        raise ValueError(f"not a customer state: starts with {data[:1]!r}")


# Format 2 (format 1 with the dates of the drivers' reasons as numbers): a version byte,
# flags and the sections' lengths (_HEADER), then
#   float64  ref, the decayed sums, the remembered ids' times, the drivers' ranks, times and
#            pulls, peaks, history (its scores alone when its times are those of the newest
#            ids remembered), measured bucket sums, and counters not exact as float16
#   uint64   the remembered ids' hashes
#   float16  the bucket counters (whole numbers, exact up to 2048)
#   uint8    words by their code in _WORDS, then which bucket fields are stored (unless only
#            events are)
#   JSON     the other strings and small numbers, and what is rare or optional (tickets,
#            profile, alerts)
#   uint16   format 2: for each driver whose reason ends with " on " and a date, that date's
#            day number (the 14 characters are left out of the reason), else 0xFFFF; most
#            reasons end so, and 2 bytes take the place of 14
# Floats go in as their bytes: exact, 8 bytes where JSON took up to 24, and no text to write
# or parse. Python's cost here is per call, not per value, so each part goes in and out in a
# few calls that loop in C (a zip over iterators puts a driver's floats and strings back
# together, for one). A state in the JSON format of earlier code starts with "{".
_FORMAT_2: Final = 2
_HEADER: Final = struct.Struct("<BBHHHHI")  # version, flags, then the sections' lengths
# flags
_HISTORY_IN_SEEN, _EVENTS_ONLY, _COUNTS_AS_FLOAT64 = 1, 2, 4

#: Format 1's dictionary: words a state repeats, by a one-byte code (their position). Append
#: only: a stored code must keep its word. Other words are written out (code 255).
_WORDS: Final = (
    # components
    *("survey", "service", "sentiment", "friction", "commercial", "engagement"),
    # breakdown keys
    *("stage:awareness", "stage:consideration", "stage:purchase", "stage:usage"),
    *("stage:repurchase", "stage:leaving", "channel:web", "channel:app", "channel:email"),
    *("channel:sms", "channel:phone", "channel:chat", "channel:store", "channel:staff"),
    *("channel:social", "channel:ads", "channel:review_site", "channel:delivery"),
    *("channel:other", "interaction:direct", "interaction:indirect", "dimension:sense"),
    *("dimension:feel", "dimension:think", "dimension:act", "dimension:relate"),
    # event types
    *("ad_impression", "ad_click", "page_view", "product_view", "search", "signup", "login"),
    *("app_open", "feature_used", "email_opened", "email_unsubscribed", "store_visit"),
    *("cart_add", "checkout_started", "purchase", "delivery_completed", "subscription_renewed"),
    *("return_requested", "refund_issued", "subscription_cancelled", "ticket_opened"),
    *("ticket_reopened", "ticket_resolved", "call_completed", "call_abandoned"),
    *("chat_completed", "complaint", "payment_failed", "login_failed", "app_error"),
    *("checkout_slow", "delivery_delayed", "delivery_failed", "nps_response", "csat_response"),
    *("ces_response", "review", "social_mention"),
)
_CODES: Final = {word: code for code, word in enumerate(_WORDS)}
_OTHER: Final = 255
#: a driver whose reason does not end with " on " and a date (or a date format 2 cannot hold)
_UNDATED: Final = 0xFFFF


#: " on YYYY-MM-DD", the ending format 2 keeps as a day number
_DATED: Final = len(" on YYYY-MM-DD")


def _reason_day(reason: str) -> int:
    """The day number of the date a reason ends with (" on YYYY-MM-DD"), else _UNDATED."""
    if reason[-_DATED : 4 - _DATED] != " on ":
        return _UNDATED
    day = day_number(reason[4 - _DATED :])
    return day if day is not None and day < _UNDATED else _UNDATED


_FIELDS: Final = len(BUCKET_FIELDS)
_EVENTS: Final = BUCKET_FIELDS.index("events")
_SUMS: Final = tuple(BUCKET_FIELDS.index(name) for name in ("ces_sum", "ttr_sum"))
#: bucket fields that count (whole numbers) rather than sum measured values
_COUNTERS: Final = tuple(i for i in range(_FIELDS) if i not in _SUMS)
_IS_COUNTER: Final = bytes(i in _COUNTERS for i in range(_FIELDS))
_IS_SUM: Final = bytes(i in _SUMS for i in range(_FIELDS))
_EVENTS_STORED: Final = bytes(i == _EVENTS for i in range(_FIELDS))
_BEFORE_EVENTS: Final = (0.0,) * _EVENTS
_AFTER_EVENTS: Final = (0.0,) * (_FIELDS - _EVENTS - 1)


def _encode(s: CustomerState) -> bytes:
    seen, buckets, history = s.seen, s.buckets, s.history
    drivers = s.negative_drivers + s.positive_drivers
    flags = 0
    seen_times = list(seen.values())
    n_history = len(history)
    # scored in the order they happened, the history's times are those of the newest events
    # remembered (a -0.0 would pass for 0.0 here, so zeros keep their own)
    history_times = [t for t, _ in history]
    if history_times == seen_times[len(seen_times) - n_history :] and 0.0 not in history_times:
        flags |= _HISTORY_IN_SEEN
        history_floats: Iterable[float] = [score for _, score in history]
    else:
        history_floats = chain.from_iterable(history)
    words = [*s.breakdown, *[x for d in drivers for x in (d[2], d[4])]]  # types, components
    reasons = [d[6] for d in drivers]
    dates = [_reason_day(reason) for reason in reasons]
    reasons = [r if day == _UNDATED else r[:-_DATED] for r, day in zip(reasons, dates)]  # noqa: B905
    try:
        codes = bytes(map(_CODES.__getitem__, words))
        others = []
    except KeyError:  # a word format 1 has no code for: written out
        codes = bytes(map(_CODES.get, words, repeat(_OTHER)))
        others = [word for word in words if word not in _CODES]
    floats = [
        s.ref,
        *s.component_sum,
        *s.component_evidence,
        *chain.from_iterable(s.breakdown.values()),
        *seen_times,
        *[x for d in drivers for x in (d[0], d[3], d[5])],  # rank, occurred_at, pull
        *chain.from_iterable(s.peaks),
        *history_floats,
    ]
    counts: list[float] = []
    if buckets:
        columns = list(zip(*buckets.values()))  # noqa: B905 (every bucket has every field)
        stored = bytes(map(any, columns))  # counters start at 0.0 and only grow
        if stored == _EVENTS_STORED:
            flags |= _EVENTS_ONLY  # the usual day: events, nothing else
            counts = list(columns[_EVENTS])
        else:
            codes += stored
            counts = [*chain.from_iterable(compress(columns, map(and_, stored, _IS_COUNTER)))]
            floats += chain.from_iterable(compress(columns, map(and_, stored, _IS_SUM)))
    halves = _layout(f"<{len(counts)}e")
    try:  # whole numbers up to 2048 are exact as float16
        small = halves.pack(*counts)
        exact = halves.unpack(small) == tuple(counts)
    except OverflowError:
        exact = False
    if not exact:
        flags |= _COUNTS_AS_FLOAT64
        floats += counts
        small = b""
    skeleton = orjson.dumps(
        (
            s.customer_id,
            len(s.component_sum),
            len(s.component_evidence),
            len(s.breakdown),
            len(s.negative_drivers),
            len(s.peaks),
            n_history,
            others,
            [x for d, reason in zip(drivers, reasons) for x in (d[1], reason)],  # noqa: B905
            list(buckets),
            s.nps_latest,
            s.tickets,
            s.score,
            s.band,
            s.risk_alerted,
            s.last_alerts,
            s.event_count,
            s.profile,
            s.last_event_id,
            s.last_event_type,
            s.rhythm_days,
            s.active_days,
            s.last_active_day,
            s.silent_alerted,
        )
    )
    n_floats, n_seen = len(floats), len(seen)
    return b"".join(
        (
            _HEADER.pack(
                _FORMAT_2,
                flags,
                n_floats,
                n_seen,
                len(small),
                len(codes),
                len(skeleton),
            ),
            _layout(f"<{n_floats}d{n_seen}Q").pack(*floats, *seen),
            small,
            codes,
            skeleton,
            _layout(f"<{len(dates)}H").pack(*dates),
        )
    )


def _layout(form: str) -> struct.Struct:
    """A struct for a run of numbers; the same few lengths come back, so each is built once."""
    layout = _LAYOUTS.get(form)
    if layout is None:
        if len(_LAYOUTS) >= 4096:
            _LAYOUTS.clear()
        layout = _LAYOUTS[form] = struct.Struct(form)
    return layout


_LAYOUTS: dict[str, struct.Struct] = {}


def _decode(data: bytes) -> CustomerState:
    _, flags, n_floats, n_seen, n_small, n_codes, n_skeleton = _HEADER.unpack_from(data)
    at = _HEADER.size
    numbers = _layout(f"<{n_floats}d{n_seen}Q").unpack_from(data, at)
    at += 8 * (n_floats + n_seen)
    small = _layout(f"<{n_small // 2}e").unpack_from(data, at)
    at += n_small
    codes = data[at : at + n_codes]
    (
        customer_id,
        n_sum,
        n_evidence,
        n_breakdown,
        n_negative,
        n_peaks,
        n_history,
        others,
        texts,
        days,
        nps,
        tickets,
        score,
        band,
        risk_alerted,
        last_alerts,
        event_count,
        profile,
        last_event_id,
        last_event_type,
        rhythm_days,
        active_days,
        last_active_day,
        silent_alerted,
    ) = orjson.loads(data[at + n_codes : at + n_codes + n_skeleton])
    values = numbers[:n_floats]
    n_drivers = len(texts) // 2
    n_words = n_breakdown + 2 * n_drivers
    if others:
        spelled = iter(others)
        words = [next(spelled) if code == _OTHER else _WORDS[code] for code in codes[:n_words]]
    else:
        words = [_WORDS[code] for code in codes[:n_words]]
    # the floats, in the order written
    v = 1 + n_sum + n_evidence
    pairs = iter(values[v : v + 2 * n_breakdown])
    v += 2 * n_breakdown
    seen_times = values[v : v + n_seen]
    v += n_seen
    driver_floats = iter(values[v : v + 3 * n_drivers])
    v += 3 * n_drivers
    if data[0] == _FORMAT_2 and n_drivers:  # put back the dates the reasons ended with
        dates = _layout(f"<{n_drivers}H").unpack_from(data, at + n_codes + n_skeleton)
        texts[1::2] = [
            r if day == _UNDATED else f"{r} on {day_text(day)}"
            for r, day in zip(texts[1::2], dates)  # noqa: B905
        ]
    spelled, said = iter(words[n_breakdown:]), iter(texts)
    drivers = list(
        zip(driver_floats, said, spelled, driver_floats, spelled, driver_floats, said)  # noqa: B905
    )
    peak_floats = iter(values[v : v + 2 * n_peaks])
    v += 2 * n_peaks
    if flags & _HISTORY_IN_SEEN:
        history = list(zip(seen_times[n_seen - n_history :], values[v : v + n_history]))  # noqa: B905
        v += n_history
    else:
        history_floats = iter(values[v : v + 2 * n_history])
        history = list(zip(history_floats, history_floats))  # noqa: B905
        v += 2 * n_history
    buckets: dict[int, list[float]] = {}
    if days:
        n_days = len(days)
        if flags & _EVENTS_ONLY:
            stored, n_counted = _EVENTS_STORED, n_days
        else:
            stored = codes[n_words:]
            n_counted = n_days * sum(map(and_, stored, _IS_COUNTER))
        # counters are the last floats when not exact as float32, after the measured sums
        counts = values[n_floats - n_counted :] if flags & _COUNTS_AS_FLOAT64 else small
        rows: Iterable[list[float]]
        if flags & _EVENTS_ONLY:
            rows = [[*_BEFORE_EVENTS, events, *_AFTER_EVENTS] for events in counts]
        else:
            zeros = (0.0,) * n_days
            columns: list[Sequence[float]] = [zeros] * _FIELDS
            for i in _COUNTERS:
                if stored[i]:
                    columns[i], counts = counts[:n_days], counts[n_days:]
            for i in _SUMS:
                if stored[i]:
                    columns[i] = values[v : v + n_days]
                    v += n_days
            rows = map(list, zip(*columns))  # noqa: B905 (all n_days long)
        buckets = dict(zip(days, rows))  # noqa: B905
    return CustomerState(
        customer_id,
        values[0],
        list(values[1 : 1 + n_sum]),
        list(values[1 + n_sum : 1 + n_sum + n_evidence]),
        dict(zip(words[:n_breakdown], map(list, zip(pairs, pairs)))),  # noqa: B905
        buckets,
        (nps[0], nps[1], nps[2]) if nps else None,
        tickets,
        dict(zip(numbers[n_floats:], seen_times)),  # noqa: B905
        drivers[:n_negative],
        drivers[n_negative:],
        list(zip(peak_floats, peak_floats)),  # noqa: B905
        score,
        band,
        risk_alerted,
        last_alerts,
        event_count,
        profile,
        last_event_id,
        last_event_type,
        rhythm_days,
        active_days,
        last_active_day,
        silent_alerted,
        history,
    )


def _from_json(data: bytes) -> CustomerState:
    """A state in the JSON format of earlier code, as changelogs may still hold."""
    d = orjson.loads(data)
    nps = d["n"]
    return CustomerState(
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
