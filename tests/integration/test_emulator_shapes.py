"""The emulator's responses held to Alpaca's documented shapes (tests/data/alpaca_shapes).

Every field a fixture has, the emulator's response for the same endpoint and state has
too, with a compatible JSON type: the same one, or string-or-number where Alpaca sends
either (an order's quantities and prices), or null where Alpaca's schema allows null.
A fixture's null says nothing of the type, only that the field is there. Each field is a
case of its own, so that a field the emulator lacks fails alone, by name; the known gaps
are ``xfail(strict=True)``: once the emulator sends the field, the mark must go.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from strikeflow.sim.serve import EmulatorOptions, running_emulator
from tests.integration.emulator import KEY, SECRET, START, EmulatorHandle

SHAPES = Path(__file__).resolve().parents[1] / "data" / "alpaca_shapes"
MISSING = object()
OPTION = "SPY"

# Fields where Alpaca sends a JSON string one time and a number another.
STRING_OR_NUMBER = frozenset(
    {"qty", "filled_qty", "filled_avg_price", "limit_price", "stop_price", "notional"}
)
# Fields Alpaca's schema allows to be null (the emulator may send null where a fixture,
# in another state, has a value).
NULLABLE = frozenset(
    {
        "filled_at",
        "filled_avg_price",
        "limit_price",
        "stop_price",
        "replaced_at",
        "replaced_by",
        "replaces",
        "legs",
        "position_intent",
        "open_interest",
        "open_interest_date",
        "close_price",
        "close_price_date",
        "greeks",
        "impliedVolatility",
        "latestTrade",
        "minuteBar",
        "dailyBar",
        "prevDailyBar",
        "next_page_token",
        "user_configurations",
    }
)


def load(name: str) -> Any:
    return json.loads((SHAPES / f"{name}.json").read_text())["body"]


# case name → (the fixture's body, or a part of it, as Alpaca sends it)
CASES: dict[str, Any] = {
    "order filled": load("order_numbers_as_strings"),
    "order numbers": load("order_numbers_as_numbers"),
    "order replaced": load("order_replaced"),
    "order replacement": load("order_replacement"),
    "stock position": load("positions")[0],
    "option position": load("positions")[1],
    "account": load("account"),
    "contracts page": load("option_contracts_page"),
    "contract": load("option_contracts_page")["option_contracts"][0],
    "chain page": load("option_chain_snapshots"),
    "snapshot": load("option_chain_snapshots")["snapshots"]["AAPL261218C00190000"],
    "snapshot without greeks": load("option_chain_snapshots")["snapshots"]["AAPL261218C00350000"],
    "bars page": load("stock_bars"),
    "bar": load("stock_bars")["bars"]["AAPL"][0],
    "latest quote": load("stock_latest_quotes")["quotes"]["AAPL"],
    "clock": load("clock"),
    "401": load("error_401"),
}


def _gaps(cases: tuple[str, ...], paths: tuple[str, ...], why: str) -> dict:
    return {(case, path): why for case in cases for path in paths}


ORDERS = ("order filled", "order numbers", "order replaced", "order replacement")
POSITIONS = ("stock position", "option position")
# (case, field path) → why the emulator lacks it; each is xfail(strict=True).
KNOWN_GAPS: dict[tuple[str, str], str] = {}


# Objects held as one field: keyed by symbol (which differ between fixture and
# emulator), or a bar whose own fields the "bar" case checks.
OPAQUE = frozenset(
    {"snapshots", "bars", "quotes", "admin_configurations", "minuteBar", "dailyBar", "prevDailyBar"}
)


def leaves(value: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, value) of every field of ``value``, walking into nested objects (a
    snapshot's latestQuote.ap) other than the ``OPAQUE`` ones; lists are leaves."""
    for key, inner in value.items():
        path = f"{prefix}{key}"
        yield path, inner
        if isinstance(inner, dict) and key not in OPAQUE:
            yield from leaves(inner, f"{path}.")


def field_cases() -> list[Any]:
    params = []
    for case, fixture in CASES.items():
        for path, _ in leaves(fixture):
            gap = KNOWN_GAPS.get((case, path))
            marks = [pytest.mark.xfail(strict=True, reason=gap)] if gap else []
            params.append(pytest.param(case, path, id=f"{case}:{path}", marks=marks))
    return params


def at_path(body: Any, path: str) -> Any:
    for key in path.split("."):
        if not isinstance(body, dict) or key not in body:
            return MISSING
        body = body[key]
    return body


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def compatible(path: str, fixture: Any, served: Any) -> bool:
    name = path.rsplit(".", 1)[-1]
    want, got = json_type(fixture), json_type(served)
    if want == "null" or want == got:
        return True
    if got == "null":
        return name in NULLABLE
    if name in STRING_OR_NUMBER and {want, got} <= {"string", "number"}:
        return got == "number" or _numeric(served)
    return False


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# -- the emulator's responses, gathered once ----------------------------------------------------


def _ok(reply: requests.Response) -> Any:
    assert reply.status_code < 300, f"{reply.request.method} {reply.url}: {reply.text}"
    return reply.json()


@pytest.fixture(scope="module")
def served() -> Iterator[dict[str, Any]]:
    """Each case's response from one emulator, in the state its fixture shows."""
    options = EmulatorOptions(
        seed=42, start=START, api_key=KEY, secret_key=SECRET, fill_delay_s=1.0
    )
    with running_emulator(options) as url:
        sim = EmulatorHandle(url)
        yield _gather(sim)


def _gather(sim: EmulatorHandle) -> dict[str, Any]:
    s, url = sim.session, sim.url
    out: dict[str, Any] = {}
    contracts = _ok(s.get(f"{url}/v2/options/contracts", params={"underlying_symbols": OPTION}))
    out["contracts page"] = _ok(
        s.get(f"{url}/v2/options/contracts", params={"underlying_symbols": OPTION, "limit": 2})
    )
    out["contract"] = out["contracts page"]["option_contracts"][0]
    chain = _ok(s.get(f"{url}/v1beta1/options/snapshots/{OPTION}", params={"limit": 1000}))
    snaps = chain["snapshots"]
    out["chain page"] = _ok(s.get(f"{url}/v1beta1/options/snapshots/{OPTION}", params={"limit": 2}))
    out["snapshot"] = next(
        v for v in snaps.values() if v.get("greeks") and "latestTrade" in v and "prevDailyBar" in v
    )
    out["snapshot without greeks"] = next(v for v in snaps.values() if not v.get("greeks"))
    listed = {c["symbol"] for c in contracts["option_contracts"]}
    liquid = sorted(
        (sym for sym, v in snaps.items() if sym in listed and v["latestQuote"]["bp"] > 0.5),
        key=lambda sym: snaps[sym]["latestQuote"]["ap"] - snaps[sym]["latestQuote"]["bp"],
    )[0]
    start = (START.replace(minute=0)).isoformat()
    out["bars page"] = _ok(
        s.get(f"{url}/v2/stocks/bars", params={"symbols": "AAPL", "start": start, "limit": 2})
    )
    out["bar"] = out["bars page"]["bars"]["AAPL"][0]
    out["latest quote"] = _ok(s.get(f"{url}/v2/stocks/quotes/latest", params={"symbols": "AAPL"}))[
        "quotes"
    ]["AAPL"]
    out["clock"] = _ok(s.get(f"{url}/v2/clock"))

    ask = snaps[liquid]["latestQuote"]["ap"]
    bought = _order(sim, liquid, 2, ask + 0.05, "shape-filled")
    _order(sim, "AAPL", 5, None, "shape-stock")
    resting = _order(sim, liquid, 2, 0.05, "shape-resting")
    sim.advance(seconds=5)
    out["order filled"] = out["order numbers"] = _ok(s.get(f"{url}/v2/orders/{bought['id']}"))
    positions = {p["symbol"]: p for p in _ok(s.get(f"{url}/v2/positions"))}
    out["stock position"], out["option position"] = positions["AAPL"], positions[liquid]
    out["account"] = _ok(s.get(f"{url}/v2/account"))
    replaced = s.patch(f"{url}/v2/orders/{resting['id']}", json={"limit_price": "0.06"})
    if replaced.status_code < 300:
        out["order replacement"] = replaced.json()
        out["order replaced"] = _ok(s.get(f"{url}/v2/orders/{resting['id']}"))
    unauthorized = requests.get(f"{url}/v2/account", headers={"APCA-API-KEY-ID": "wrong"})
    assert unauthorized.status_code == 401
    out["401"] = unauthorized.json()
    return out


def _order(sim: EmulatorHandle, symbol: str, qty: int, limit: float | None, cid: str) -> dict:
    body: dict[str, Any] = {
        "symbol": symbol,
        "qty": qty,
        "side": "buy",
        "type": "market" if limit is None else "limit",
        "time_in_force": "day",
        "client_order_id": cid,
    }
    if limit is not None:
        body["limit_price"] = round(limit, 2)
    return _ok(sim.session.post(f"{sim.url}/v2/orders", json=body))


# -- the checks ------------------------------------------------------------------------------


@pytest.mark.parametrize(("case", "path"), field_cases())
def test_the_emulator_sends_every_documented_field_with_a_compatible_type(served, case, path):
    assert case in served, f"the emulator gave no {case} response"
    fixture, response = at_path(CASES[case], path), at_path(served[case], path)
    assert response is not MISSING, f"{case}: the emulator sends no {path!r}"
    assert compatible(path, fixture, response), (
        f"{case}: {path} is {json_type(response)} ({response!r}),"
        f" Alpaca sends {json_type(fixture)} ({fixture!r})"
    )


def test_a_401_has_no_code_as_alpacas_has_none(served):
    assert served["401"] == {"message": "unauthorized."}


def test_replace_links_the_two_orders(served):
    old, new = served["order replaced"], served["order replacement"]
    assert old["status"] == "replaced"
    assert old["replaced_by"] == new["id"]
    assert new["replaces"] == old["id"]


def test_page_tokens_are_opaque_strings_or_null(served):
    for case in ("contracts page", "chain page", "bars page"):
        token = served[case]["next_page_token"]
        assert token is None or (isinstance(token, str) and token), case
