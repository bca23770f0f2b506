"""``strikeflow emulator clock show | set | advance``: read and move a running emulator's
simulated clock over HTTP, with the base URL and keys every other command reads
(STRIKEFLOW_ALPACA_BASE_URL, STRIKEFLOW_ALPACA_API_KEY, STRIKEFLOW_ALPACA_SECRET_KEY).

Simulated time moves only forward and only when told, so a person walking the pipeline
by hand decides when orders fill, when the day-trade cut-off passes and when the session
closes. A bad argument is a usage error (exit 2) before anything is sent; an emulator
that cannot be reached, refuses the keys or refuses the move is one line (exit 1).
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import datetime, timedelta
from typing import Any

from strikeflow.cli.arguments import aware_instant

NEXT_OPEN = "next-open"
MAX_ADVANCE = timedelta(days=366)  # the emulator's own bound on one move
HTTP_TIMEOUT_S = 10.0
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")


class ClockError(Exception):
    """The emulator could not be asked, or refused: one line for the user."""


def duration(text: str) -> timedelta:
    """``90`` (seconds), ``30m``, ``2h``, ``1d``, or parts together: ``1h30m``."""
    value = text.strip().lower()
    try:
        seconds = float(value)
    except ValueError:
        parts = DURATION_PART.findall(value)
        if not parts or "".join(n + u for n, u in parts) != value:
            raise argparse.ArgumentTypeError(
                f"not a duration: {text!r} (e.g. 90, 30m, 2h, 1d, 1h30m)"
            ) from None
        seconds = sum(float(n) * UNITS[u] for n, u in parts)
    if not 0 < seconds <= MAX_ADVANCE.total_seconds():
        raise argparse.ArgumentTypeError(f"a duration in (0 s, 366 d], got {text!r}")
    return timedelta(seconds=seconds)


def instant_or_next_open(text: str) -> datetime | str:
    """``next-open``, or an ISO 8601 instant with its UTC offset."""
    return NEXT_OPEN if text == NEXT_OPEN else aware_instant(text)


def add_clock_command(actions: argparse._SubParsersAction) -> None:
    clock = actions.add_parser(
        "clock", help="show or move a running emulator's simulated clock (its URL and keys:"
        " STRIKEFLOW_ALPACA_BASE_URL, ..._API_KEY, ..._SECRET_KEY)",
    )  # fmt: skip
    moves = clock.add_subparsers(dest="clock_action", required=True, metavar="ACTION")
    show = moves.add_parser("show", help="the venue's time and whether the market is open")
    show.set_defaults(run=run_clock, move=None)
    to = moves.add_parser("set", help="jump forward to an instant, or to the next open")
    to.add_argument(
        "instant",
        type=instant_or_next_open,
        help="ISO 8601 with its offset (2026-12-01T10:00:00-05:00), or next-open",
    )
    to.set_defaults(run=run_clock, move="set")
    ahead = moves.add_parser("advance", help="move forward by a duration")
    ahead.add_argument("duration", type=duration, help="90 (seconds), 30m, 2h, 1d, 1h30m")
    ahead.set_defaults(run=run_clock, move="advance")


def run_clock(args: argparse.Namespace) -> int:
    try:
        client = VenueClock.from_settings()
        if args.move == "set":
            reply = client.set_to(args.instant)
        elif args.move == "advance":
            reply = client.advance(args.duration)
        else:
            reply = client.show()
    except ClockError as failed:
        print(f"strikeflow emulator clock: {failed}", file=sys.stderr)
        return 1
    print(describe(reply))
    return 0


def describe(reply: dict[str, Any]) -> str:
    """One line: the venue's time in New York and UTC, and whether the market is open."""
    from strikeflow.domain.expiry import NEW_YORK

    now = datetime.fromisoformat(reply["timestamp"])
    local = now.astimezone(NEW_YORK)
    state = "market open" if reply["is_open"] else "market closed"
    return f"{local:%a %Y-%m-%d %H:%M:%S %Z} ({now.isoformat()}) · {state}"


class VenueClock:
    """The emulator's clock routes: GET /v2/clock (Alpaca's) and POST /_sim/clock."""

    def __init__(self, url: str, api_key: str, secret_key: str) -> None:
        self.url = url.rstrip("/")
        self._headers = {"APCA-API-KEY-ID": api_key, "APCA-API-SECRET-KEY": secret_key}

    @classmethod
    def from_settings(cls) -> VenueClock:
        from strikeflow.config import Settings

        settings = Settings()  # a setting that does not validate: the command's exit 2
        if not settings.alpaca_base_url:
            raise ClockError(
                "STRIKEFLOW_ALPACA_BASE_URL is not set: the clock to move is the emulator's"
                " (strikeflow fleet up writes the settings to source)"
            )
        key, secret = settings.alpaca_api_key, settings.alpaca_secret_key
        if key is None or secret is None:
            raise ClockError("set STRIKEFLOW_ALPACA_API_KEY and STRIKEFLOW_ALPACA_SECRET_KEY")
        return cls(settings.alpaca_base_url, key.get_secret_value(), secret.get_secret_value())

    def show(self) -> dict[str, Any]:
        return self._call("GET", "/v2/clock")

    def set_to(self, instant: datetime | str) -> dict[str, Any]:
        if instant == NEXT_OPEN:
            instant = datetime.fromisoformat(self.show()["next_open"])
        return self._call("POST", "/_sim/clock", {"to": instant.isoformat()})

    def advance(self, by: timedelta) -> dict[str, Any]:
        return self._call("POST", "/_sim/clock", {"seconds": by.total_seconds()})

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        import requests

        where = f"{self.url}{path}"
        try:
            reply = requests.request(
                method, where, json=body, headers=self._headers, timeout=HTTP_TIMEOUT_S
            )
        except requests.RequestException as failed:
            raise ClockError(
                f"cannot reach the emulator at {self.url}: {_reason(failed)}"
            ) from None
        if reply.status_code in (401, 403):
            raise ClockError(
                f"the emulator at {self.url} refused the keys (STRIKEFLOW_ALPACA_API_KEY,"
                " STRIKEFLOW_ALPACA_SECRET_KEY)"
            )
        try:
            data = reply.json()
        except ValueError:
            data = None
        if not reply.ok:
            message = data.get("message") if isinstance(data, dict) else None
            raise ClockError(f"{method} {path}: {reply.status_code} {message or reply.reason}")
        if not isinstance(data, dict) or "timestamp" not in data:
            raise ClockError(f"{where} did not answer as the emulator does: is it the emulator?")
        return data


def _reason(failed: Exception) -> str:
    """The innermost cause's words, not requests' chain of wrappers."""
    cause: BaseException = failed
    while cause.__cause__ is not None or cause.__context__ is not None:
        cause = cause.__cause__ or cause.__context__  # type: ignore[assignment]
    text = str(cause).strip().splitlines()
    return (text[0] if text else type(cause).__name__)[:200]
