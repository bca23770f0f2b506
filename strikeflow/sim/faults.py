"""Venue faults on demand: errors, rate limits, latency, dropped connections, commit-then-fail.

Clients must survive every one of these without sending an order twice; the emulator
makes them happen at configured rates, from a seeded generator, and counts what it did so
tests can compare observed rates with the configuration.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

ERROR_STATUSES = (500, 503, 504)


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """Per-request probabilities (0–1) and the latency distribution.

    ``latency`` is the probability of a delay, drawn from an exponential distribution
    with mean ``latency_mean_ms`` and capped at ``latency_max_ms``. ``latency_fixed_ms``
    is added to every request, before any other fault: a venue that far away, one round
    trip at a time (the latency benchmark's 50 ms). ``commit_then_fail``
    applies to order submissions only: the order is accepted and recorded, then the
    client gets a 500 or a dropped connection.
    """

    error_5xx: float = 0.0
    rate_limit: float = 0.0
    drop: float = 0.0
    latency: float = 0.0
    latency_mean_ms: float = 200.0
    latency_max_ms: float = 5_000.0
    latency_fixed_ms: float = 0.0
    commit_then_fail: float = 0.0

    def __post_init__(self) -> None:
        for name in ("error_5xx", "rate_limit", "drop", "latency", "commit_then_fail"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0 <= value <= 1:
                raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
        if self.error_5xx + self.rate_limit + self.drop > 1:
            raise ValueError("error_5xx + rate_limit + drop must not exceed 1")
        for name in ("latency_mean_ms", "latency_max_ms", "latency_fixed_ms"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0 <= value <= 60_000:
                raise ValueError(f"{name} must be within [0, 60000] ms, got {value!r}")


@dataclass(frozen=True, slots=True)
class Fault:
    """What to do to one request: an error status, a drop, and/or a delay first."""

    status: int | None = None
    drop: bool = False
    delay_s: float = 0.0


class Faults:
    """Thread-safe fault plan, seeded, with counts of what it injected."""

    def __init__(self, config: FaultConfig | None = None, seed: int = 0) -> None:
        self._config = config or FaultConfig()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    @property
    def config(self) -> FaultConfig:
        return self._config

    def update(self, changes: dict[str, Any]) -> FaultConfig:
        """Change some settings at run time; unknown names are refused, naming them."""
        known = {f.name for f in fields(FaultConfig)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(unknown)}")
        with self._lock:
            self._config = replace(self._config, **changes)
            return self._config

    def for_request(self, route: str | None = None) -> Fault:
        """The fault for one request; ``route`` (``GET /v2/account``, say) is counted
        too, as ``requests GET /v2/account``: which requests a run made, not just how many."""
        with self._lock:
            cfg, rng = self._config, self._rng
            self._counts["requests"] += 1
            if route is not None:
                self._counts[f"requests {route}"] += 1
            delay = cfg.latency_fixed_ms / 1e3
            if cfg.latency and rng.random() < cfg.latency:
                drawn = rng.expovariate(1000.0 / cfg.latency_mean_ms)
                delay += min(drawn, cfg.latency_max_ms / 1e3)
                self._counts["latency"] += 1
            roll = rng.random()
            if roll < cfg.error_5xx:
                status = rng.choice(ERROR_STATUSES)
                self._counts[str(status)] += 1
                return Fault(status=status, delay_s=delay)
            if roll < cfg.error_5xx + cfg.rate_limit:
                self._counts["429"] += 1
                return Fault(status=429, delay_s=delay)
            if roll < cfg.error_5xx + cfg.rate_limit + cfg.drop:
                self._counts["drop"] += 1
                return Fault(drop=True, delay_s=delay)
            return Fault(delay_s=delay)

    def after_order_commit(self) -> Fault | None:
        """Whether an order just recorded should be answered with a failure anyway."""
        with self._lock:
            self._counts["orders"] += 1
            if self._config.commit_then_fail and self._rng.random() < self._config.commit_then_fail:
                self._counts["commit_then_fail"] += 1
                return Fault(status=500) if self._rng.random() < 0.5 else Fault(drop=True)
            return None

    def report(self) -> dict[str, Any]:
        with self._lock:
            return {"config": asdict(self._config), "counts": dict(self._counts)}
