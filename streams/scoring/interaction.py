"""Validated inputs of the core (one interaction event, one customer profile) and the form
times take in every output."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from math import modf
from typing import Any, Final

__all__ = ["Interaction", "Profile", "day_number", "day_text", "format_day", "format_time"]


@dataclass(frozen=True, slots=True)
class Interaction:
    """One customer interaction, already validated and enriched (times are epoch seconds)."""

    event_id: str
    customer_id: str
    occurred_at: float
    type: str
    channel: str | None = None
    stage: str | None = None
    interaction: str | None = None
    dimension: str | None = None
    environment: str | None = None
    nps: int | None = None
    csat: int | None = None
    ces: int | None = None
    rating: float | None = None
    sentiment: float | None = None
    ticket_id: str | None = None
    resolution_seconds: float | None = None
    amount: float | None = None


@dataclass(frozen=True, slots=True)
class Profile:
    """What the business knows about a customer, from the compacted profiles topic."""

    customer_id: str
    segment: str | None = None
    tier: str | None = None
    lifetime_value: float | None = None
    region: str | None = None
    raw: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        if self.raw is not None:
            return self.raw
        return {
            "customer_id": self.customer_id,
            "segment": self.segment,
            "tier": self.tier,
            "lifetime_value": self.lifetime_value,
            "region": self.region,
        }


def format_time(epoch_seconds: float) -> str:
    """RFC 3339 in UTC with milliseconds, the form every output of the processor uses.

    The same string as `datetime.fromtimestamp(t, UTC).isoformat("T", "milliseconds")` with a
    Z: microseconds rounded half to even, then truncated to milliseconds.
    """
    if not 0.0 <= epoch_seconds < _FAST_UNTIL:
        return _datetime_format(epoch_seconds)
    # rounded as datetime.fromtimestamp rounds: the fraction times 10^6, half to even
    fraction, whole = modf(epoch_seconds)
    micros = round(fraction * 1e6)
    seconds = int(whole)
    if micros >= 1_000_000:
        seconds += 1
        micros = 0
    day, second = divmod(seconds, 86400)
    minute, second = divmod(second, 60)
    on = _DATES.get(day) or day_text(day)
    return f"{on}{_MINUTES[minute]}{_SECONDS[second]}{_MILLIS[micros // 1000]}"


def format_day(epoch_seconds: float) -> str:
    """The UTC date (YYYY-MM-DD) of `format_time(epoch_seconds)`."""
    if not 0.0 <= epoch_seconds < _FAST_UNTIL:
        return datetime.fromtimestamp(epoch_seconds, tz=UTC).strftime("%Y-%m-%d")
    fraction, whole = modf(epoch_seconds)
    seconds = int(whole) + 1 if round(fraction * 1e6) >= 1_000_000 else int(whole)
    return _DATES.get(seconds // 86400) or day_text(seconds // 86400)


def day_number(text: str) -> int | None:
    """The epoch day number whose `day_text` is `text`, or None: `text` is no such date (or
    one before 1970)."""
    day = _DAY_NUMBERS.get(text)
    if day is None:
        try:
            day = date.fromisoformat(text).toordinal() - _EPOCH_ORDINAL
        except ValueError:
            return None
        if day < 0 or day_text(day) != text:  # fromisoformat also takes 20261103 and 2026-W45-2
            return None
        if len(_DAY_NUMBERS) >= _MAX_DATES:
            _DAY_NUMBERS.clear()
        _DAY_NUMBERS[text] = day
    return day


# A datetime per call is most of the cost of formatting a time, and drivers format several
# per event; the pieces below give the same strings without one.

#: From here on (a day before datetime's last year ends) times go through datetime, which also
#: decides what happens to times out of its range; before 1970 too, as modf differs below 0.
_FAST_UNTIL: Final = 253_402_214_400.0  # 9999-12-31T00:00:00Z
_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()
_MINUTES: Final = tuple(f"T{h:02d}:{m:02d}:" for h in range(24) for m in range(60))
_SECONDS: Final = tuple(f"{s:02d}." for s in range(60))
_MILLIS: Final = tuple(f"{ms:03d}Z" for ms in range(1000))
_DATES: dict[int, str] = {}
_DAY_NUMBERS: dict[str, int] = {}
_MAX_DATES: Final = 100_000


def day_text(day: int) -> str:
    """The date (YYYY-MM-DD) of an epoch day number, day 0 being 1970-01-01."""
    text = _DATES.get(day)
    if text is None:
        if len(_DATES) >= _MAX_DATES:
            _DATES.clear()
        text = _DATES[day] = date.fromordinal(day + _EPOCH_ORDINAL).isoformat()
    return text


def _datetime_format(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, tz=UTC).isoformat("T", "milliseconds")[:-6] + "Z"
