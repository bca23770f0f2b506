"""Domain errors: each names the bad input or the rule that refused it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class DomainError(Exception):
    """Base of every error the domain raises on purpose.

    Errors with their own ``__init__`` define ``__reduce__``: Celery pickles a task's
    exception before its errbacks see it, and replaces one that does not round-trip by
    its nearest base class (an OrderRejected would arrive as a BrokerError).
    """


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
        self.field, self.problem = field, problem
        super().__init__(f"{field} {problem}")

    def __reduce__(self):
        return (type(self), (self.field, self.problem))


class SizingError(DomainError, ValueError):
    """Sizing inputs that are non-finite, negative, zero or out of range."""


class NoEligibleContract(DomainError):
    """Every candidate was rejected.

    ``counts`` maps each primary reason to how many candidates it turned down;
    ``explain`` is the full report (every candidate and its reasons) for the record;
    ``reason``, when the selection gives one, says concretely why (the expiry that is
    missing and the nearest listed, or what turned the window's candidates down).
    """

    def __init__(
        self,
        counts: Mapping[str, int],
        candidates: int,
        explain: Mapping[str, Any] | None = None,
        reason: str | None = None,
    ) -> None:
        self.counts = dict(counts)
        self.candidates = candidates
        self.explain = dict(explain or {})
        self.reason = reason
        super().__init__(self.summary())

    def __reduce__(self):
        return (type(self), (self.counts, self.candidates, self.explain, self.reason))

    def summary(self) -> str:
        if self.reason:
            return self.reason
        if self.candidates == 0:
            return "no candidate contracts in the chain"
        parts = ", ".join(f"{n} {reason}" for reason, n in self.counts.items())
        return f"{self.candidates} rejected: {parts}"


class BrokerError(DomainError):
    """A broker refused or failed an operation; ``transient`` says whether to retry it."""

    transient: bool = False


class BrokerUnavailable(BrokerError):
    """The broker could not be reached or did not answer in time (timeout, dropped
    connection, 5xx, 429). Transient: retry with the same client_order_id, which the
    broker deduplicates, so a retry can never place a second order."""

    transient = True

    def __init__(self, operation: str, detail: str, status: int | None = None) -> None:
        self.operation, self.detail, self.status = operation, detail, status
        shown = f" (HTTP {status})" if status else ""
        super().__init__(f"broker unavailable during {operation}{shown}: {detail}")

    def __reduce__(self):
        return (type(self), (self.operation, self.detail, self.status))


class StoreUnavailable(ConnectionError):
    """The database could not be reached (refused, restarted, a connection cut). Not a
    DomainError: nothing was refused, and a read or an idempotent write retried later
    succeeds; the tasks retry it like BrokerUnavailable."""

    transient = True

    def __init__(self, operation: str, detail: str) -> None:
        self.operation, self.detail = operation, detail
        super().__init__(f"database unavailable during {operation}: {detail}")

    def __reduce__(self):
        return (type(self), (self.operation, self.detail))


class OrderRejected(BrokerError):
    """The broker answered and refused (a 4xx other than 429): insufficient buying power,
    an unknown symbol, a time_in_force not allowed. Permanent: retrying cannot help.
    ``code`` and ``message`` are the broker's own (Alpaca's 40310000, say)."""

    transient = False

    def __init__(self, operation: str, status: int | None, code: int | None, message: str) -> None:
        self.operation, self.status, self.code, self.message = operation, status, code, message
        super().__init__(f"{operation} refused (HTTP {status}, code {code}): {message}")

    def __reduce__(self):
        return (type(self), (self.operation, self.status, self.code, self.message))


class DispatchRejected(DomainError):
    """A recommendation the dispatcher refuses for good (a risk breach, the kill switch,
    zero size, a price that ran away): terminal, routed to ``record_failure``, never retried.

    ``explain`` holds the figures behind the decision for the record.
    """

    def __init__(self, reason: str, explain: Mapping[str, Any] | None = None) -> None:
        self.reason = reason
        self.explain = dict(explain or {})
        super().__init__(reason)

    def __reduce__(self):
        return (type(self), (self.reason, self.explain))


class ChainSuperseded(DispatchRejected):
    """A step's message is not the order its recommendation has decided: the
    recommendation was sized again after the message was written (a chain re-driven
    while the first still ran: the latest sizing is the one kept), or the message was
    never written by a sizing step. The step sends nothing and its run ends without a
    verdict: the recommendation's outcome belongs to the run whose decision is stored,
    which goes on (or, if it died, the stuck sweep sends the chain again)."""


class SetupError(Exception):
    """The process is not set up to do what it was asked: a database URL it cannot use, a
    database not created or not migrated, credentials not given. Nothing was refused and
    nothing was tried; no retry helps until the operator changes the setup, so neither a
    DomainError (the tasks would record a verdict) nor transient (they would retry it)."""


class UnsupportedDatabase(SetupError, ValueError):
    """A database URL that cannot be parsed, names a database strikeflow does not run on
    (only PostgreSQL and SQLite), or names a driver that is not installed. ``url`` is as
    shown to a user (password masked; ``None`` when it could not be parsed)."""

    def __init__(self, url: str | None, problem: str) -> None:
        self.url, self.problem = url, problem
        super().__init__(f"{url}: {problem}" if url else problem)

    def __reduce__(self):
        return (type(self), (self.url, self.problem))


class DatabaseMissing(SetupError, LookupError):
    """A SQLite file that does not exist where a command only reads or writes an existing
    database: it is not created (an empty file would only fail later, table by table)."""

    def __init__(self, url: str) -> None:
        self.url = url
        super().__init__(f"{url}: no database file there")

    def __reduce__(self):
        return (type(self), (self.url,))


class SchemaMissing(SetupError, LookupError):
    """The database lacks a table or column strikeflow uses: it was never migrated, or is
    at an older revision. ``detail`` is the database's own first line."""

    def __init__(self, url: str, detail: str) -> None:
        self.url, self.detail = url, detail
        super().__init__(f"{url}: {detail}")

    def __reduce__(self):
        return (type(self), (self.url, self.detail))


class MissingCredentials(SetupError, ValueError):
    """A venue's keys are not set; ``names`` are the settings to set."""

    def __init__(self, venue: str, names: tuple[str, ...]) -> None:
        self.venue, self.names = venue, tuple(names)
        super().__init__(f"{venue} credentials missing: set {' and '.join(self.names)}")

    def __reduce__(self):
        return (type(self), (self.venue, self.names))
