"""Domain errors: each names the bad input or the rule that refused it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""


class InvalidOccSymbol(DomainError, ValueError):
    """A string that is not an OCC option symbol, or parts that cannot make one."""


class InvalidPricingInput(DomainError, ValueError):
    """An argument to the pricing functions that has no meaning (an unknown right, say)."""


class InvalidPolicy(DomainError, ValueError):
    """A selection, liquidity or sizing policy that contradicts itself."""


class InvalidMarketData(DomainError, ValueError):
    """A contract or quote whose fields cannot describe a real market."""


class InvalidRecord(DomainError, ValueError):
    """A recommendation or execution field that the store must not accept."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        super().__init__(f"{field} {problem}")


class SizingError(DomainError, ValueError):
    """Sizing inputs that are non-finite, negative, zero or out of range."""


class NoEligibleContract(DomainError):
    """Every candidate was rejected.

    ``counts`` maps each primary reason to how many candidates it turned down;
    ``explain`` is the full report (every candidate and its reasons) for the record.
    """

    def __init__(
        self, counts: Mapping[str, int], candidates: int, explain: Mapping[str, Any] | None = None
    ) -> None:
        self.counts = dict(counts)
        self.candidates = candidates
        self.explain = dict(explain or {})
        super().__init__(self.summary())

    def summary(self) -> str:
        if self.candidates == 0:
            return "no candidate contracts in the chain"
        parts = ", ".join(f"{n} {reason}" for reason, n in self.counts.items())
        return f"{self.candidates} rejected: {parts}"
