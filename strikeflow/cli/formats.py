"""How a value reads in a table a person looks at: money at cents, Greeks at a useful
precision, IV as a percent, instants on the New York clock, ids shortened.

Every function takes what a row or a stored explain document may hold (a Decimal, a
float, a numeric string, None, or something malformed) and returns text; a value it
cannot read as a number is shown as it is rather than refused, since a report must
still print when one stored figure is odd. ``--json`` output does not pass through
here: machines get full precision (``json_default``).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from enum import Enum

from strikeflow.domain.money import CENT

SHORT_ID = 8  # the tail of an id shown in tables; ``strikeflow explain`` accepts it
ELLIPSIS = "…"


def number(value: object) -> Decimal | None:
    """``value`` as a finite Decimal, or None (missing, or not a number)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        out = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return out if out.is_finite() else None


def money(value: object) -> str:
    """Dollars at cents with thousands separators: ``17,250.00``."""
    amount = number(value)
    return _raw(value) if amount is None else f"{amount:,.2f}"


def price(value: object) -> str:
    """A quoted price at cents; under a dollar, the sub-cent digits a venue may quote
    (a stock at 0.4512) are kept, up to four places."""
    amount = number(value)
    if amount is None:
        return _raw(value)
    if abs(amount) < 1 and amount != amount.quantize(CENT):
        return f"{amount:.4f}".rstrip("0")
    return f"{amount:,.2f}"


def quantity(value: object) -> str:
    """Shares or contracts without trailing zeros: ``12``, ``0.5``."""
    amount = number(value)
    if amount is None:
        return _raw(value)
    return f"{amount.normalize():f}" if amount != amount.to_integral() else f"{amount:.0f}"


def greek(value: object, places: int = 3) -> str:
    """A Greek with its sign: delta ``+0.481``, theta ``-0.221``."""
    amount = number(value)
    return _raw(value) if amount is None else f"{amount:+.{places}f}"


def percent(value: object) -> str:
    """A fraction as a percent at one decimal: IV 0.2633 → ``26.3%``."""
    amount = number(value)
    return _raw(value) if amount is None else f"{amount:.1%}"


def instant(at: object, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """An instant on the New York clock (stored instants are UTC; SQLite's are naive)."""
    if isinstance(at, str):
        try:
            at = datetime.fromisoformat(at)
        except ValueError:
            return at
    if not isinstance(at, datetime):
        return _raw(at)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    from strikeflow.domain.expiry import NEW_YORK  # the domain's clock: numpy, scipy

    return at.astimezone(NEW_YORK).strftime(fmt)


def short_id(rec_id: str) -> str:
    """The tail of a recommendation id (its hash digits): ``…6f58eb5f``."""
    return rec_id if len(rec_id) <= SHORT_ID + 1 else ELLIPSIS + rec_id[-SHORT_ID:]


def text(value: object) -> str:
    """Any cell: enums by value, dates as ISO, None as empty."""
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, datetime):
        return instant(value, "%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    return _raw(value)


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(value: str) -> str:
    """``value`` safe to put on a terminal: line breaks and tabs as spaces, any other
    control character (an escape sequence in stored text) spelled out as ``\\xNN``."""
    return _CONTROL.sub(
        lambda c: " " if c.group() in "\n\r\t" else f"\\x{ord(c.group()):02x}", value
    )


def json_default(value: object) -> object:
    """``json.dumps``'s fallback for ``--json``: Decimals as strings at full precision,
    instants and dates as ISO 8601, enums by value."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return str(value)


def _raw(value: object) -> str:
    return "" if value is None else str(value)
