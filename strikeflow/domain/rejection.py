"""The reasons a candidate contract is turned down, as bit flags over a whole chain."""

from __future__ import annotations

from enum import IntFlag


class Reason(IntFlag):
    """One bit per rule; members are declared in the order rejections are reported."""

    OUTSIDE_WINDOW = 1 << 0
    ADJUSTED = 1 << 1
    # Declared here so that it reports before the liquidity rules; its bit is the newest.
    ZERO_DTE_CLOSED = 1 << 11
    NO_QUOTE = 1 << 2
    NO_BID = 1 << 3
    WIDE_SPREAD = 1 << 4
    LOW_VOLUME = 1 << 5
    LOW_OPEN_INTEREST = 1 << 6
    STALE_QUOTE = 1 << 7
    OFF_TARGET_STRIKE = 1 << 8
    DELTA_OFF_TARGET = 1 << 9
    DELTA_UNKNOWN = 1 << 10


REPORT_ORDER: tuple[Reason, ...] = tuple(Reason)
# Plain ints: IntFlag's own ``&`` builds a new member per test, ten times slower.
_BITS: tuple[tuple[int, Reason], ...] = tuple((int(r), r) for r in REPORT_ORDER)


def reasons_in(flags: int) -> list[Reason]:
    """The reasons set in ``flags``, in report order."""
    bits = int(flags)
    return [r for bit, r in _BITS if bits & bit]
