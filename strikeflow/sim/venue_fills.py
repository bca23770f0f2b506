"""How much of an order one fill takes: all of what is left, or, at random as Alpaca paper
does about one fill in ten, a part of it; and when a resting option limit strictly inside
the spread fills (``InsideFills``): a seeded chance each second that rises as the limit
nears the far side, as a passive order's place in a real queue is reached sooner there.

Each draw is a hash of the seed, the order's content and submission instant
(``venue.content_key``) and the fill's number (or the second) rather than a shared
generator, so a run repeats whatever the order and timing of the requests that drive
it: ids count arrivals or records, and two orders sent at once arrive in either order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
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


# -- resting limits inside the spread ----------------------------------------------------

DEFAULT_INSIDE_FILL_RATE = 0.2  # per second, for a limit that reaches the far side
DEFAULT_INSIDE_FILL_EXPONENT = 2.0
MAX_INSIDE_EXPONENT = 10.0
# At most this many draws per order and call: a longer jump of the clock is cut into this
# many equal stretches, each judged at its last second (quotes cost ~0.5 ms each, 2 cores).
MAX_INSIDE_SAMPLES = 300

QuoteAt = Callable[[int], tuple[Decimal, Decimal] | None]


@dataclass(frozen=True, slots=True)
class InsideFills:
    """How often a resting option limit strictly inside the spread fills: each second,
    with probability ``rate * fraction ** exponent``, where ``fraction`` is how far the
    limit has gone from the near side toward the far side, (limit - bid) / (ask - bid)
    for a buy and (ask - limit) / (ask - bid) for a sell. A rate of 0 turns it off: such a
    limit then waits for the quote to cross it. The defaults fill a limit at the mid in
    about 20 s on average (0.2 x 0.5**2 = 0.05 a second), one three-quarters of the way in
    about 9 s, one a quarter of the way in about 80 s."""

    rate: float = DEFAULT_INSIDE_FILL_RATE
    exponent: float = DEFAULT_INSIDE_FILL_EXPONENT

    def __post_init__(self) -> None:
        if isinstance(self.rate, bool) or not (
            isinstance(self.rate, int | float) and 0 <= self.rate <= 1
        ):
            raise ValueError(f"inside_fill_rate must be within 0..1, got {self.rate!r}")
        if isinstance(self.exponent, bool) or not (
            isinstance(self.exponent, int | float) and 0 < self.exponent <= MAX_INSIDE_EXPONENT
        ):
            raise ValueError(
                f"inside_fill_exponent must be above 0 and at most {MAX_INSIDE_EXPONENT:g},"
                f" got {self.exponent!r}"
            )

    @property
    def on(self) -> bool:
        return self.rate > 0

    def per_second(self, side: str, limit: Decimal, bid: Decimal, ask: Decimal) -> float:
        """The chance a second that the limit fills against a ``bid`` x ``ask`` quote; 0
        unless both sides are quoted and the limit is strictly between them."""
        if not (0 < bid < limit < ask):
            return 0.0
        toward = (limit - bid) if side == "buy" else (ask - limit)
        return self.rate * float(toward / (ask - bid)) ** self.exponent


def inside_draw(seed: int, order_id: str, second: int) -> float:
    """A uniform number in [0, 1) for one order at one whole second (Unix time)."""
    digest = hashlib.sha256(f"strikeflow-sim:inside:{seed}:{order_id}:{second}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / float(1 << 64)


def inside_fill_second(
    model: InsideFills,
    seed: int,
    order_id: str,
    side: str,
    limit: Decimal,
    first: int,
    last: int,
    quote_at: QuoteAt,
) -> int | None:
    """The first whole second from ``first`` to ``last`` (Unix seconds, inclusive) at which
    the resting limit fills, or None. Each second is drawn once and on its own, so the
    answer does not depend on how the span was split between calls; a span longer than
    ``MAX_INSIDE_SAMPLES`` seconds is judged in that many equal stretches instead, each at
    its last second with the chance of the whole stretch. The quote is asked only for a
    draw low enough to fill at the best possible chance."""
    if not model.on or last < first:
        return None
    span = last - first + 1
    stretch = -(-span // MAX_INSIDE_SAMPLES)  # ceil: 1 unless the clock jumped far
    for start in range(first, last + 1, stretch):
        second = min(start + stretch - 1, last)
        weight = second - start + 1
        draw = inside_draw(seed, order_id, second)
        if draw >= _over(model.rate, weight):
            continue
        quote = quote_at(second)
        if quote is None:
            continue
        if draw < _over(model.per_second(side, limit, *quote), weight):
            return second
    return None


def _over(per_second: float, seconds: int) -> float:
    """The chance of at least one fill in ``seconds`` seconds at ``per_second`` each."""
    return per_second if seconds == 1 else 1.0 - (1.0 - per_second) ** seconds
