"""The store of recorded market data (its round trip and its refusals) and the market
that replays it: prices from completed bars only, option quotes only where recorded,
Greeks backed out where missing, settlement from the recorded close, missing days and
missing quotes said plainly. The store is tests/recorded_stores.py's, written by hand."""

from __future__ import annotations

import inspect
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from strikeflow.domain.expiry import NEW_YORK
from strikeflow.sim import render
from strikeflow.sim.market import ChainQuery, Market
from strikeflow.sim.market_model import MarketModel
from strikeflow.sim.recorded_market import RecordedMarket
from strikeflow.sim.recorded_store import (
    MANIFEST,
    Manifest,
    StoreError,
    bar_table,
    read_store,
    write_store,
)
from tests.recorded_stores import (
    DAYS,
    ITM_CALL,
    QUOTED,
    SURGE_VOLUME,
    UNDERLYING,
    UNQUOTED,
    VOL,
    stock_rows,
    write_tiny_store,
)

FIRST = DAYS[0]


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory) -> Path:
    return write_tiny_store(tmp_path_factory.mktemp("recorded") / "store")


@pytest.fixture
def market(store_dir) -> RecordedMarket:
    return RecordedMarket(read_store(store_dir))  # fresh counts for each test


def at(day: date, hour: int, minute: int, second: int = 0) -> datetime:
    """An instant of ``day``, New York time, in UTC."""
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=NEW_YORK).astimezone(
        UTC
    )


# -- the store ----------------------------------------------------------------------------


def test_the_store_reads_back_what_was_written(store_dir):
    store = read_store(store_dir)
    assert store.manifest.symbols == (UNDERLYING,)
    assert (store.manifest.start, store.manifest.end) == (date(2027, 4, 12), date(2027, 4, 14))
    assert store.manifest.feeds == {"stocks": "sip", "options": "opra"}
    bars = store.stock_bars[UNDERLYING]
    rows = stock_rows()
    assert len(bars) == len(rows) == 780
    assert bars.t[0] == rows[0]["timestamp"].timestamp()
    assert bars.columns["volume"].max() == SURGE_VOLUME
    np.testing.assert_array_equal(bars.columns["close"], [r["close"] for r in rows])
    options = store.option_bars[UNDERLYING]
    assert list(options.slices()) == sorted((*QUOTED, UNQUOTED))
    assert set(store.option_quotes[UNDERLYING].slices()) == set(QUOTED)
    assert store.open_interest[UNDERLYING][ITM_CALL] == 5_000


def test_the_layout_is_the_documented_one(store_dir):
    manifest = json.loads((store_dir / MANIFEST).read_text())
    assert set(manifest) == {"symbols", "start", "end", "feeds", "source", "written_at"}
    for kind in ("stocks/bars", "options/bars", "options/quotes"):
        assert (store_dir / kind / f"{UNDERLYING}.parquet").is_file()
    stock = pq.read_schema(store_dir / "stocks/bars/ACME.parquet")
    assert stock.names == [
        "timestamp", "open", "high", "low", "close", "volume", "trade_count", "vwap",
    ]  # fmt: skip
    assert stock.field("timestamp").type == pa.timestamp("us", tz="UTC")
    quotes = pq.read_schema(store_dir / "options/quotes/ACME.parquet")
    assert quotes.names == [
        "symbol", "timestamp", "bid_price", "ask_price", "bid_size", "ask_size",
    ]  # fmt: skip


def test_a_failed_write_leaves_nothing_behind(tmp_path):
    target = tmp_path / "store"
    manifest = Manifest((UNDERLYING,), FIRST, FIRST)
    with pytest.raises(AttributeError):
        write_store(target, manifest, {UNDERLYING: "not a table"}, {})  # type: ignore[dict-item]
    assert list(tmp_path.iterdir()) == []


def test_a_directory_that_is_not_a_store_is_never_overwritten(tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(StoreError, match="not a store"):
        write_store(tmp_path, Manifest((UNDERLYING,), FIRST, FIRST), {}, {})
    assert (tmp_path / "mine.txt").read_text() == "keep me"


def test_a_store_is_replaced_whole(tmp_path, store_dir):
    target = tmp_path / "store"
    rows = stock_rows()[:3]
    for n in (3, 2):
        write_store(
            target,
            Manifest((UNDERLYING,), FIRST, FIRST),
            {UNDERLYING: bar_table(rows[:n], keyed=False)},
            {},
        )
    assert len(read_store(target).stock_bars[UNDERLYING]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]  # no staging left


@pytest.mark.parametrize(
    ("spoil", "said"),
    [
        (lambda d: (d / MANIFEST).unlink(), "no manifest"),
        (lambda d: (d / MANIFEST).write_text("{"), "cannot be read"),
        (lambda d: (d / MANIFEST).write_text('{"symbols": ["acme"], "start": "2027-04-12",'
                                             ' "end": "2027-04-12"}'), "1-5 capital letters"),
        (lambda d: (d / MANIFEST).write_text('{"symbols": ["ACME"], "start": "2027-04-12"}'),
         "not a store manifest"),
        (lambda d: (d / "stocks/bars/ACME.parquet").unlink(), "missing (the manifest lists ACME)"),
        (lambda d: (d / "stocks/bars/ACME.parquet").write_text("text"), "not a Parquet file"),
        (lambda d: pq.write_table(pa.table({"timestamp": [1]}), d / "stocks/bars/ACME.parquet"),
         "missing column(s) open"),
    ],
)  # fmt: skip
def test_a_malformed_store_is_one_line_naming_the_file(tmp_path, store_dir, spoil, said):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(store_dir, copy)
    spoil(copy)
    with pytest.raises(StoreError) as refused:
        read_store(copy)
    assert said in str(refused.value)
    assert "\n" not in str(refused.value)


def test_a_missing_directory_is_said(tmp_path):
    with pytest.raises(StoreError, match="no such directory"):
        read_store(tmp_path / "nowhere")


# -- the replay ---------------------------------------------------------------------------


def test_both_markets_offer_what_the_emulator_asks():
    wanted = {n for n, _ in inspect.getmembers(MarketModel) if not n.startswith("_")}
    wanted |= set(MarketModel.__annotations__)
    for model in (Market, RecordedMarket):
        missing = {n for n in wanted if not hasattr(model, n) and n != "symbols"}
        assert not missing, (model.__name__, missing)


def test_the_price_is_the_last_bar_that_had_ended(market):
    # The 9:59 bar (the surge's last, closing at 104) is known from 10:00, not before.
    assert market.spot(UNDERLYING, at(FIRST, 9, 59, 30)) == 103.4
    assert market.spot(UNDERLYING, at(FIRST, 10, 0)) == 104.0
    trade = market.latest_trade(UNDERLYING, at(FIRST, 10, 0))
    assert (trade.t, trade.price, trade.size) == (at(FIRST, 10, 0), 104.0, SURGE_VOLUME)


def test_the_stock_quote_is_the_bar_close_on_both_sides(market):
    quote = market.stock_quote(UNDERLYING, at(FIRST, 10, 0, 20))
    assert (quote.bid, quote.ask) == (104.0, 104.0)  # zero spread: none was recorded
    assert quote.t == at(FIRST, 10, 0)  # the bar's end, so its age shows


def test_before_the_first_bar_the_price_is_its_open(market):
    trade = market.latest_trade(UNDERLYING, at(FIRST, 9, 0))
    assert (trade.t, trade.price) == (at(FIRST, 9, 30), 100.0)


def test_bars_are_the_completed_ones_in_the_window(market):
    bars = market.bars(UNDERLYING, at(FIRST, 9, 55), at(FIRST, 10, 0, 30))
    assert [b.t for b in bars] == [at(FIRST, 9, m) for m in range(55, 60)]
    assert bars[-1].v == SURGE_VOLUME


def test_the_chain_is_the_recorded_contracts_not_yet_expired(market):
    listed = [c.symbol for c in market.contracts(UNDERLYING, at(FIRST, 10, 0))]
    assert listed == sorted((*QUOTED, UNQUOTED))
    assert [c.symbol for c in market.contracts(UNDERLYING, at(DAYS[1], 10, 0))] == [UNQUOTED]
    expired = market.expired_contracts(UNDERLYING, at(DAYS[1], 10, 0))
    assert sorted(c.symbol for c in expired) == sorted(QUOTED)
    puts = market.contracts_where(UNDERLYING, at(FIRST, 10, 0), ChainQuery(right="put"))
    assert [c.symbol for c in puts] == ["ACME270412P00103000"]
    call = market.contracts(UNDERLYING, at(FIRST, 10, 0))[1]
    assert (call.symbol, call.strike, call.right, call.expiration) == (
        ITM_CALL, 103.0, "call", FIRST,
    )  # fmt: skip
    assert call.open_interest == 5_000


def test_option_quotes_come_only_from_the_record(market):
    t = at(FIRST, 10, 0, 30)
    snaps = market.option_snapshots(UNDERLYING, t)
    quoted = snaps[ITM_CALL]
    assert quoted.quote is not None
    assert quoted.quote.t == at(FIRST, 10, 0)
    assert quoted.quote.ask - quoted.quote.bid == pytest.approx(0.10)
    unquoted = snaps[UNQUOTED]
    assert unquoted.quote is None
    assert unquoted.trade is not None  # it traded: its bars say so
    assert "latestQuote" not in render.snapshot(unquoted)
    assert "latestQuote" in render.snapshot(quoted)
    assert market.quote(UNQUOTED, t) is None
    assert market.quote(ITM_CALL, t) == quoted.quote


def test_each_contract_minute_without_a_quote_is_counted_once(market):
    t = at(FIRST, 10, 0, 5)
    market.option_snapshots(UNDERLYING, t)
    market.option_snapshot(UNQUOTED, t + timedelta(seconds=30))  # the same minute
    assert (market.missing_quotes, market.shown_contract_minutes) == (1, 5)
    market.option_snapshots(UNDERLYING, t + timedelta(minutes=1), [UNQUOTED])
    assert market.missing_quotes == 2


def test_greeks_and_iv_are_backed_out_of_the_quote(market):
    snap = market.option_snapshot(ITM_CALL, at(FIRST, 11, 0))
    assert snap.implied_vol == pytest.approx(VOL, abs=0.05)  # the quotes' own volatility
    assert 0.5 < snap.greeks.delta < 1
    assert snap.greeks.theta < 0
    # Without a quote, from the last trade.
    bare = market.option_snapshot(UNQUOTED, at(FIRST, 11, 0))
    assert bare.implied_vol == pytest.approx(VOL, abs=0.05)


def test_the_daily_bar_sums_the_day_to_the_latest_minute(market):
    snap = market.option_snapshot(ITM_CALL, at(FIRST, 10, 0))
    assert snap.daily_bar.v == 30 * 10  # thirty minutes of ten contracts
    assert snap.minute_bar.t == at(FIRST, 9, 59)


def test_settlement_is_the_recorded_close_of_the_expiration_day(market):
    assert market.settlement_price(UNDERLYING, FIRST) == 104.0


def test_days_without_data_are_listed_not_made(market):
    assert market.missing_days == (date(2027, 4, 14),)
    assert market.last_day == date(2027, 4, 14)
    assert market.covers(datetime(2027, 4, 14, 20, tzinfo=UTC))
    assert not market.covers(datetime(2027, 4, 15, 14, tzinfo=UTC))
    # On the missing day the price holds at the last close.
    assert market.spot(UNDERLYING, at(date(2027, 4, 14), 11, 0)) == 104.0
