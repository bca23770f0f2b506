"""One entry of the venue's account activity log, as the venue-event service reads it.

The venue (Alpaca's ``GET /v2/account/activities``) records what it did to the account:
``FILL`` for each execution of an order, and non-trade events for options, ``OPEXP``
(expired worthless), ``OPEXC`` (exercised) and ``OPASN`` (assigned), each paired with the
``OPTRD`` stock trade the delivery makes, and ``OPCSH`` (settled in cash). Every activity
has an id; consumers key on it, so reading the same activity twice records it once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from strikeflow.domain.expiry import require_aware
from strikeflow.domain.records import Execution, Recommendation

FILL = "FILL"
OPEXP = "OPEXP"
OPEXC = "OPEXC"
OPASN = "OPASN"
OPTRD = "OPTRD"
OPCSH = "OPCSH"
# What the venue-event service reads: fills (a liquidation is the venue's own order) and
# the options events that close or deliver a position.
VENUE_EVENT_TYPES: tuple[str, ...] = (FILL, OPEXP, OPEXC, OPASN, OPTRD, OPCSH)


@dataclass(frozen=True, slots=True)
class VenueActivity:
    """An activity: its id, type, when it happened, and what it moved.

    ``symbol`` is an OCC symbol or a ticker; ``qty`` is positive (contracts or shares);
    ``price`` per share (a fill's price, an exercise trade's strike, a cash settlement's
    intrinsic value; None when the venue sent none); ``net_amount`` the cash it moved;
    ``side`` (``buy``/``sell``) and ``order_id`` for a fill only.
    """

    id: str
    kind: str
    at: datetime
    symbol: str
    qty: Decimal
    price: Decimal | None = None
    net_amount: Decimal | None = None
    side: str | None = None
    order_id: str | None = None
    description: str | None = None

    def __post_init__(self) -> None:
        require_aware(self.at)
        if not self.id:
            raise ValueError("an activity needs an id")
        if not (self.qty.is_finite() and self.qty >= 0):
            raise ValueError(f"activity {self.id}: qty must be >= 0, got {self.qty}")


@dataclass(frozen=True, slots=True)
class VenueRecord:
    """What reading one activity records: the activity, a one-line note of what it did
    (``not ours`` when nothing we hold), and the rows it writes, each a recommendation
    (already settled) with its execution."""

    activity: VenueActivity
    note: str
    rows: tuple[tuple[Recommendation, Execution], ...] = ()
