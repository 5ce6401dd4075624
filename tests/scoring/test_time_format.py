"""format_time and format_day give the strings datetime gives, for every time an event can have."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from streams.scoring.interaction import day_number, day_text, format_day, format_time


def by_datetime(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).isoformat("T", "milliseconds")[:-6] + "Z"


# fractions that round across a millisecond or a second once rounded to microseconds
FRACTIONS = [0.0, 0.0005, 0.0004999, 0.0000005, 0.0000015, 0.999, 0.9994999, 0.9995, 0.9999994]
FRACTIONS += [0.9999995, 0.9999996, 0.5, 0.123456, 0.1234565]


def times(rng: random.Random) -> list[float]:
    out: list[float] = [0.0, 1e-7, 5e-7, 6e-7, 86_399.9999996, 253_402_214_399.9999]
    for _ in range(30_000):
        whole = float(rng.randrange(0, 4_000_000_000))
        out.append(whole + rng.choice(FRACTIONS))
        out.append(rng.randrange(0, 4_000_000_000_000) / 1000)  # as parsed from milliseconds
        out.append(rng.randrange(0, 4_000_000_000_000_000) / 1e6)  # from microseconds
        out.append(rng.randrange(0, 46_000) * 86_400.0 - rng.choice([4e-7, 5e-7, 6e-7, 0.0005]))
        out.append(rng.uniform(0, 253_402_214_399))
    return [t for t in out if t >= 0]


def test_format_time_is_datetimes_string() -> None:
    for t in times(random.Random(1)):
        assert format_time(t) == by_datetime(t), t


def test_format_day_is_the_date_of_format_time() -> None:
    for t in times(random.Random(2)):
        assert format_day(t) == datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%d"), t


def test_whole_seconds_as_ints() -> None:
    for t in [0, 86_399, 1_795_000_000, 253_402_214_399]:
        assert format_time(t) == by_datetime(t)


@pytest.mark.parametrize("t", [-1.5, 253_402_300_799.0, float("nan"), float("inf"), 1e20])
def test_times_outside_the_fast_range_behave_as_datetime(t: float) -> None:
    try:
        expected: object = by_datetime(t)
    except (ValueError, OverflowError, OSError) as exc:
        with pytest.raises(type(exc)):
            format_time(t)
    else:
        assert format_time(t) == expected


def test_day_numbers_and_their_dates_are_each_others_inverse() -> None:
    rng = random.Random(5)
    for day in [0, 1, 20_775, 65_534, *(rng.randrange(0, 2_900_000) for _ in range(2_000))]:
        text = day_text(day)
        assert text == datetime.fromtimestamp(day * 86_400, tz=UTC).strftime("%Y-%m-%d")
        assert day_number(text) == day


@pytest.mark.parametrize(
    "text",
    ["20261103", "2026-W45-2", "2026-02-30", "1969-12-31", "2026-1-03", "2026-11-3 ", "on 2026"],
)
def test_what_is_not_such_a_date_has_no_day_number(text: str) -> None:
    assert day_number(text) is None
