"""The emulator's market data plan: which feeds a request may ask for, as Alpaca rules.

``unlimited`` (Algo Trader Plus) serves every feed. ``basic`` (the free plan) serves IEX
and the indicative options feed, and SIP only older than 15 minutes: historical stock
bars without a ``feed`` are SIP's (Alpaca's default for history), so a bars request up
to the current minute without ``feed=iex`` is refused, as the real venue refuses it.
The latest quotes, trades and snapshots default to the best feed the plan has (IEX on
Basic), so only an explicit ``feed=sip`` is refused there. ``feed=opra`` needs the paid
options subscription. Refusals are 403s with Alpaca's own messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import Query, Request

from strikeflow.sim.http_common import ClientError

PLANS = ("basic", "unlimited")
RECENT_SIP = timedelta(minutes=15)  # what Basic may not query of SIP data
FORBIDDEN = 40310000
SIP_REFUSED = "subscription does not permit querying recent SIP data"
OPRA_REFUSED = "OPRA agreement is not signed"

StockFeed = Annotated[
    Literal["iex", "sip", "delayed_sip", "otc", "boats", "overnight"] | None,
    Query(description="the stock feed; bars default to sip, latest data to the plan's best"),
]
OptionsFeed = Annotated[
    Literal["indicative", "opra"] | None,
    Query(description="the options feed; opra needs a paid subscription"),
]


@dataclass(frozen=True)
class DataPlan:
    """One emulator's plan; ``check_*`` raise the venue's 403 for what it does not cover."""

    name: Literal["basic", "unlimited"] = "unlimited"

    def __post_init__(self) -> None:
        if self.name not in PLANS:
            raise ValueError(f"plan must be one of {', '.join(PLANS)}, got {self.name!r}")

    @property
    def basic(self) -> bool:
        return self.name == "basic"

    def check_stock_history(self, feed: str | None, until: datetime, now: datetime) -> None:
        """Bars up to ``until``: SIP (named or by default) within 15 minutes of now."""
        if self.basic and (feed or "sip") == "sip" and until > now - RECENT_SIP:
            raise ClientError(403, SIP_REFUSED, FORBIDDEN)

    def check_stock_latest(self, feed: str | None) -> None:
        """Latest quotes, trades, snapshots: always recent, so SIP named is refused."""
        if self.basic and feed == "sip":
            raise ClientError(403, SIP_REFUSED, FORBIDDEN)

    def check_options(self, feed: str | None) -> None:
        if self.basic and feed == "opra":
            raise ClientError(403, OPRA_REFUSED, FORBIDDEN)


def plan_of(request: Request) -> DataPlan:
    """The plan the app was built with (``serve.build_app``); unlimited by default."""
    return getattr(request.app.state, "plan", None) or DataPlan()
