"""The scan: a watchlist's 1-minute bars → new recommendations, at most once a minute.

Order matters, and each step says why it is there:

1. the market clock first: crontab knows no holidays, so a closed market means no scan
   (and a log line saying why);
2. the minute is claimed (``ScanLock``, Redis SET NX): beat, a retry, a duplicate
   delivery or a user may all ask for the same minute, only one scan runs it. A scan
   that fails gives its claim back, so its retry can run;
3. one batched bars call for the whole watchlist, plus the daily closes for the swing
   trend (fetched once per trading day and kept). A venue refusal (OrderRejected: the
   data plan not covering the feed, say) ends the scan with the venue's reason; only a
   BrokerUnavailable is retried (by the task);
4. the rules (``signals``); a bearish STOCK signal on a ticker not held is skipped with
   its reason (positions are asked for only then);
5. the per-ticker cooldown: a ticker that keeps its momentum is recommended once per
   ``[cooldown] minutes``, not every minute;
6. each recommendation is inserted under its deterministic id; only a new one (or one
   stored but never sent) is returned to send, so nothing trades twice.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np

from strikeflow.domain.enums import BarTimeframe, InstrumentType, RecommendationStatus
from strikeflow.domain.errors import OrderRejected
from strikeflow.domain.expiry import NEW_YORK, require_aware
from strikeflow.domain.market import MarketClock, StockBar
from strikeflow.domain.orders import PositionSnapshot
from strikeflow.services.ports import (
    Broker,
    MarketData,
    RecommendationInbox,
    ScanLock,
    SharedCache,
    SignalCooldown,
)
from strikeflow.services.scan_bars import (
    ONE_MINUTE,
    SESSION_MINUTES,
    MinuteGrid,
    SessionBars,
    daily_closes,
    daily_lookback,
    session_arrays,
    session_open,
)
from strikeflow.services.spot_hints import remember_spots
from strikeflow.signals.features import Bars
from strikeflow.signals.rules import (
    Decision,
    SentimentProvider,
    decide,
    features_of,
    to_recommendation,
)
from strikeflow.signals.rules_file import Rules, load_rules

__all__ = [
    "SCAN_LOCK_TTL_S",
    "DailyCloses",
    "ScanContext",
    "ScanOutcome",
    "SkippedSignal",
    "closed_reason",
    "cooldown_key",
    "load_rules",
    "lock_key",
    "scan",
    "watchlist_hash",
]

log = logging.getLogger(__name__)

FORBIDDEN = 403  # a refusal of permission, which minute bars instead of daily cannot mend

# A claim outlives any duplicate of the same scan: Celery redelivers an unacked message
# after the visibility timeout (600 s, workers.config), and a user may repeat a minute.
SCAN_LOCK_TTL_S = 3600.0


class DailyCloses:
    """The past sessions' closes, fetched once per (trading day, tickers) per process:
    they do not change during a session. Thread-safe (a threads pool shares it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[date, tuple[str, ...], int] | None = None
        self._rows: dict[str, np.ndarray] = {}

    def get(self, key: tuple[date, tuple[str, ...], int]) -> dict[str, np.ndarray] | None:
        with self._lock:
            return self._rows if key == self._key else None

    def put(self, key: tuple[date, tuple[str, ...], int], rows: dict[str, np.ndarray]) -> None:
        with self._lock:
            self._key, self._rows = key, rows


class SessionBarsSoFar:
    """The session's minute bars so far, kept per process on a grid (``MinuteGrid``):
    each scan asks the venue only for the minutes since the last one asked for, and the
    ``REFETCH`` minutes before it again (a bar still forming then, or corrected since),
    not for the whole session again, whose size grows with every minute of the day. A
    new session or watchlist starts over. Thread-safe (a threads pool shares it)."""

    REFETCH = timedelta(minutes=2)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._grid: MinuteGrid | None = None  # its first minute and tickers say whose
        self._until: datetime | None = None

    def session(
        self, ctx: ScanContext, opened: datetime, minute: datetime, bar_minute: datetime
    ) -> tuple[SessionBars, Mapping[str, Sequence[StockBar]]]:
        """The session from ``opened`` to ``bar_minute`` (``session_arrays``), from the
        bars held and those the venue sent now up to ``minute``; and the latter."""
        with self._lock:
            held = self._grid
            if held is None or (held.first, held.tickers) != (opened, ctx.watchlist):
                self._grid, self._until = MinuteGrid(ctx.watchlist, opened, SESSION_MINUTES), None
            grid, until = self._grid, self._until
        start = opened if until is None else max(opened, min(until, minute) - self.REFETCH)
        raw = ctx.market.stock_bars(ctx.watchlist, BarTimeframe.MINUTE, start, minute)
        with self._lock:
            if self._grid is grid:
                grid.add(raw)
                self._until = minute if self._until is None else max(self._until, minute)
                return grid.session(bar_minute), raw
        # Another session or watchlist began meanwhile (scans of two days at once): this
        # one is read whole, on a grid of its own.
        if until is not None:
            raw = ctx.market.stock_bars(ctx.watchlist, BarTimeframe.MINUTE, opened, minute)
        return session_arrays(raw, ctx.watchlist, opened, bar_minute), raw


@dataclass
class ScanContext:
    """The ports a scan uses, the rules (loaded once per process) and the watchlist."""

    market: MarketData
    broker: Broker
    store: RecommendationInbox
    lock: ScanLock
    cooldown: SignalCooldown
    rules: Rules
    watchlist: tuple[str, ...]
    now: Callable[[], datetime]
    sentiment: SentimentProvider | None = None
    lock_ttl_s: float = SCAN_LOCK_TTL_S
    daily: DailyCloses = field(default_factory=DailyCloses)
    bars: SessionBarsSoFar = field(default_factory=SessionBarsSoFar)
    shared: SharedCache | None = None  # where the last closes are left (spot_hints)


@dataclass(frozen=True)
class SkippedSignal:
    ticker: str
    reason: str
    recommendation_id: str | None = None


@dataclass(frozen=True)
class ScanOutcome:
    """What one scan did. ``to_send``: the ids whose chains the caller sends now."""

    minute: datetime
    bar_minute: datetime
    skipped: str | None = None
    recommendations: tuple[str, ...] = ()
    to_send: tuple[str, ...] = ()
    skipped_signals: tuple[SkippedSignal, ...] = ()
    cooling: tuple[str, ...] = ()
    without_bars: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "minute": self.minute.isoformat(),
            "bar_minute": self.bar_minute.isoformat(),
            "skipped": self.skipped,
            "recommendations": list(self.recommendations),
            "skipped_signals": [
                {"ticker": s.ticker, "reason": s.reason, "recommendation_id": s.recommendation_id}
                for s in self.skipped_signals
            ],
            "cooling": list(self.cooling),
            "without_bars": list(self.without_bars),
        }


def watchlist_hash(watchlist: Sequence[str]) -> str:
    """12 hex of the sorted watchlist: two watchlists never share a minute's claim."""
    return hashlib.sha256(",".join(sorted(set(watchlist))).encode()).hexdigest()[:12]


def lock_key(watchlist: Sequence[str], minute: datetime) -> str:
    stamp = minute.astimezone(UTC).strftime("%Y%m%dT%H%MZ")
    return f"strikeflow:scan:{watchlist_hash(watchlist)}:{stamp}"


def cooldown_key(ticker: str, action: str) -> str:
    return f"{ticker}:{action}"


def closed_reason(clock: MarketClock, minute: datetime) -> str | None:
    """Why the market is not open for ``minute``, or None when it is.

    The clock speaks of its own instant; a scan is for the same minute (beat) or one the
    caller chose in the venue's current session (``at=`` in tests and the demo).
    """
    if not clock.is_open:
        return (
            f"market closed at {clock.timestamp.isoformat()}"
            f" (next open {clock.next_open.isoformat()})"
        )
    if minute > clock.next_close:
        return f"{minute.isoformat()} is after the session's close {clock.next_close.isoformat()}"
    if minute - ONE_MINUTE < session_open(minute):
        return f"no completed bar of the session yet at {minute.isoformat()}"
    return None


def scan(ctx: ScanContext, at: datetime) -> ScanOutcome:
    """Scan the minute of ``at`` (its last completed bar is the one that minute closed)."""
    minute = require_aware(at, "at").astimezone(UTC).replace(second=0, microsecond=0)
    bar_minute = minute - ONE_MINUTE
    reason = closed_reason(ctx.market.clock(), minute)
    if reason is not None:
        log.info("scan %s: nothing to do, %s", minute.isoformat(), reason)
        return ScanOutcome(minute, bar_minute, skipped=reason)
    key = lock_key(ctx.watchlist, minute)
    if not ctx.lock.claim(key, ctx.lock_ttl_s):
        reason = f"minute already scanned ({key} is claimed)"
        log.info("scan %s: nothing to do, %s", minute.isoformat(), reason)
        return ScanOutcome(minute, bar_minute, skipped=reason)
    try:
        outcome = _scan_claimed(ctx, minute, bar_minute)
    except BaseException:
        ctx.lock.release(key)
        raise
    log.info(
        "scan %s: %d recommendations (%d to send), %d skipped, %d cooling, %d without bars",
        minute.isoformat(),
        len(outcome.recommendations),
        len(outcome.to_send),
        len(outcome.skipped_signals),
        len(outcome.cooling),
        len(outcome.without_bars),
    )
    return outcome


class KnownSentiment:
    """A provider's scores for one scan, asked for once however often they are read."""

    def __init__(self, provider: SentimentProvider | None, tickers: Sequence[str]) -> None:
        self._scores = {} if provider is None else dict(provider.scores(tickers))

    def scores(self, tickers: Sequence[str]) -> Mapping[str, float]:
        return self._scores


def _scan_claimed(ctx: ScanContext, minute: datetime, bar_minute: datetime) -> ScanOutcome:
    opened = session_open(minute)
    session, raw = ctx.bars.session(ctx, opened, minute, bar_minute)
    if not session.tickers:
        return ScanOutcome(minute, bar_minute, without_bars=session.without_bars)
    daily = _daily(ctx, session.tickers, opened, session.close[:, 0])
    bars = Bars(session.close, session.volume, session.high, session.low, daily)
    features = features_of(bars, ctx.rules)
    sentiment = KnownSentiment(ctx.sentiment, session.tickers)  # asked once a scan
    decisions = decide(session.tickers, features, ctx.rules, frozenset(), sentiment)
    if any(d.skipped for d in decisions):  # a short: only now is a held position relevant
        held = stock_holdings(ctx.broker.positions())
        decisions = decide(session.tickers, features, ctx.rules, held, sentiment)
    fresh, cooling = _outside_cooldown(ctx, decisions, bar_minute)
    now = ctx.now()
    recommended: list[str] = []
    to_send: list[str] = []
    skipped: list[SkippedSignal] = []
    for decision in fresh:
        rec, new = ctx.store.insert(to_recommendation(decision, bar_minute, now))
        if decision.skipped:
            log.info("scan %s: %s skipped: %s", minute.isoformat(), rec.id, decision.skipped)
            skipped.append(SkippedSignal(decision.ticker, decision.skipped, rec.id))
            continue
        recommended.append(rec.id)
        if new or rec.status is RecommendationStatus.PENDING:  # stored but never sent
            to_send.append(rec.id)
    if fresh:
        ctx.cooldown.record({cooldown_key(d.ticker, d.action.value): bar_minute for d in fresh})
        remember_spots(ctx.shared, _last_closes(raw, fresh), bar_minute)
    return ScanOutcome(
        minute,
        bar_minute,
        recommendations=tuple(recommended),
        to_send=tuple(to_send),
        skipped_signals=tuple(skipped),
        cooling=tuple(cooling),
        without_bars=session.without_bars,
    )


def _last_closes(
    raw: Mapping[str, Sequence[StockBar]], decided: Sequence[Decision]
) -> dict[str, Decimal]:
    """The last close of each ticker a signal was decided for: the spot its chain will
    be drawn around (``spot_hints``)."""
    return {d.ticker: raw[d.ticker][-1].close for d in decided if raw.get(d.ticker)}


def stock_holdings(positions: Collection[PositionSnapshot]) -> frozenset[str]:
    """Tickers held long as stock: the positions a bearish STOCK signal may close."""
    return frozenset(
        p.symbol for p in positions if p.instrument is InstrumentType.STOCK and p.qty > 0
    )


def _outside_cooldown(
    ctx: ScanContext, decisions: list[Decision], bar_minute: datetime
) -> tuple[list[Decision], list[str]]:
    """The decisions whose ticker and action were not recorded in the cooldown before
    ``bar_minute``; the same minute again is not "before" (its ids are the same anyway)."""
    window = timedelta(minutes=ctx.rules.cooldown.minutes)
    if not decisions or not window:
        return decisions, []
    keys = [cooldown_key(d.ticker, d.action.value) for d in decisions]
    last = ctx.cooldown.last_recorded(keys)
    fresh, cooling = [], []
    for decision, key in zip(decisions, keys, strict=True):
        seen = last.get(key)
        if seen is not None and seen < bar_minute < seen + window:
            cooling.append(decision.ticker)
        else:
            fresh.append(decision)
    return fresh, cooling


def _daily(
    ctx: ScanContext, tickers: tuple[str, ...], opened: datetime, first_prices: np.ndarray
) -> np.ndarray:
    """(tickers, trend_days + 1) past closes, from the day's cache or the venue."""
    sessions = ctx.rules.features.trend_days + 1
    today = opened.astimezone(NEW_YORK).date()
    key = (today, ctx.watchlist, sessions)
    rows = ctx.daily.get(key)
    if rows is None:
        start = opened - daily_lookback(sessions - 1)
        try:
            raw = ctx.market.stock_bars(ctx.watchlist, BarTimeframe.DAY, start, opened)
        except OrderRejected as refused:  # a venue without daily bars (the emulator)
            if refused.status == FORBIDDEN:  # not permitted (the data plan): no way around
                raise
            raw = ctx.market.stock_bars(ctx.watchlist, BarTimeframe.MINUTE, start, opened)
        own = np.full(len(ctx.watchlist), np.nan)
        table = daily_closes(raw, ctx.watchlist, today, sessions, own)
        rows = {t: table[i] for i, t in enumerate(ctx.watchlist) if not np.isnan(table[i]).any()}
        ctx.daily.put(key, rows)
    out = np.empty((len(tickers), sessions))
    for i, ticker in enumerate(tickers):
        out[i] = rows.get(ticker, first_prices[i])  # no history: no trend
    return out
