"""The Broker port over Alpaca's trading API: orders placed at most once, failures classified.

Idempotent submit, in two steps, resting on Alpaca's uniqueness of client_order_id
(for good, canceled orders included: a second POST with it is a 422 duplicate):

1. submit it, once: the HTTP clients never retry (see ``http``), so one call here is
   one POST on the wire. An earlier attempt that placed the order (perhaps one whose
   reply was lost) makes this POST a duplicate;
2. if the reply is a 422 duplicate (its message says the client_order_id must be
   unique: ``errors.is_duplicate``), or is ambiguous (a timeout after sending, a 5xx
   that may follow a commit, a dropped connection, a truncated body), look the
   client_order_id up. Found: that order is the answer. Not found: the failure is
   reported as ``BrokerUnavailable`` and the caller retries the whole call with the
   same intent. Should the POST still land later, the retry's POST is a duplicate,
   which step 2 resolves to the one order.

Any other refusal (a 4xx: a validation error, insufficient buying power, bad keys) is
``OrderRejected`` after that one POST, with the venue's status, code and message: no
lookup, no retry. Alpaca shares the duplicate's code with its validation errors, so a
code alone never sends the call into step 2.

No lookup before the POST: it would cost every order a round trip to learn what the
venue's own uniqueness check says anyway. Nor after a POST the rate-limit governor
never sent (``errors.NotSent``: it would have waited too long for the budget). A 429
from the venue reaches this point only after the governor sent the POST again past each
reset for as long as it may wait; it is looked up like any other transient failure.

``recent_orders`` lists the orders placed since an instant in one call (``GET
/v2/orders?status=all&after=...``), so that reconciliation asks once, not once an order.

Retries are therefore the caller's (Celery's policy for the dispatcher), never
alpaca-py's: a silent 3 x 3 s retry inside one call would stretch a task past its time
limit, and hide from the record how often the venue failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from alpaca.common.enums import Sort
from alpaca.trading.enums import QueryOrderStatus
from alpaca.trading.requests import GetOrdersRequest

from strikeflow.broker_adapters.alpaca import parsing
from strikeflow.broker_adapters.alpaca.config import AlpacaConfig
from strikeflow.broker_adapters.alpaca.errors import (
    NOT_FOUND,
    is_duplicate,
    never_processed,
    translated,
)
from strikeflow.broker_adapters.alpaca.http import AlpacaClients
from strikeflow.broker_adapters.alpaca.rate_limit import Governor
from strikeflow.domain.enums import ExecutionMode
from strikeflow.domain.errors import BrokerError, BrokerUnavailable, DomainError, OrderRejected
from strikeflow.domain.orders import (
    AccountSnapshot,
    BrokerOrder,
    OrderIntent,
    OrderNotReplaceable,
    PositionSnapshot,
)
from strikeflow.domain.venue_activity import VenueActivity

UNPROCESSABLE = 422
MAX_LISTED = 500  # the most one GET /v2/orders returns
ACTIVITY_PAGE_SIZE = 100  # the most one GET /v2/account/activities returns
MAX_ACTIVITY_PAGES = 50


class AlpacaBroker:
    def __init__(self, clients: AlpacaClients, config: AlpacaConfig) -> None:
        self._clients = clients
        self._config = config

    @property
    def execution_mode(self) -> ExecutionMode:
        return ExecutionMode.PAPER if self._config.paper else ExecutionMode.LIVE

    def govern(self, governor: Governor) -> None:
        """Every call of this adapter's clients (orders and market data alike) asks
        ``governor`` first: the fleet's shared rate-limit budgets (``rate_limit``)."""
        self._clients.govern(governor)

    def account(self) -> AccountSnapshot:
        with translated("account", self._config.secrets):
            return parsing.account_snapshot(self._clients.trading.get_account())

    def positions(self) -> list[PositionSnapshot]:
        with translated("positions", self._config.secrets):
            return [parsing.position_snapshot(p) for p in self._clients.trading.get_all_positions()]

    def order_by_client_id(self, client_order_id: str) -> BrokerOrder | None:
        try:
            with translated("order lookup", self._config.secrets):
                order = self._clients.trading.get_order_by_client_id(client_order_id)
                return parsing.broker_order(order, self.execution_mode)
        except OrderRejected as refused:
            if refused.status == NOT_FOUND:
                return None
            raise

    def cancel_order(self, order_id: str) -> BrokerOrder:
        """Ask Alpaca to cancel ``order_id`` (``DELETE /v2/orders/{id}``) and read the
        order back: ``canceled``, ``pending_cancel`` while the venue works it, or what it
        became first. A closed order's 422 is ``OrderRejected``."""
        with translated("cancel", self._config.secrets):
            self._clients.trading.cancel_order_by_id(order_id)
        with translated("order lookup", self._config.secrets):
            order = self._clients.trading.get_order_by_id(order_id)
            return parsing.broker_order(order, self.execution_mode)

    def replace_order(
        self, order_id: str, qty: Decimal, limit_price: Decimal, client_order_id: str
    ) -> BrokerOrder:
        """Replace the open limit order ``order_id`` (``PATCH /v2/orders/{id}``): the
        venue's NEW order under ``client_order_id``, the old one ending ``replaced``. A
        422, a duplicate or an ambiguous reply is looked up by ``client_order_id``: a
        replace that landed (an earlier attempt's) is that order; else a 422 other than
        a duplicate (the order filled, was canceled or replaced meanwhile) is
        ``OrderNotReplaceable``."""
        request = parsing.replace_request(qty, limit_price, client_order_id)
        try:
            with translated("replace", self._config.secrets):
                order = self._clients.trading.replace_order_by_id(order_id, request)
                return parsing.broker_order(order, self.execution_mode)
        except OrderRejected as refused:
            if not is_duplicate(refused) and refused.status != UNPROCESSABLE:
                raise
            cause: BrokerError = refused
        except BrokerError as failure:
            if never_processed(failure) or not failure.transient:
                raise
            cause = failure
        found = self.order_by_client_id(client_order_id)
        if found is not None:  # this replace landed before (its reply lost, say)
            return found
        if isinstance(cause, OrderRejected) and not is_duplicate(cause):
            raise OrderNotReplaceable(cause.operation, cause.status, cause.code, cause.message)
        if isinstance(cause, OrderRejected):
            raise BrokerUnavailable("replace", f"duplicate reported but not found: {cause.message}")
        raise cause

    def recent_orders(self, after: datetime, limit: int = MAX_LISTED) -> list[BrokerOrder]:
        """Orders open or closed submitted after ``after``, newest first, at most
        ``limit``: one request. An order this adapter cannot read (a multi-leg parent, a
        status it does not know) is left out; looked up by its client_order_id it would
        say why."""
        request = GetOrdersRequest(
            status=QueryOrderStatus.ALL,
            after=after,
            limit=max(1, min(limit, MAX_LISTED)),
            direction=Sort.DESC,
            nested=False,
        )
        with translated("order listing", self._config.secrets):
            listed = self._clients.trading.get_orders(request)
        orders = []
        for order in listed:
            try:
                orders.append(parsing.broker_order(order, self.execution_mode))
            except (KeyError, ValueError, TypeError, DomainError):
                continue
        return orders

    def account_activities(
        self, after: datetime | None, types: Sequence[str]
    ) -> list[VenueActivity]:
        """Activities of ``types`` after ``after``, oldest first, every page (``GET
        /v2/account/activities``: alpaca-py has no typed call for it in every version, so
        the trading client's own ``get``). An activity this adapter cannot read is left
        out."""
        params: dict[str, Any] = {"direction": "asc", "page_size": ACTIVITY_PAGE_SIZE}
        if types:
            params["activity_types"] = ",".join(types)
        if after is not None:
            params["after"] = after.astimezone(UTC).isoformat().replace("+00:00", "Z")
        found: list[VenueActivity] = []
        for _ in range(MAX_ACTIVITY_PAGES):
            with translated("account activities", self._config.secrets):
                page = self._clients.trading.get("/account/activities", dict(params))
            rows = page if isinstance(page, list) else []
            for raw in rows:
                try:
                    found.append(parsing.venue_activity(raw))
                except (ValueError, TypeError, KeyError, ArithmeticError):
                    continue
            if len(rows) < ACTIVITY_PAGE_SIZE or not isinstance(rows[-1], dict):
                return found
            params["page_token"] = rows[-1].get("id")
        raise BrokerUnavailable(
            "account activities", f"more than {MAX_ACTIVITY_PAGES} pages after {after}"
        )

    def submit(self, intent: OrderIntent) -> BrokerOrder:
        request = parsing.order_request(intent)
        try:
            with translated("submit", self._config.secrets):
                order = self._clients.trading.submit_order(request)
                return parsing.broker_order(order, self.execution_mode)
        except BrokerError as failure:
            if never_processed(failure) or not (failure.transient or is_duplicate(failure)):
                raise
            cause = failure
        return self._resolve(intent, cause)

    def _resolve(self, intent: OrderIntent, cause: BrokerError) -> BrokerOrder:
        """After a duplicate or an ambiguous reply: the order if it stands, else ``cause``."""
        try:
            found = self.order_by_client_id(intent.client_order_id)
        except BrokerUnavailable as lookup:
            raise BrokerUnavailable(
                "submit",
                f"outcome unknown ({_detail(cause)}); the lookup failed too ({lookup.detail})",
            ) from None
        if found is not None:
            return found
        if isinstance(cause, OrderRejected):  # a duplicate we cannot see yet: retry later
            raise BrokerUnavailable("submit", f"duplicate reported but not found: {cause.message}")
        raise cause


def _detail(error: BrokerError) -> str:
    return error.detail if isinstance(error, BrokerUnavailable) else str(error)
