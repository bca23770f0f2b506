"""What the emulator's route modules share: its state, its refusals, parameter parsing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from strikeflow.sim import calendar
from strikeflow.sim.faults import Faults
from strikeflow.sim.market import ChainQuery, UnknownSymbol
from strikeflow.sim.market_data import ContractInfo
from strikeflow.sim.market_model import MarketModel
from strikeflow.sim.venue import Venue

BAD_REQUEST = 40010000  # a body that cannot be read at all (400, 413)
INVALID = 40010001  # a request read but refused by validation (422), as Alpaca codes it
# Dates and instants a request may name: wide enough for any real use, narrow enough that
# date arithmetic and time-zone conversion never overflow (years 1 and 9999 do).
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
NOT_FOUND = 40410000


class DropConnection(Exception):
    """Raised by a route to have the fault middleware cut the connection mid-reply."""


class ClientError(Exception):
    """A request the emulator refuses, rendered as Alpaca renders it: a 422 carries
    40010001 unless told otherwise, any other status 40010000."""

    def __init__(self, status: int, message: str, code: int | None = None) -> None:
        super().__init__(message)
        if code is None:
            code = INVALID if status == 422 else BAD_REQUEST
        self.status, self.code, self.message = status, code, message


@dataclass
class Emulator:
    """Everything one emulator instance serves."""

    market: MarketModel  # the synthetic Market, or a RecordedMarket replaying a store
    venue: Venue
    clock: calendar.SimClock
    faults: Faults
    api_key: str
    secret_key: str

    def now(self) -> datetime:
        return self.clock.now()


def sim_of(request: Request) -> Emulator:
    """The emulator, with its venue brought up to the current instant first."""
    sim: Emulator = request.app.state.sim
    sim.venue.process(sim.now())
    return sim


def param_symbols(raw: str | None, name: str = "symbols") -> list[str]:
    if not raw:
        raise ClientError(422, f"{name} is required")
    symbols = [s.strip() for s in raw.split(",") if s.strip()]
    if not symbols or len(symbols) > 1_000:
        raise ClientError(422, f"{name} must list 1 to 1000 symbols")
    return symbols


def param_float(raw: str | None, name: str) -> float | None:
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ClientError(422, f"{name} must be a number, got {raw!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ClientError(422, f"{name} must be finite, got {raw!r}")
    return value


def param_date(raw: str | None, name: str) -> date | None:
    if raw is None or raw == "":
        return None
    try:
        day = date.fromisoformat(raw[:10])
    except ValueError:
        raise ClientError(422, f"{name} must be a date YYYY-MM-DD, got {raw[:40]!r}") from None
    if not EARLIEST.date() <= day < LATEST.date():
        raise ClientError(422, f"{name} must be within {EARLIEST.year}-{LATEST.year - 1}")
    return day


def param_time(raw: str | None, name: str) -> datetime | None:
    """An RFC 3339 instant, in UTC; one without an offset is taken as UTC."""
    if raw is None or raw == "":
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ClientError(422, f"{name} must be an RFC 3339 time, got {raw[:40]!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    # Years 1 and 9999 with an offset overflow on conversion: bound first, then convert.
    if (
        not EARLIEST.replace(tzinfo=None)
        <= moment.replace(tzinfo=None)
        < LATEST.replace(tzinfo=None)
    ):
        raise ClientError(422, f"{name} must be within {EARLIEST.year}-{LATEST.year - 1}")
    return moment.astimezone(UTC)


def page(items: list[Any], token: str | None, limit: int) -> tuple[list[Any], str | None]:
    """Offset pagination with an opaque token; the last page's token is null, never ""."""
    start = 0
    if token:
        if not token.isdigit():
            raise ClientError(422, f"page_token is not valid: {token[:40]!r}")
        start = int(token)
    end = start + limit
    return items[start:end], (str(end) if end < len(items) else None)


def json_response(body: Any, status: int = 200) -> Response:
    return JSONResponse(body, status_code=status)


# Query parameters are declared with their types and bounds, so /openapi.json says what
# each route takes (and FastAPI refuses what does not fit, with Alpaca's 422 body naming
# the parameter: see http_app.py); text the emulator parses itself (dates, instants) goes
# through the helpers above for the same reason.
def limit_up_to(high: int) -> Any:
    return Annotated[int | None, Query(ge=1, le=high, description=f"1 to {high}")]


Text = Annotated[str | None, Query(max_length=200)]
PageToken = Annotated[str | None, Query(description="next_page_token of the previous page")]
Symbols = Annotated[str | None, Query(description="comma-separated symbols", examples=["AAPL,SPY"])]
Day = Annotated[str | None, Query(description="YYYY-MM-DD", json_schema_extra={"format": "date"})]
Instant = Annotated[
    str | None, Query(description="RFC 3339", json_schema_extra={"format": "date-time"})
]
Price = Annotated[float | None, Query(allow_inf_nan=False)]
Right = Annotated[Literal["call", "put"] | None, Query(alias="type")]


async def chain_query(
    right: Right = None,
    expiration_date: Day = None,
    expiration_date_gte: Day = None,
    expiration_date_lte: Day = None,
    strike_price_gte: Price = None,
    strike_price_lte: Price = None,
) -> ChainQuery:
    """Alpaca's chain filters (a route dependency), each refused by name when malformed.
    Async, so FastAPI runs it on the event loop: a plain function would go through its
    thread pool on every chain request."""
    return ChainQuery(
        right=right,
        expiration=param_date(expiration_date, "expiration_date"),
        expiration_gte=param_date(expiration_date_gte, "expiration_date_gte"),
        expiration_lte=param_date(expiration_date_lte, "expiration_date_lte"),
        strike_gte=strike_price_gte,
        strike_lte=strike_price_lte,
    )


Chain = Annotated[ChainQuery, Depends(chain_query)]


def listed_contracts(
    sim: Emulator, underlying: str, now: datetime, query: ChainQuery
) -> list[ContractInfo]:
    """The live contracts ``query`` selects on ``underlying``; 422 for an unknown one."""
    try:
        return sim.market.contracts_where(underlying, now, query)
    except UnknownSymbol:
        raise ClientError(422, f"unknown underlying symbol {underlying!r}") from None


def expired_contracts(
    sim: Emulator, underlying: str, now: datetime, query: ChainQuery
) -> list[ContractInfo]:
    """The contracts ``query`` selects on ``underlying`` that have expired (Alpaca's
    ``status=inactive``); 422 for an unknown underlying."""
    try:
        return sim.market.expired_contracts(underlying, now, query)
    except UnknownSymbol:
        raise ClientError(422, f"unknown underlying symbol {underlying!r}") from None
