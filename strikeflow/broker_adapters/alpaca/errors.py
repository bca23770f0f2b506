"""Alpaca failures as domain errors: transient (``BrokerUnavailable``) or permanent
(``OrderRejected``), with Alpaca's own code and message, and never a secret.

Transient: no reply, a 429, a 5xx, a call the rate-limit governor would not send
within its longest wait (``RateLimitWait``, reported as ``NotSent``, a 429). Every
other 4xx is the venue refusing (400, 401, 403, 404, 422): retrying the same request
cannot help. Alpaca's error codes are shared between errors (422 with 40010001 stands
for many validation errors: an inactive asset, a limit price not above zero, a
client_order_id too long), so the one refusal that means something else, a duplicate
client_order_id, is told by its message (``is_duplicate``), never by its code alone.
A 401 carries no code at all.

A 403 from the data API whose message speaks of the subscription ("subscription does
not permit querying recent SIP data") or of OPRA is the data plan refusing the feed
asked for: permanent like any 403, and its message names the setting that picks the
feed (``plan_refusal``), since no retry, fallback or wait will change the plan.

alpaca-py raises ``APIError(response text)`` for any HTTP error; its ``code`` and
``message`` properties parse that text as JSON and raise themselves when the body is
not JSON or lacks the key (a proxy's HTML 502, say), so they are never called here.
Transport failures arrive as ``requests`` exceptions. Messages are cut short and
scrubbed of the keys before they go anywhere; the original exception is not chained
(its ``request`` holds the auth headers).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import requests
from alpaca.common.exceptions import APIError

from strikeflow.broker_adapters.alpaca.rate_limit import TOO_MANY_REQUESTS, RateLimitWait
from strikeflow.domain.errors import BrokerError, BrokerUnavailable, DomainError, OrderRejected

NOT_FOUND = 404
UNAUTHORIZED = 401
FORBIDDEN = 403
# The data plan refusing a feed: Alpaca's "subscription does not permit querying recent
# SIP data", and the OPRA feed asked for without the options data agreement.
PLAN_REFUSAL = re.compile(r"\bsubscription\b|\bOPRA\b", re.I)
OPRA = re.compile(r"\bOPRA\b", re.I)
STOCK_FEED_ADVICE = (
    "the data plan does not cover this stock feed: set STRIKEFLOW_ALPACA_STOCK_FEED=iex,"
    " or subscribe to SIP data (Algo Trader Plus)"
)
OPTIONS_FEED_ADVICE = (
    "the data plan does not cover this options feed: set"
    " STRIKEFLOW_ALPACA_OPTIONS_FEED=indicative, or subscribe to OPRA data"
)
# Alpaca's duplicate: 422 "client_order_id must be unique". Matched on that meaning, in any
# case and spacing, so that "client_order_id must be no more than 128 characters" is not.
DUPLICATE_MESSAGE = re.compile(r"client[\s_-]*order[\s_-]*id\b.*\bmust\s+be\s+unique", re.I)
MAX_MESSAGE = 300
REDACTED = "[redacted]"


@dataclass(frozen=True, slots=True)
class ApiFailure:
    """What an APIError says, read without trusting its body."""

    status: int | None
    code: int | None
    message: str

    @property
    def transient(self) -> bool:
        return self.status is None or self.status == 429 or self.status >= 500


def read_api_error(error: APIError) -> ApiFailure:
    text = str(error)
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    code, message = None, text
    if isinstance(body, dict):
        raw_code = body.get("code")
        if isinstance(raw_code, int | str) and str(raw_code).isdigit():
            code = int(raw_code)
        if isinstance(body.get("message"), str):
            message = body["message"]
    try:
        status = error.status_code
    except AttributeError:  # an http_error without a response
        status = None
    return ApiFailure(status, code, " ".join(message.split())[:MAX_MESSAGE] or "(empty body)")


def scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def classify(error: BaseException, operation: str, secrets: Iterable[str] = ()) -> BrokerError:
    """The domain error for ``error`` (an APIError, a requests or parsing failure)."""
    secrets = tuple(secrets)
    if isinstance(error, APIError):
        failure = read_api_error(error)
        message = scrub(failure.message, secrets)
        if failure.transient:
            return BrokerUnavailable(operation, message, failure.status)
        if failure.status == UNAUTHORIZED:  # bad or missing keys: say so, the body may not
            message = f"authentication failed, check the API key and secret: {message}"
        advice = plan_refusal(failure, operation)
        if advice is not None:
            message = f"{message}; {advice}"
        return OrderRejected(operation, failure.status, failure.code, message)
    if isinstance(error, RateLimitWait):
        return NotSent(operation, str(error)[:MAX_MESSAGE], TOO_MANY_REQUESTS)
    if isinstance(error, requests.Timeout):
        kind = "read timeout" if isinstance(error, requests.ReadTimeout) else "connect timeout"
        return BrokerUnavailable(operation, kind)
    if isinstance(error, requests.RequestException):
        detail = scrub(f"{type(error).__name__}: {error}", secrets)[:MAX_MESSAGE]
        return BrokerUnavailable(operation, detail)
    if isinstance(error, ValueError):  # a truncated or malformed reply, JSON or model
        detail = scrub(f"malformed reply ({type(error).__name__})", secrets)
        return BrokerUnavailable(operation, detail)
    raise TypeError(f"not a broker failure: {type(error).__name__}")


def plan_refusal(failure: ApiFailure, operation: str) -> str | None:
    """What to change when ``failure`` is the data plan refusing a feed, else None.

    Told by the message (a 403 for buying power or a disabled account says nothing of
    a subscription); the OPRA feed when the message or the operation is about options."""
    if failure.status != FORBIDDEN or PLAN_REFUSAL.search(failure.message) is None:
        return None
    if OPRA.search(failure.message) or operation.startswith("option"):
        return OPTIONS_FEED_ADVICE
    return STOCK_FEED_ADVICE


class NotSent(BrokerUnavailable):
    """Transient like any ``BrokerUnavailable``, and certain: the rate-limit governor
    did not send the request (it would have waited too long), so nothing can have
    happened at the venue and there is nothing to look up."""


def never_processed(error: BrokerError) -> bool:
    """The request never reached the venue (``NotSent``)."""
    return isinstance(error, NotSent)


def is_duplicate(error: BrokerError) -> bool:
    """A 422 saying the client_order_id must be unique: an earlier attempt placed the order.

    Told by the message: Alpaca sends the same code (40010001) for validation errors, and
    taking one of those for a duplicate would send the caller looking for an order that
    was never placed."""
    return (
        isinstance(error, OrderRejected)
        and error.status == 422
        and DUPLICATE_MESSAGE.search(error.message) is not None
    )


TRANSLATED = (APIError, requests.RequestException, ValueError)


@contextmanager
def translated(operation: str, secrets: Iterable[str] = ()) -> Iterator[None]:
    """Turn what alpaca-py and requests raise inside the block into domain errors."""
    try:
        yield
    except DomainError:
        raise  # our own verdict on the reply (a malformed OCC symbol, say), kept as is
    except TRANSLATED as error:
        raise classify(error, operation, secrets) from None
