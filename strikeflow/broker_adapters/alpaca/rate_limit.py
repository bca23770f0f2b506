"""The rate-limit governor: every request to Alpaca asks one fleet-wide budget first.

Alpaca allows each API key 200 trading calls a minute, and on the Basic data plan 200
data calls a minute; beyond, it answers 429. A fleet of worker processes that each
paced itself would together exceed that, so the budget lives in a store every process
shares (``app_state.rate_budget``: Redis, or one process's memory for the demo). The
governor wraps the HTTP session under alpaca-py's clients (``GovernedSession``), so
every call, from any client, goes through it.

The rule:

* A request belongs to the **data** budget when it goes to the data host
  (``data.alpaca.markets``) or to a data path (``/v2/stocks``, ``/v1beta1/...``, the
  emulator serves both APIs from one host); every other request to the **trading**
  budget.
* Each budget is a token bucket sized so that no window (Alpaca's: 60 seconds) holds
  more calls than the limit: it refills at ``limit x (1 - margin)`` a window and holds
  ``limit x margin`` tokens.
* **Orders first**: order submits, cancels and replaces (POST, PATCH, DELETE under
  ``/v2/orders``, and DELETE of a position, which closes it) may take every token;
  any other call leaves the last ``reserve`` share of the bucket to them. Reads and
  reconciliation wait; an order finds a token at once unless orders alone drained it.
* The venue has the last word: every reply's ``X-RateLimit-Remaining`` and
  ``X-RateLimit-Reset`` (a unix second) are read, and when nothing remains the whole
  budget is held, fleet-wide, until the reset. A 429 holds the budget the same way and
  is sent again after the reset, by the governor, instead of failing the step; with no
  reset named, it waits ``NO_RESET_WAIT_S``. Nothing else retries a 429.
* Waits are bounded: a call that would wait past ``max_wait_s`` in all (budget and
  429s together) gives up with ``RateLimitWait`` (or the venue's last 429), a transient
  failure its task retries later, so a step never outlives its time limit in a queue.

A governed call costs one round trip to the store (one Lua script in Redis) before the
request; a call to an unbudgeted API (no limit configured) only looks for the venue's
holds, at most every ``HOLD_CHECK_S`` per process.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests

log = logging.getLogger("strikeflow.rate_limit")

TRADING, DATA = "trading", "data"
ALPACA_DOMAIN = "alpaca.markets"
ALPACA_TRADING_LIMIT = 200  # calls a minute per key
ALPACA_DATA_LIMIT = 200  # calls a minute on the Basic data plan
DATA_HOST_PREFIX = "data."
DATA_PATHS = ("/v2/stocks", "/v1beta1/", "/v1beta3/")
ORDER_PATHS = ("/v2/orders",)
PRIORITY_METHODS = frozenset({"POST", "PATCH", "DELETE"})
TOO_MANY_REQUESTS = 429
NO_RESET_WAIT_S = 1.0  # a 429 that names no reset: wait this long, then send it again
RESET_SLACK_S = 0.05  # the reset is a whole second: wait a little past it
HOLD_CHECK_S = 0.25  # an unbudgeted API looks for a fleet-wide hold at most this often
LIMIT, REMAINING, RESET = "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"


class RateBudget(Protocol):
    """The shared store of budgets (``app_state.rate_budget``)."""

    def take(
        self, name: str, rate_per_s: float, capacity: float, floor: float
    ) -> tuple[float, bool]:
        """Take one token of ``name`` unless fewer than ``floor`` + 1 remain: (0, False)
        when taken, else (seconds to wait, whether a hold of the venue's is the cause)."""
        ...

    def hold_until(self, name: str, until_epoch_s: float) -> None:
        """No call of ``name`` before ``until_epoch_s`` (unix seconds)."""
        ...


class RateLimitWait(requests.RequestException):
    """A call that would have waited longer than allowed for its budget: never sent."""


@dataclass(frozen=True)
class Limits:
    """One budget: the venue's calls a window (Alpaca: a minute), the share of it never
    planned for (``margin``, which is also the burst), and the share of the burst left
    to orders."""

    per_window: int
    margin: float = 0.1
    reserve: float = 0.5
    window_s: float = 60.0

    def __post_init__(self) -> None:
        if self.per_window < 1 or not 0 < self.margin < 1 or not 0 <= self.reserve < 1:
            raise ValueError(f"limits out of range: {self}")
        if not 0 < self.window_s <= 3600:
            raise ValueError(f"window_s out of range: {self}")

    @property
    def rate_per_s(self) -> float:
        return self.per_window * (1 - self.margin) / self.window_s

    @property
    def capacity(self) -> float:
        return max(1.0, self.per_window * self.margin)

    def floor(self, priority: bool) -> float:
        """Tokens an ordinary call must leave behind; none for an order."""
        return 0.0 if priority else self.capacity * self.reserve


@dataclass(frozen=True)
class GovernorConfig:
    """The budgets (None: that API is not budgeted, only the venue's headers are obeyed)
    and the longest a call may wait in all."""

    trading: Limits | None = Limits(200)
    data: Limits | None = Limits(200)
    max_wait_s: float = 20.0

    def __post_init__(self) -> None:
        if not 0 < self.max_wait_s <= 600:
            raise ValueError("max_wait_s must be within (0, 600]")

    @classmethod
    def from_settings(cls, settings: Any) -> GovernorConfig:
        """From ``strikeflow.config.Settings`` (read by attribute): a limit of 0 is none,
        an unset one Alpaca's own (``default_limit``)."""
        margin, reserve = settings.alpaca_rate_margin, settings.alpaca_order_reserve
        window_s = settings.alpaca_rate_window_s
        base = settings.alpaca_base_url

        def limits(given: int | None, url: str | None, alpaca: int) -> Limits | None:
            per_window = default_limit(url, alpaca) if given is None else given
            return Limits(per_window, margin, reserve, window_s) if per_window else None

        return cls(
            trading=limits(
                settings.alpaca_trading_rate_limit,
                settings.alpaca_trading_url or base,
                ALPACA_TRADING_LIMIT,
            ),
            data=limits(
                settings.alpaca_data_rate_limit,
                settings.alpaca_data_url or base,
                ALPACA_DATA_LIMIT,
            ),
            max_wait_s=settings.alpaca_rate_max_wait_s,
        )


def default_limit(url: str | None, alpaca: int) -> int:
    """A budget left unset: Alpaca's limit when the calls go to Alpaca (no URL given:
    alpaca-py's hosts, or a URL on ``alpaca.markets``), none for another venue (the
    emulator enforces only the limits it was given, and announces them in its headers,
    which the governor obeys all the same)."""
    host = (urlsplit(url).hostname or "") if url else ALPACA_DOMAIN
    return alpaca if host == ALPACA_DOMAIN or host.endswith("." + ALPACA_DOMAIN) else 0


@dataclass(frozen=True, slots=True)
class Route:
    budget: str  # TRADING or DATA
    priority: bool  # an order submit, cancel or replace


def route_of(method: str, url: str) -> Route:
    """Which budget a request spends, and whether it is an order (see the module's rule)."""
    parts = urlsplit(url)
    path = parts.path or "/"
    host = (parts.hostname or "").lower()
    if host.startswith(DATA_HOST_PREFIX) or path.startswith(DATA_PATHS):
        return Route(DATA, False)
    verb = method.upper()
    order = verb in PRIORITY_METHODS and path.startswith(ORDER_PATHS)
    closes = verb == "DELETE" and path.startswith("/v2/positions")
    return Route(TRADING, order or closes)


def key_fingerprint(api_key: str) -> str:
    """A budget's name part for one API key (Alpaca limits per key), never the key."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


@dataclass
class GovernorStats:
    """What this process's governor did, for logs and tests."""

    calls: int = 0
    throttled: int = 0  # calls that waited for a token or a hold
    waited_s: float = 0.0
    holds: int = 0  # replies that said nothing remains: the budget held to the reset
    retried_429: int = 0
    gave_up: int = 0  # calls that would have waited past max_wait_s
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: float) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, float]:
        with self._lock:
            return {
                "calls": self.calls,
                "throttled": self.throttled,
                "waited_s": round(self.waited_s, 3),
                "holds": self.holds,
                "retried_429": self.retried_429,
                "gave_up": self.gave_up,
            }


class Governor:
    """Admits each request against its budget, watches the replies, retries 429s."""

    def __init__(
        self,
        budget: RateBudget,
        config: GovernorConfig,
        api_key: str,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.budget, self.config = budget, config
        self._key = key_fingerprint(api_key)
        self._monotonic, self._wall, self._sleep = monotonic, wall, sleep
        self.stats = GovernorStats()
        # Unbudgeted APIs: when the store last said no hold stands, per budget name.
        self._unheld_at: dict[str, float] = {}

    def limits_of(self, budget: str) -> Limits | None:
        return self.config.trading if budget == TRADING else self.config.data

    def name_of(self, budget: str) -> str:
        return f"{budget}:{self._key}"

    def send(
        self, method: str, url: str, call: Callable[[], requests.Response]
    ) -> requests.Response:
        """``call()`` once admitted; again after each 429, until the reply is not a 429
        or the next wait would pass ``max_wait_s``."""
        route = route_of(method, url)
        deadline = self._monotonic() + self.config.max_wait_s
        while True:
            self._admit(route, deadline, f"{method.upper()} {urlsplit(url).path}")
            self.stats.add(calls=1)
            reply = call()
            self._observe(route, reply.headers)
            if reply.status_code != TOO_MANY_REQUESTS:
                return reply
            wait = self._after_429(route, reply.headers)
            if self._monotonic() + wait > deadline:
                self.stats.add(gave_up=1)
                return reply  # the 429 itself: transient, the task retries later
            log.warning(
                "rate limit: %s %s answered 429, sent again in %.2f s",
                method.upper(), urlsplit(url).path, wait,
            )  # fmt: skip
            self.stats.add(retried_429=1, waited_s=wait)
            self._sleep(wait)

    def _admit(self, route: Route, deadline: float, what: str) -> None:
        limits = self.limits_of(route.budget)
        name = self.name_of(route.budget)
        rate, capacity = (limits.rate_per_s, limits.capacity) if limits else (1.0, 1.0)
        floor = limits.floor(route.priority) if limits else 0.0
        waited = 0.0
        while True:
            if limits is None:
                wait, _ = self._held_only(name)
            else:
                wait, _ = self.budget.take(name, rate, capacity, floor)
            if wait <= 0:
                break
            if self._monotonic() + wait > deadline:
                self.stats.add(gave_up=1)
                raise RateLimitWait(
                    f"rate limit: {what} would wait {wait:.1f} s more for the"
                    f" {route.budget} budget (at most {self.config.max_wait_s:g} s a call)"
                )
            waited += wait
            self._sleep(wait)
        if waited:
            self.stats.add(throttled=1, waited_s=waited)
            log.info("rate limit: %s waited %.2f s for the %s budget", what, waited, route.budget)

    def _held_only(self, name: str) -> tuple[float, bool]:
        """An unbudgeted API still obeys the venue's holds: an endless bucket, asked at
        most every ``HOLD_CHECK_S``. A hold comes only after the venue said nothing
        remains (or a 429), which an unbudgeted API rarely meets; a call sent in the
        moments before this process learns of another's hold meets the venue's 429 at
        worst, which ``send`` waits out and sends again. Saves a store round trip on
        nearly every call."""
        now = self._monotonic()
        if now - self._unheld_at.get(name, -HOLD_CHECK_S) < HOLD_CHECK_S:
            return 0.0, False
        wait, held = self.budget.take(name, 1e9, 1e9, 0.0)
        if wait <= 0:
            self._unheld_at[name] = now
        return wait, held

    def _hold(self, name: str, until_epoch_s: float) -> None:
        """Hold ``name`` fleet-wide, and stop trusting this process's last look at it."""
        self._unheld_at.pop(name, None)
        self.budget.hold_until(name, until_epoch_s)

    def _observe(self, route: Route, headers: Mapping[str, Any]) -> None:
        """Nothing remaining: hold the budget fleet-wide until the venue's reset."""
        remaining, reset = _int(headers.get(REMAINING)), _int(headers.get(RESET))
        if remaining is not None and remaining <= 0 and reset is not None:
            self._hold(self.name_of(route.budget), reset + RESET_SLACK_S)
            self.stats.add(holds=1)

    def _after_429(self, route: Route, headers: Mapping[str, Any]) -> float:
        """How long to wait before sending a 429'd call again; holds the budget too,
        unless the reply says calls remain (not the rate limit speaking, then: a proxy's
        or an injected 429) or names no reset."""
        reset, remaining = _int(headers.get(RESET)), _int(headers.get(REMAINING))
        if reset is None or (remaining is not None and remaining > 0):
            return NO_RESET_WAIT_S
        until = reset + RESET_SLACK_S
        if remaining is None:  # with "none remaining", _observe has held it already
            self._hold(self.name_of(route.budget), until)
        return max(RESET_SLACK_S, until - self._wall())


def _int(raw: Any) -> int | None:
    try:
        return int(str(raw).strip())
    except (TypeError, ValueError):
        return None


class GovernedSession:
    """A session (``PooledSession`` or ``TimeoutSession``) whose every request goes
    through the governor first; alpaca-py sees the same interface."""

    def __init__(self, inner: Any, governor: Governor) -> None:
        self.inner, self.governor = inner, governor

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        return self.governor.send(
            method, url, lambda: self.inner.request(method, url, *args, **kwargs)
        )

    @property
    def timeouts(self) -> Any:
        return self.inner.timeouts

    def close(self) -> None:
        self.inner.close()
