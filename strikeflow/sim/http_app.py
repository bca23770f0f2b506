"""The emulator's HTTP face: the part of Alpaca's REST API strikeflow uses, over the sim market.

Thin by design: every route parses its parameters, asks the market or the venue, and
renders Alpaca's JSON (render.py). Refusals carry Alpaca's status codes and error bodies;
nothing returns a stack trace. Faults (faults.py) are injected ahead of the routes, and
Alpaca's rate limits (rate_limits.py) are enforced between the faults and the routes, so
an injected fault carries no rate-limit headers and spends nothing of a budget.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from strikeflow.sim import routes_market, routes_trading
from strikeflow.sim.faults import Faults
from strikeflow.sim.http_common import (
    BAD_REQUEST,
    INVALID,
    NOT_FOUND,
    ClientError,
    DropConnection,
    Emulator,
)
from strikeflow.sim.rate_limits import RATE_LIMITED, RateLimitConfig, RateLimiter
from strikeflow.sim.venue_orders import VenueError

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

MAX_BODY_BYTES = 64 * 1024
UNAUTHORIZED = {"message": "unauthorized."}  # as Alpaca answers a wrong key: no code


class InjectedDrop(ConnectionAbortedError):
    """Ends a response half-sent, on purpose; the server's error log is spared it."""


class _QuietInjectedDrops(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], InjectedDrop))


def create_app(sim: Emulator, rate_limits: RateLimitConfig | None = None) -> FastAPI:
    """The app over ``sim``. ``rate_limits``: the per-key limits enforced from the start
    (None: none until ``POST /_sim/rate_limits`` sets some)."""
    quiet = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietInjectedDrops) for f in quiet.filters):
        quiet.addFilter(_QuietInjectedDrops())
    app = _routes()
    app.state.sim = sim
    app.state.rate_limiter = RateLimiter(rate_limits)
    _rate_limit_routes(app)
    _error_handlers(app)
    # The last added runs first: the key check, the faults, the rate limits, the routes.
    app.add_middleware(_RateLimitMiddleware, limiter=app.state.rate_limiter)
    app.add_middleware(_FaultMiddleware, faults=sim.faults)
    app.add_middleware(_GuardMiddleware, sim=sim)
    return app


def openapi_schema() -> dict[str, Any]:
    """The document /openapi.json serves, without building an emulator (for fuzzers)."""
    return _routes().openapi()


def _routes() -> FastAPI:
    app = FastAPI(title="strikeflow Alpaca emulator", docs_url=None, redoc_url=None)
    app.include_router(routes_trading.router)
    app.include_router(routes_market.router)
    return app


def _rate_limit_routes(app: FastAPI) -> None:
    """``GET /_sim/rate_limits``: the limits and the counts; ``POST``: new limits, as
    ``{"trading_limit": n, "data_limit": n, "window_s": s}`` (any may be left out, and
    keeps its value; a limit of 0: none).
    Kept out of the OpenAPI document: they are the emulator's controls, not Alpaca's."""

    @app.get("/_sim/rate_limits", include_in_schema=False)
    async def rate_limit_stats(request: Request) -> JSONResponse:
        return JSONResponse(request.app.state.rate_limiter.stats())

    @app.post("/_sim/rate_limits", include_in_schema=False)
    async def set_rate_limits(request: Request) -> JSONResponse:
        limiter: RateLimiter = request.app.state.rate_limiter
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            raise ClientError(400, "the body must be a JSON object") from None
        known = {"trading_limit", "data_limit", "window_s"}
        if not isinstance(body, dict) or not set(body) <= known:
            raise ClientError(422, f"give a JSON object of {', '.join(sorted(known))}")
        current = limiter.config
        try:
            config = RateLimitConfig(
                trading_limit=body.get("trading_limit", current.trading_limit),
                data_limit=body.get("data_limit", current.data_limit),
                window_s=body.get("window_s", current.window_s),
            )
        except ValueError as bad:
            raise ClientError(422, str(bad)) from None
        limiter.configure(config)
        return JSONResponse(limiter.stats())


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(VenueError)
    async def venue_error(_: Request, error: VenueError) -> JSONResponse:
        body = {"code": error.code, "message": error.message, **error.extra}
        return JSONResponse(body, status_code=error.status)

    @app.exception_handler(ClientError)
    async def client_error(_: Request, error: ClientError) -> JSONResponse:
        return JSONResponse({"code": error.code, "message": error.message}, error.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = f"{where}: {first.get('msg', 'invalid request')}" if where else "invalid request"
        return JSONResponse({"code": INVALID, "message": message}, 422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        code = NOT_FOUND if error.status_code == 404 else error.status_code * 100_000
        message = "endpoint not found" if error.status_code == 404 else str(error.detail)
        return JSONResponse({"code": code, "message": message}, error.status_code)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, error: Exception) -> JSONResponse:
        kind = type(error).__name__
        return JSONResponse({"code": 50010000, "message": f"internal error ({kind})"}, 500)


class _GuardMiddleware:
    """Alpaca's key headers on every route, and a cap on body size."""

    def __init__(self, app, sim: Emulator) -> None:
        self.app, self.sim = app, sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if scope["path"] != "/openapi.json" and (
            headers.get("apca-api-key-id") != self.sim.api_key
            or headers.get("apca-api-secret-key") != self.sim.secret_key
        ):
            await _send_json(send, 401, UNAUTHORIZED)
            return
        length = headers.get("content-length", "0")
        if not length.isdigit() or int(length) > MAX_BODY_BYTES:
            await _send_json(send, 413, {"code": BAD_REQUEST, "message": "request body too large"})
            return
        await self.app(scope, receive, send)


class _RateLimitMiddleware:
    """Alpaca's per-key limits: the headers on every reply, a 429 beyond the limit
    (never on /_sim control routes)."""

    def __init__(self, app, limiter: RateLimiter) -> None:
        self.app, self.limiter = app, limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith("/_sim") or path == "/openapi.json":
            await self.app(scope, receive, send)
            return
        key = next(
            (v.decode("latin-1") for k, v in scope["headers"] if k.lower() == b"apca-api-key-id"),
            "",
        )
        decision = self.limiter.admit(key, path)
        if decision is None:
            await self.app(scope, receive, send)
            return
        extra = decision.headers()
        if not decision.allowed:
            await _send_json(send, 429, RATE_LIMITED, extra)
            return

        async def with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)


class _FaultMiddleware:
    """Injects the configured faults ahead of the routes (never on /_sim control routes)."""

    def __init__(self, app, faults: Faults) -> None:
        self.app, self.faults = app, faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sim"):
            await self.app(scope, receive, send)
            return
        fault = self.faults.for_request(route_of(scope["method"], scope["path"]))
        if fault.delay_s:
            await asyncio.sleep(fault.delay_s)
        if fault.status is not None:
            await _send_json(send, fault.status, _fault_body(fault.status))
        elif fault.drop:
            await drop_connection(send)
        else:
            try:
                await self.app(scope, receive, send)
            except DropConnection:
                await drop_connection(send)


def route_of(method: str, path: str) -> str:
    """The route a request took, its symbols and ids left out (``GET
    /v1beta1/options/snapshots/{}``): what the fault plan counts requests by."""
    parts = [p if _FIXED_SEGMENT.fullmatch(p) else "{}" for p in path.strip("/").split("/")]
    return f"{method} /{'/'.join(parts)}"


_FIXED_SEGMENT = re.compile(r"[a-z_:]+|v\d+(beta\d+)?")


def _fault_body(status: int) -> dict[str, Any]:
    if status == 429:
        return dict(RATE_LIMITED)
    return {"code": status * 100_000, "message": "service unavailable (injected fault)"}


async def drop_connection(send: Send) -> None:
    """Start a response and abandon it: the client sees its connection cut mid-reply."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", b"1000"), (b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": b'{"trunc', "more_body": True})
    raise InjectedDrop("injected dropped connection")


async def _send_json(
    send: Send, status: int, body: dict[str, Any], headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
