"""The rounding shortcuts give what round() gives, to the last bit."""

from __future__ import annotations

import math
import random
import struct

import pytest

from streams.scoring.engine import _sub_scores
from streams.scoring.rounding import round_to


def bits(x: float) -> bytes:
    return struct.pack("<d", x)


def nudged(x: float, ulps: int) -> float:
    return struct.unpack("<d", struct.pack("<q", struct.unpack("<q", bits(x))[0] + ulps))[0]


def near_ties(rng: random.Random, count: int, digits: int, span: int) -> list[float]:
    """Values within a few ulps of a decimal tie (k + 0.5) / 10^digits."""
    return [
        nudged((rng.randint(-span, span) + 0.5) / 10**digits, rng.randint(-4, 4))
        for _ in range(count)
    ]


SPECIAL = [0.0, -0.0, 5e-324, -5e-324, 0.05, 0.15, 0.25, 2.5, 2.675, 99.95, 100.0, 1e9, 1e308]


@pytest.mark.parametrize("digits", range(6))
def test_round_to_is_round(digits: int) -> None:
    rng = random.Random(digits)
    values = [*SPECIAL, *near_ties(rng, 20_000, digits, 10**6)]
    values += [rng.uniform(-100, 100) for _ in range(20_000)]
    values += [math.ldexp(rng.random(), rng.randint(-60, 40)) for _ in range(5_000)]
    for x in values:
        for value in (x, -x):
            assert bits(round_to(value, digits)) == bits(round(value, digits)), (value, digits)


def test_round_to_leaves_nan_and_infinities_to_round() -> None:
    assert math.isnan(round_to(math.nan, 2))
    assert round_to(math.inf, 1) == math.inf and round_to(-math.inf, 1) == -math.inf


def test_sub_scores_are_rounded_points() -> None:
    rng = random.Random(7)
    scale = 4.0
    totals = [0.0, -0.0, 1e-300, -1e-300, 1e6, -1e6, math.inf, -math.inf]
    totals += [rng.uniform(-12, 12) for _ in range(20_000)]
    # totals whose points land within a few ulps of a tie x.x5
    for points in near_ties(rng, 20_000, 1, 999):
        if 0.0 < abs(points - 50.0) < 50.0:
            totals.append(nudged(scale * math.atanh((points - 50.0) / 50.0), rng.randint(-3, 3)))
    expected = [round(50.0 + 50.0 * math.tanh(t / scale), 1) for t in totals]
    assert list(map(bits, _sub_scores(totals, scale))) == list(map(bits, expected))
