"""The account's activity log in Alpaca's shapes, and the query of GET /v2/account/activities.

Alpaca lists two kinds of activity. A trade activity (``FILL``) is one execution of an order:
``transaction_time``, ``type`` (``fill`` for the execution that completes the order,
``partial_fill`` otherwise), ``price``, ``qty``, ``side``, ``symbol``, ``leaves_qty``,
``cum_qty``, ``order_id`` and ``order_status``. A non-trade activity has a ``date``,
``net_amount``, ``description``, ``status`` and, for options events, ``symbol``, ``qty`` and
``price``: OPEXP (expired worthless), OPEXC (exercised), OPASN (assigned), each paired with an
OPTRD (the stock trade the exercise or assignment makes), and OPCSH (settled in cash).

Every activity has an id shaped as Alpaca's: ``YYYYMMDDHHMMSSmmm::<uuid>``, the New York time
of the event to the millisecond, then a uuid derived from the activity's position in the log,
so the same run gives the same ids and idempotent consumers can key on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from strikeflow.domain.expiry import NEW_YORK
from strikeflow.sim.venue_orders import Order, invalid, rfc3339, stable_uuid

# Alpaca's activity types (alpaca-py's ActivityType); the venue records FILL and the
# options events, and answers an empty list for the rest.
_TYPES = """FILL ACATC ACATS CFEE CIL CSD CSW DIV DIVCGL DIVCGS DIVNRA DIVROC DIVTXEX DIVWH
EXTRD FEE FXTRD INT INTPNL JNLC JNLS MA MEM NC OCT OPASN OPCSH OPEXC OPEXP OPTRD PTC REORG
SPIN SPLIT SWP VOF WH"""
ACTIVITY_TYPES = frozenset(_TYPES.split())
MAX_PAGE_SIZE = 100


@dataclass(frozen=True, slots=True)
class Entry:
    """One activity: when it happened (for the query) and its JSON body."""

    at: datetime
    body: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.body["activity_type"])


def activity_id(at: datetime, n: int) -> str:
    local = at.astimezone(NEW_YORK)
    return f"{local:%Y%m%d%H%M%S}{local.microsecond // 1000:03d}::{stable_uuid('activity', n)}"


def fill(
    n: int, account_id: str, at: datetime, order: Order, qty: Decimal, price: Decimal
) -> Entry:
    """The FILL of ``qty`` at ``price``, recorded after the order took it (its status is set)."""
    leaves = order.qty - order.filled_qty
    body = {
        "id": activity_id(at, n),
        "account_id": account_id,
        "activity_type": "FILL",
        "transaction_time": rfc3339(at),
        "type": "fill" if leaves == 0 else "partial_fill",
        "price": str(price),
        "qty": str(qty),
        "side": order.side,
        "symbol": order.symbol,
        "leaves_qty": str(leaves),
        "order_id": order.id,
        "cum_qty": str(order.filled_qty),
        "order_status": order.status,
    }
    return Entry(at, body)


def non_trade(
    n: int,
    account_id: str,
    kind: str,
    at: datetime,
    *,
    symbol: str,
    qty: Decimal,
    net_amount: Decimal,
    description: str,
    price: Decimal | None = None,
) -> Entry:
    body = {
        "id": activity_id(at, n),
        "account_id": account_id,
        "activity_type": kind,
        "date": at.astimezone(NEW_YORK).date().isoformat(),
        "net_amount": str(net_amount),
        "description": description,
        "status": "executed",
        "symbol": symbol,
        "qty": str(qty),
        "price": None if price is None else str(price),
        "per_share_amount": None,
    }
    return Entry(at, body)


def activity_types(raw: str | None) -> frozenset[str] | None:
    """``activity_types=FILL,OPEXC`` as a set; None for all; 422 for a type Alpaca lacks."""
    if raw is None or raw == "":
        return None
    kinds = frozenset(k.strip().upper() for k in raw.split(",") if k.strip())
    unknown = sorted(kinds - ACTIVITY_TYPES)
    if unknown or not kinds:
        raise invalid(f"invalid activity type {unknown[0] if unknown else raw!r}")
    return kinds


def select(
    log: list[Entry],
    *,
    kinds: frozenset[str] | None = None,
    on: date | None = None,
    after: datetime | None = None,
    until: datetime | None = None,
    direction: str = "desc",
    page_size: int | None = None,
    page_token: str | None = None,
) -> list[dict[str, Any]]:
    """Alpaca's query: by type, on a New York ``date`` or strictly between ``after`` and
    ``until``, newest first by default, ``page_size`` at most 100, and ``page_token`` the id
    of the last activity of the previous page (the page starts after it)."""
    if direction not in ("asc", "desc"):
        raise invalid(f"invalid direction {direction!r}: expected asc or desc")
    if on is not None and (after is not None or until is not None):
        raise invalid("date cannot be combined with after or until")
    if page_size is not None and not 1 <= page_size <= MAX_PAGE_SIZE:
        raise invalid(f"page_size must be from 1 to {MAX_PAGE_SIZE}")
    chosen = [
        e
        for e in log
        if (kinds is None or e.kind in kinds)
        and (on is None or e.at.astimezone(NEW_YORK).date() == on)
        and (after is None or e.at > after)
        and (until is None or e.at < until)
    ]
    chosen.sort(key=lambda e: e.at)  # stable: one instant's activities keep the log's order
    if direction == "desc":
        chosen.reverse()
    if page_token:
        ids = [e.body["id"] for e in chosen]
        if page_token not in ids:
            raise invalid(f"invalid page_token {page_token[:60]!r}")
        chosen = chosen[ids.index(page_token) + 1 :]
    if page_size is not None:
        chosen = chosen[:page_size]
    return [dict(e.body) for e in chosen]
