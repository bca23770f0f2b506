"""Bad input over HTTP: a JSON error with an Alpaca-style code that names the problem, no
stack trace, and nothing changed."""

from __future__ import annotations

import pytest

from strikeflow.sim.http_app import MAX_BODY_BYTES

ORDER = {"symbol": "AAPL", "qty": 1, "side": "buy", "type": "market", "time_in_force": "day"}


def refused(reply, status: int, code: int, *named: str) -> dict:
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert body["code"] == code, body
    for word in named:
        assert word in body["message"], body
    assert "Traceback" not in reply.text
    assert "File " not in reply.text
    return body


def get(emulator, path: str, **params):
    return emulator.session.get(f"{emulator.url}{path}", params=params, timeout=10)


def post_order(emulator, **changes):
    body = {**ORDER, **changes}
    return emulator.session.post(f"{emulator.url}/v2/orders", json=body, timeout=10)


def test_unknown_stock_symbol(emulator):
    refused(get(emulator, "/v2/stocks/quotes/latest", symbols="AAPL,NOPEX"), 422, 40010001, "NOPEX")
    refused(get(emulator, "/v2/stocks/bars", symbols="ZZZZZ", timeframe="1Min"), 422, 40010001)


def test_unknown_underlying_for_a_chain(emulator):
    refused(get(emulator, "/v1beta1/options/snapshots/NOPE"), 422, 40010001, "NOPE")
    refused(get(emulator, "/v2/options/contracts", underlying_symbols="NOPE"), 422, 40010001)


@pytest.mark.parametrize("symbol", ["AAPL2611C00190000", "AAPL261120X00190000", "AAPL261120C0019"])
def test_malformed_occ_symbols(emulator, symbol):
    body = refused(get(emulator, "/v1beta1/options/snapshots", symbols=symbol), 422, 40010001)
    assert symbol in body["message"]
    refused(post_order(emulator, symbol=symbol), 422, 40010001)


@pytest.mark.parametrize(
    ("qty", "named"),
    [
        (-1, "qty"),
        (0, "qty"),
        ("NaN", "qty"),
        ("inf", "qty"),
        ("ten", "qty"),
        ("1e3", "qty"),
        (1e30, "buying"),
    ],
)
def test_bad_quantities(emulator, qty, named):
    reply = post_order(emulator, qty=qty)
    if named == "buying":
        refused(reply, 403, 40310000, "insufficient buying power")
    else:
        refused(reply, 422, 40010001, named)
    assert emulator.audit() == []


def test_nan_as_a_json_literal(emulator):
    raw = b'{"symbol":"AAPL","qty":NaN,"side":"buy","type":"market","time_in_force":"day"}'
    reply = emulator.session.post(
        f"{emulator.url}/v2/orders",
        data=raw,
        headers={"content-type": "application/json"},
        timeout=10,
    )
    refused(reply, 422, 40010001, "qty")


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"side": "sideways"}, "side"),
        ({"type": "stop_loss_hunt"}, "type"),
        ({"time_in_force": "forever"}, "time_in_force"),
        ({"limit_price": -2, "type": "limit"}, "limit_price"),
        ({"client_order_id": "x" * 129}, "client_order_id"),
        ({"extended_hours": "yes", "type": "limit", "limit_price": 1}, "extended_hours"),
    ],
)
def test_bad_order_fields_name_the_field(emulator, changes, named):
    reply = post_order(emulator, **changes)
    assert reply.status_code == 422, reply.text
    assert named in reply.json()["message"]
    assert emulator.audit() == []


def test_missing_fields_are_listed(emulator):
    reply = emulator.session.post(f"{emulator.url}/v2/orders", json={"symbol": "AAPL"}, timeout=10)
    refused(reply, 422, 40010001, "qty", "side", "type", "time_in_force")


def test_a_body_that_is_not_json(emulator):
    reply = emulator.session.post(f"{emulator.url}/v2/orders", data=b"{not json", timeout=10)
    refused(reply, 400, 40010000, "JSON")


def test_an_unknown_route(emulator):
    refused(get(emulator, "/v2/no/such/route"), 404, 40410000)


def test_an_unknown_order_status_filter(emulator):
    refused(get(emulator, "/v2/orders", status="pending"), 422, 40010001, "status")


def test_an_unknown_order(emulator):
    refused(get(emulator, "/v2/orders/00000000-0000-4000-8000-000000000000"), 404, 40410000)
    reply = get(emulator, "/v2/orders:by_client_order_id", client_order_id="never-sent")
    refused(reply, 404, 40410000)


def test_an_oversized_body(emulator):
    padding = "x" * (MAX_BODY_BYTES + 1)
    reply = emulator.session.post(
        f"{emulator.url}/v2/orders", json={**ORDER, "padding": padding}, timeout=10
    )
    refused(reply, 413, 40010000, "too large")
    assert emulator.audit() == []


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"page_token": "not-a-token"}, "page_token"),
        ({"expiration_date_gte": "tomorrow"}, "expiration_date_gte"),
        ({"strike_price_gte": "nan"}, "strike_price_gte"),
        ({"type": "straddle"}, "type"),
    ],
)
def test_bad_query_parameters(emulator, params, named):
    reply = get(emulator, "/v2/options/contracts", underlying_symbols="AAPL", **params)
    refused(reply, 422, 40010001, named)


def test_the_clock_never_goes_back(emulator):
    reply = emulator.session.post(
        f"{emulator.url}/_sim/clock", json={"to": "2020-01-01T00:00:00Z"}, timeout=10
    )
    refused(reply, 422, 40010001, "forward")
    reply = emulator.session.post(f"{emulator.url}/_sim/clock", json={"seconds": -5}, timeout=10)
    refused(reply, 422, 40010001, "seconds")


def test_a_root_symbol_filter_lists_that_series_only(emulator):
    """NVDA lists adjusted contracts under their own root (NVDA1...): the root filter
    tells the two series apart, as Alpaca's ``root_symbol`` does."""
    listed = get(emulator, "/v2/options/contracts", underlying_symbols="NVDA", limit="10000")
    roots = {c["root_symbol"] for c in listed.json()["option_contracts"]}
    adjusted = sorted(r for r in roots if r != "NVDA")
    assert "NVDA" in roots
    assert adjusted, roots
    for root in ("NVDA", adjusted[0]):
        reply = get(
            emulator, "/v2/options/contracts", underlying_symbols="NVDA", root_symbol=root,
            limit="10000",
        )  # fmt: skip
        assert {c["root_symbol"] for c in reply.json()["option_contracts"]} == {root}
