"""How much of an order one fill takes: all of what is left, or, at random as Alpaca paper
does about one fill in ten, a part of it.

The draw is a hash of the seed, the order id and the fill's number rather than a shared
generator, so a run repeats whatever the order and timing of the requests that drive it.
"""

from __future__ import annotations

import hashlib
from decimal import ROUND_DOWN, Decimal

SMALLEST_SHARE, SHARE_SPAN = 0.1, 0.8  # a partial fill takes 10 % to 90 % of what is left


def draws(seed: int, order_id: str, n: int) -> tuple[float, float]:
    """Two uniform numbers in [0, 1) for the n-th fill of an order: whether it is partial,
    and what share of the rest it takes."""
    digest = hashlib.sha256(f"strikeflow-sim:fill:{seed}:{order_id}:{n}".encode()).digest()
    scale = float(1 << 64)
    return int.from_bytes(digest[:8], "big") / scale, int.from_bytes(digest[8:16], "big") / scale


def partial_qty(seed: int, rate: float, order_id: str, n: int, leaves: Decimal) -> Decimal | None:
    """The whole units the n-th fill takes when it is partial (at least one, and at least
    one left over); None for a fill of all that is left. Less than two units left, or a
    draw at or above ``rate``, fill whole."""
    if rate <= 0 or leaves < 2:
        return None
    draw, share = draws(seed, order_id, n)
    if draw >= rate:
        return None
    whole = leaves.to_integral_value(rounding=ROUND_DOWN)
    fraction = Decimal(repr(SMALLEST_SHARE + SHARE_SPAN * share))
    part = (leaves * fraction).to_integral_value(rounding=ROUND_DOWN)
    part = min(max(part, Decimal(1)), whole - 1 if whole == leaves else whole)
    return part if 0 < part < leaves else None
