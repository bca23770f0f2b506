"""OCC option symbols: build them, and parse them strictly.

Brokers and data feeds disagree on the spelling of an option symbol. The OCC standard pads
the root with spaces to six characters (``"AAPL  240119C00190000"``); Alpaca drops the padding
(``"AAPL240119C00190000"``), and real chains have returned malformed symbols. So symbols are
parsed by the grammar alone — root ``[A-Z0-9]{1,6}``, ``YYMMDD``, ``C|P``, strike × 1000 as
eight digits — and anything else is refused with an ``InvalidOccSymbol`` that quotes the input
and names the problem. Parsing never raises anything else, whatever it is given.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache

from strikeflow.domain.enums import Right
from strikeflow.domain.errors import InvalidOccSymbol

ROOT_WIDTH = 6
PADDED_LENGTH = ROOT_WIDTH + 15
_STRIKE_LIMIT = Decimal(100_000)  # strike × 1000 must fit in 8 digits
_THOUSANDTH = Decimal("0.001")
_SHOWN_CHARS = 64

_ROOT = re.compile(r"[A-Z0-9]{1,6}")
_SYMBOL = re.compile(
    r"(?P<root>[A-Z0-9]{1,6})(?P<pad> *)"
    r"(?P<yy>[0-9]{2})(?P<mm>[0-9]{2})(?P<dd>[0-9]{2})"
    r"(?P<right>[CP])(?P<strike>[0-9]{8})"
)
_PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


@dataclass(frozen=True, slots=True)
class OccSymbol:
    """A validated option symbol. ``strike`` is stored canonically (``Decimal("190")``)."""

    root: str
    expiration: date
    right: Right
    strike: Decimal

    def __post_init__(self) -> None:
        _check_root(self.root)
        _check_expiration(self.expiration)
        object.__setattr__(self, "right", _to_right(self.right))
        object.__setattr__(self, "strike", _to_strike(self.strike))

    @property
    def symbol(self) -> str:
        """Alpaca form: the root without padding, e.g. ``AAPL240119C00190000``."""
        return self.root + self._tail()

    @property
    def padded(self) -> str:
        """OCC form: the root padded with spaces to six characters, 21 characters in all."""
        return self.root.ljust(ROOT_WIDTH) + self._tail()

    def __str__(self) -> str:
        return self.symbol

    def _tail(self) -> str:
        millis = int(self.strike * 1000)
        return f"{self.expiration:%y%m%d}{self.right.value}{millis:08d}"


def format_occ(root: str, expiration: date, right: Right | str, strike: object) -> str:
    """The Alpaca-style symbol for these parts; strike may be Decimal, int, str or float."""
    return OccSymbol(root, expiration, _to_right(right), _to_strike(strike)).symbol


def parse_occ(symbol: object) -> OccSymbol:
    """Parse an Alpaca-style or space-padded OCC symbol; raise InvalidOccSymbol otherwise."""
    if not isinstance(symbol, str):
        raise _bad(symbol, f"expected str, got {type(symbol).__name__}")
    if len(symbol) > PADDED_LENGTH:
        raise _bad(symbol, f"longer than {PADDED_LENGTH} characters ({len(symbol)})")
    return _parse_valid_length(symbol)


# The same contracts come back in every snapshot a worker fetches; OccSymbol is immutable.
@lru_cache(maxsize=1 << 16)
def _parse_valid_length(symbol: str) -> OccSymbol:
    match = _SYMBOL.fullmatch(symbol)
    if match is None:
        raise _bad(symbol, _mismatch(symbol))
    root, pad = match["root"], match["pad"]
    if pad and len(root) + len(pad) != ROOT_WIDTH:
        raise _bad(symbol, f"padded root must be exactly {ROOT_WIDTH} characters wide")
    yy, mm, dd = match["yy"], match["mm"], match["dd"]
    try:
        expiration = date(2000 + int(yy), int(mm), int(dd))
    except ValueError:
        raise _bad(symbol, f"expiration {yy + mm + dd!r} (YYMMDD) is not a real date") from None
    millis = int(match["strike"])
    if millis == 0:
        raise _bad(symbol, "strike must be positive")
    return OccSymbol(root, expiration, Right(match["right"]), Decimal(millis) / 1000)


def _mismatch(symbol: str) -> str:
    """Why a string failed the grammar, as precisely as a glance allows."""
    grammar = "expected ROOT (1-6 of A-Z, 0-9) + YYMMDD + C|P + 8-digit strike"
    if not symbol:
        return "empty string"
    if symbol != symbol.strip():
        return f"leading or trailing whitespace; {grammar}"
    if not symbol.isascii() or not symbol.isprintable():
        return f"non-ASCII or control characters; {grammar}"
    if symbol != symbol.upper():
        return f"lowercase letters; {grammar}"
    return grammar


def _check_root(root: object) -> None:
    if not isinstance(root, str) or _ROOT.fullmatch(root) is None:
        raise _bad(root, "root must be 1-6 characters of A-Z or 0-9", what="OCC root")


def _check_expiration(expiration: object) -> None:
    if isinstance(expiration, datetime) or not isinstance(expiration, date):
        kind = type(expiration).__name__
        raise _bad(expiration, f"expiration must be a datetime.date, got {kind}", what="expiration")
    if not 2000 <= expiration.year <= 2099:
        raise _bad(expiration, "expiration year must be 2000-2099 (YY encoding)", what="expiration")


def _to_right(right: object) -> Right:
    if isinstance(right, str) and right in ("C", "P"):
        return Right(right)
    raise _bad(right, "right must be 'C' or 'P'", what="option right")


def _to_strike(strike: object) -> Decimal:
    """The strike as a canonical Decimal (``Decimal("12.5")``), or InvalidOccSymbol."""
    value = _to_decimal(strike)
    if not value.is_finite():
        raise _bad(strike, "strike must be finite", what="strike")
    if value <= 0:
        raise _bad(strike, "strike must be positive", what="strike")
    if value >= _STRIKE_LIMIT:
        raise _bad(strike, "strike must be below 100000 (8 digits of thousandths)", what="strike")
    thousandths = value.quantize(_THOUSANDTH)
    if thousandths != value:
        raise _bad(strike, "strike must have at most 3 decimal places", what="strike")
    return Decimal(int(thousandths.scaleb(3))) / 1000


def _to_decimal(strike: object) -> Decimal:
    if isinstance(strike, Decimal):
        return strike
    if isinstance(strike, int) and not isinstance(strike, bool):
        return Decimal(strike)
    if isinstance(strike, float):
        if not math.isfinite(strike):
            raise _bad(strike, "strike must be finite", what="strike")
        return Decimal(repr(strike))
    if isinstance(strike, str):
        if len(strike) > 32 or _PLAIN_NUMBER.fullmatch(strike) is None:
            raise _bad(strike, "strike string must be a plain decimal number", what="strike")
        return Decimal(strike)
    kind = type(strike).__name__
    raise _bad(strike, f"strike must be Decimal, int, str or float, got {kind}", what="strike")


def _bad(value: object, problem: str, what: str = "OCC symbol") -> InvalidOccSymbol:
    return InvalidOccSymbol(f"invalid {what} {_shown(value)}: {problem}")


def _shown(value: object) -> str:
    """repr() of the value, truncated; never raises, whatever the value's own repr does."""
    if isinstance(value, str) and len(value) > _SHOWN_CHARS:
        return f"{value[:_SHOWN_CHARS]!r}… ({len(value)} chars)"
    try:
        text = repr(value)
    except Exception:
        text = object.__repr__(value)
    if len(text) > _SHOWN_CHARS:
        text = text[:_SHOWN_CHARS] + "…"
    return text
