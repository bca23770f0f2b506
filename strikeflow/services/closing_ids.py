"""The ids of closes: one recommendation id per close of an entry, one client_order_id per close.

A close is a recommendation like any other, so everything that reads, re-drives or
settles recommendations handles it; its id says what it closes:
``close-<entry execution id>-<n>``, the entry's ``n``-th close (1, 2, ... after a partial
close). The id is computed from what is stored, so two decisions about the same entry
at the same time compute the same id, the insert keeps one, and one close order goes
out (``services.closing``).

Its order's ``client_order_id`` is ``sf-close-<32 hex>`` (44 characters), derived from
that id as an entry's ``sf-open-<32 hex>`` is from its own: ``order_id_of`` is the one
function every step uses to name a recommendation's order, whichever kind it is.
"""

from __future__ import annotations

import re

from strikeflow.domain.orders import client_order_id
from strikeflow.services.dispatch_policy import client_order_id_for

CLOSE_PREFIX = "close"
CLOSE_ID = re.compile(r"close-([1-9][0-9]{0,18})-([1-9][0-9]{0,5})")


def close_recommendation_id(entry_execution_id: int, n: int) -> str:
    """The id of the ``n``-th close of the entry ``entry_execution_id``."""
    return f"{CLOSE_PREFIX}-{entry_execution_id}-{n}"


def close_ids_prefix(entry_execution_id: int) -> str:
    """What every close id of the entry starts with (the ``-`` keeps 12 from 123)."""
    return f"{CLOSE_PREFIX}-{entry_execution_id}-"


def entry_closed_by(recommendation_id: str) -> int | None:
    """The entry execution id a close recommendation closes; None for any other id."""
    match = CLOSE_ID.fullmatch(recommendation_id)
    return None if match is None else int(match.group(1))


def is_close(recommendation_id: str) -> bool:
    return entry_closed_by(recommendation_id) is not None


def order_id_of(recommendation_id: str) -> str:
    """The one client_order_id of a recommendation's order: ``sf-close-…`` for a close,
    ``sf-open-…`` for an entry."""
    if is_close(recommendation_id):
        return client_order_id(recommendation_id, "close")
    return client_order_id_for(recommendation_id)
