"""Alpaca's rate limits, enforced by the emulator: per API key, per window (Alpaca's is a
minute, the default), trading and market data apart.

Alpaca answers every request with ``X-RateLimit-Limit`` (calls a minute),
``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (the unix second the window ends),
and a request beyond the limit with 429 ``{"code": 42910000, "message": "rate limit
exceeded"}``. The emulator does the same, in fixed windows of ``window_s`` opened by a
key's first request after the last window ended; a refused request does not count.

The windows run on wall time (``time.monotonic``), never on the emulator's simulated
clock: a rate limit is about how fast requests arrive, and simulated time may run at 60x
or stand still. ``Reset`` is the wall clock's unix second at the window's end, rounded up.

A request belongs to the data budget when its path is a market data path (``/v2/stocks``,
``/v1beta1/...``: Alpaca serves those from its data host), else to the trading budget.
A limit of 0 is no limit: no headers, no refusals. The limits can be changed while the
emulator runs (``POST /_sim/rate_limits``), which starts every window afresh; the counts
of what was admitted and refused (``GET /_sim/rate_limits``) are kept for tests and
demos to report.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

TRADING, DATA = "trading", "data"
DATA_PATHS = ("/v2/stocks", "/v1beta1/", "/v1beta3/")
RATE_LIMITED = {"code": 42910000, "message": "rate limit exceeded"}
MAX_LIMIT = 1_000_000
KEPT_ARRIVALS = 200_000  # admitted requests remembered per budget, for the peak figure


def budget_of(path: str) -> str:
    return DATA if path.startswith(DATA_PATHS) else TRADING


@dataclass(frozen=True, slots=True)
class RateLimitConfig:
    """Calls allowed per key a ``window_s``, trading and data apart (0: unlimited);
    tests scale a window down with its limits."""

    trading_limit: int = 200
    data_limit: int = 200
    window_s: float = 60.0

    def __post_init__(self) -> None:
        for name in ("trading_limit", "data_limit"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be an integer, got {value!r}")
            if not 0 <= value <= MAX_LIMIT:
                raise ValueError(f"{name} must be within [0, {MAX_LIMIT}], got {value}")
        if not isinstance(self.window_s, int | float) or not 0 < self.window_s <= 3600:
            raise ValueError(f"window_s must be within (0, 3600] seconds, got {self.window_s!r}")

    @classmethod
    def unlimited(cls) -> RateLimitConfig:
        return cls(0, 0)

    def limit_of(self, budget: str) -> int:
        return self.trading_limit if budget == TRADING else self.data_limit


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_epoch_s: int

    def headers(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"x-ratelimit-limit", str(self.limit).encode()),
            (b"x-ratelimit-remaining", str(self.remaining).encode()),
            (b"x-ratelimit-reset", str(self.reset_epoch_s).encode()),
        ]


class RateLimiter:
    """Fixed windows per (key, budget), thread-safe, with counts of what it decided."""

    def __init__(
        self,
        config: RateLimitConfig | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._monotonic, self._wall = monotonic, wall
        self._lock = threading.Lock()
        self._config = config or RateLimitConfig.unlimited()
        self._windows: dict[tuple[str, str], tuple[float, int]] = {}  # start, admitted
        self._admitted: Counter[str] = Counter()
        self._refused: Counter[str] = Counter()
        self._arrivals: dict[str, deque[float]] = {
            TRADING: deque(maxlen=KEPT_ARRIVALS),
            DATA: deque(maxlen=KEPT_ARRIVALS),
        }

    @property
    def config(self) -> RateLimitConfig:
        return self._config

    def configure(self, config: RateLimitConfig) -> None:
        """New limits, every window started afresh; the counts are kept."""
        with self._lock:
            self._config = config
            self._windows.clear()

    def admit(self, key: str, path: str) -> Decision | None:
        """The verdict on one request of ``key`` to ``path``; None when unlimited."""
        budget = budget_of(path)
        now = self._monotonic()
        with self._lock:
            limit = self._config.limit_of(budget)
            self._arrivals[budget].append(now)
            if limit == 0:
                self._admitted[budget] += 1
                return None
            start, used = self._windows.get((key, budget), (now, 0))
            if now >= start + self._config.window_s:
                start, used = now, 0
            allowed = used < limit
            if allowed:
                used += 1
                self._admitted[budget] += 1
            else:
                self._refused[budget] += 1
                self._arrivals[budget].pop()  # a refused request spent nothing
            self._windows[(key, budget)] = (start, used)
            reset = self._wall() + (start + self._config.window_s - now)
            return Decision(allowed, limit, max(0, limit - used), math.ceil(reset))

    def stats(self) -> dict[str, Any]:
        """The limits, and per budget: requests admitted, 429s served, the most admitted
        in any ``window_s`` (sliding), and the admitted rate a minute over the span."""
        with self._lock:
            out: dict[str, Any] = {"limits": asdict(self._config)}
            for budget in (TRADING, DATA):
                arrivals = list(self._arrivals[budget])
                span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else 0.0
                out[budget] = {
                    "admitted": self._admitted[budget],
                    "refused_429": self._refused[budget],
                    "peak_per_window": _peak(arrivals, self._config.window_s),
                    "per_min_over_span": round(len(arrivals) / span * 60, 1) if span else None,
                    "span_s": round(span, 3),
                }
            return out


def _peak(arrivals: list[float], window_s: float) -> int:
    """The most arrivals in any ``window_s`` (two pointers over sorted times)."""
    best, first = 0, 0
    for last, at in enumerate(arrivals):
        while at - arrivals[first] >= window_s:
            first += 1
        best = max(best, last - first + 1)
    return best
