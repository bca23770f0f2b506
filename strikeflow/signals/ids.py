"""Deterministic recommendation ids: one signal, one id, however often a scan repeats.

The id is a function of (ticker, rule, bar minute) only, so a scan that runs twice for
the same minute produces the same ids, and the unique key in the store (then the
``client_order_id`` derived from the id) turns the second run into no second trade.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

from strikeflow.domain.errors import InvalidRecord
from strikeflow.domain.records import TICKER

__all__ = ["recommendation_id"]

RULE_ID = re.compile(r"[a-z][a-z0-9_]{0,31}")
_UNSAFE = re.compile(r"[^A-Z0-9.\-]")


def recommendation_id(ticker: str, rule_id: str, bar_minute: datetime) -> str:
    """``sig-<UTC minute>-<ticker>-<20 hex>``: at most 56 characters (``MAX_ID`` is 64).

    ``bar_minute`` must be timezone-aware; it is taken in UTC and floored to the minute,
    so 10:45:00 and 10:45:59 New York are the same bar. The ticker is kept for people
    reading logs ('/' shown as '_'); the hash over all three parts is what makes it unique.
    """
    if not isinstance(ticker, str) or TICKER.fullmatch(ticker) is None:
        raise InvalidRecord("ticker", f"is not a ticker symbol: {ticker!r}")
    if not isinstance(rule_id, str) or RULE_ID.fullmatch(rule_id) is None:
        raise InvalidRecord(
            "rule_id", f"must be 1-32 of [a-z0-9_] starting with a letter, got {rule_id!r}"
        )
    if not isinstance(bar_minute, datetime) or bar_minute.tzinfo is None:
        raise InvalidRecord("bar_minute", f"must be a timezone-aware datetime, got {bar_minute!r}")
    minute = bar_minute.astimezone(UTC).replace(second=0, microsecond=0)
    stamp = minute.strftime("%Y%m%dT%H%MZ")
    digest = hashlib.sha256(f"{ticker}\x1f{rule_id}\x1f{stamp}".encode()).hexdigest()
    return f"sig-{stamp}-{_UNSAFE.sub('_', ticker)}-{digest[:20]}"
