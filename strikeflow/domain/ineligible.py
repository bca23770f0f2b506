"""Why no contract was eligible, in one line a reader can act on.

A count of rejections ("8 rejected: 8 no bid") or "no candidate contracts" leaves the
reader to guess: was the expiry missing, was the strike missing, was the market too
thin? The line names the day and the window, and then either the nearest expiry that is
listed (a single stock lists only Fridays, so its 0–1 DTE day trade has nothing to pick
from Monday to Wednesday) or how many contracts the window held and what turned them down.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import numpy as np

from strikeflow.domain.enums import Right
from strikeflow.domain.expiry import trading_date

if TYPE_CHECKING:
    from strikeflow.domain.selection import CandidateReport, DteWindow

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # not %a: locale-free
RIGHT_NAMES = {Right.CALL: "call", Right.PUT: "put"}


def day(d: date) -> str:
    """``Tue 2026-12-08``: the weekday tells why a weekly listing has no expiry today."""
    return f"{WEEKDAYS[d.weekday()]} {d.isoformat()}"


def why_none_eligible(
    report: CandidateReport, underlying: str = "", listed_through: date | None = None
) -> str:
    """The reason no candidate of ``report`` is eligible.

    With no candidate in the DTE window: the nearest unexpired expiry of the chain
    (``listed_through``, when given, is the last date the chain was asked about, so an
    empty chain can say how far it looked). Otherwise: how many candidates the window
    held, and each primary rejection reason with its count, largest first.
    """
    window = report.policy.window
    today = trading_date(report.now)
    dte = report.dte
    in_window = (dte >= window.min_days) & (dte <= window.max_days)
    held = int(np.count_nonzero(in_window))
    ticker = f"{underlying} " if underlying else ""
    if held == 0:
        head = f"no {ticker}expiry within {window} on {day(today)}"
        nearest = nearest_expiry(report.candidates.expiration, dte, window)
        if nearest is not None:
            days = (nearest - today).days
            return f"{head}; the nearest is {day(nearest)} ({days} DTE)"
        if listed_through is not None:
            return f"{head}, nor any listed through {day(listed_through)}"
        return f"{head}, nor any other in the chain"
    kind = RIGHT_NAMES[report.policy.right] + ("s" if held > 1 else "")
    counts = report.counts(among=in_window)
    parts = ", ".join(f"{label} ({n})" for label, n in counts.items())
    text = f"{held} {ticker}{kind} in {window} on {day(today)}, all rejected: {parts}"
    outside = len(dte) - held
    if outside:
        text += f"; {outside} more outside {window}"
    return text


def nearest_expiry(expirations: np.ndarray, dte: np.ndarray, window: DteWindow) -> date | None:
    """The unexpired expiration outside ``window`` closest to it (the later on a tie)."""
    outside = (dte >= 0) & ((dte < window.min_days) | (dte > window.max_days))
    if not outside.any():
        return None
    days = dte[outside]
    gap = np.where(days < window.min_days, window.min_days - days, days - window.max_days)
    best = np.lexsort((-days, gap))[0]
    return expirations[outside][best].item()
