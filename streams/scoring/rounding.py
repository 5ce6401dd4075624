"""`round(x, digits)` for floats: the same value to the last bit, in about three quarters of the
time.

The built-in rounds through a decimal string (dtoa, snprintf, strtod), and a score update rounds
some thirty numbers.
"""

from __future__ import annotations

from typing import Final

__all__ = ["round_to"]

#: 10^digits, exact as floats (every power of ten up to 10^22 is)
_SCALES: Final = tuple(10.0**digits for digits in range(10))


def round_to(x: float, digits: int) -> float:
    """`round(x, digits)` for a float `x` and 0 <= digits <= 9."""
    if x > 0.0:
        scale = _SCALES[digits]
        y = x * scale + 0.5
        fraction = y % 1.0
        # y is within 2^-23 of x * 10^digits + 0.5 (two roundings, below 2^30). Away from a
        # tie by more than that, floor(y) is the integer x * 10^digits rounds to, and dividing
        # it by 10^digits gives the double nearest to the decimal result: what round returns.
        if 1e-6 < fraction < 0.999999 and y < 1e9:
            return (y - fraction) / scale
    elif x < 0.0:
        return -round_to(-x, digits)  # round is symmetric; a result of 0.0 becomes -0.0
    return round(x, digits)  # zeros keep their sign; NaN
