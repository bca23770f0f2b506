"""``strikeflow data fetch`` as a user runs it, against the emulator over HTTP: alpaca-py's
clients, the governed session and Alpaca's paging all in the path. What the store holds is
checked against the emulator's own market (same seed, same prices), and the store then
replays; bad input and a failed fetch leave nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pytest

from strikeflow.domain.expiry import NEW_YORK
from strikeflow.sim.market import ChainQuery, Market
from strikeflow.sim.recorded_market import RecordedMarket
from strikeflow.sim.recorded_store import read_store
from strikeflow.sim.serve import EmulatorOptions, running_emulator
from tests.integration.emulator import KEY, SECRET

SEED = 42
SYMBOLS = ("AAPL", "SPY")
NOW = datetime(2026, 11, 20, 17, 0, tzinfo=NEW_YORK)  # Friday, after the close
FIRST, LAST = date(2026, 11, 19), date(2026, 11, 20)
WINDOW = (datetime(2026, 11, 19, 0, 0, tzinfo=NEW_YORK), datetime(2026, 11, 21, tzinfo=NEW_YORK))


@pytest.fixture(scope="module")
def emulator_url():
    options = EmulatorOptions(seed=SEED, symbols=SYMBOLS, start=NOW, api_key=KEY, secret_key=SECRET)
    with running_emulator(options) as url:
        yield url


def fetch(cwd: Path, url: str | None, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRIKEFLOW_")}
    if url is not None:
        env.update(
            STRIKEFLOW_ALPACA_API_KEY=KEY,
            STRIKEFLOW_ALPACA_SECRET_KEY=SECRET,
            STRIKEFLOW_ALPACA_BASE_URL=url,
            STRIKEFLOW_REDIS_URL="memory://",
        )
    return subprocess.run(
        [sys.executable, "-m", "strikeflow", "data", "fetch", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
    )


@pytest.fixture(scope="module")
def fetched(emulator_url, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    base = tmp_path_factory.mktemp("fetch")
    out = base / "store"
    done = fetch(
        base, emulator_url, "--symbols", ",".join(SYMBOLS), "--start", str(FIRST),
        "--end", str(LAST), "--dte-max", "0", "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    return out, done


@pytest.fixture(scope="module")
def market() -> Market:
    return Market(SEED, list(SYMBOLS), NOW)


def test_the_stock_bars_are_the_venues_minute_for_minute(fetched, market):
    out, _ = fetched
    store = read_store(out)
    assert store.manifest.symbols == SYMBOLS
    assert (store.manifest.start, store.manifest.end) == (FIRST, LAST)
    assert store.manifest.feeds["stocks"] == "iex"
    for symbol in SYMBOLS:
        expected = market.bars(symbol, *WINDOW)
        got = store.stock_bars[symbol]
        assert len(got) == len(expected) == 2 * 390
        np.testing.assert_array_equal(got.t, [b.t.timestamp() for b in expected])
        np.testing.assert_array_equal(got.columns["close"], [b.c for b in expected])
        np.testing.assert_array_equal(got.columns["volume"], [b.v for b in expected])


def test_expired_contracts_and_their_bars_are_recorded(fetched, market):
    out, done = fetched
    store = read_store(out)
    query = ChainQuery(expiration_gte=FIRST, expiration_lte=LAST)
    for symbol in SYMBOLS:
        listed = {c.symbol for c in market.expired_contracts(symbol, NOW, query)}
        assert listed  # SPY expires daily, AAPL on Friday
        assert set(store.open_interest[symbol]) == listed
        traded = store.option_bars[symbol].slices()
        assert set(traded) <= listed
        name = sorted(traded)[len(traded) // 2]
        lo, hi = traded[name]
        expected = market.option_bars(name, *WINDOW)
        assert hi - lo == len(expected)
        np.testing.assert_array_equal(
            store.option_bars[symbol].columns["close"][lo:hi], [b.c for b in expected]
        )
    assert store.option_quotes == {}  # Alpaca serves no historical option quotes
    assert "no option quotes" in done.stdout


def test_the_store_replays_without_inventing_quotes(fetched):
    out, _ = fetched
    replay = RecordedMarket(read_store(out))
    at = datetime(2026, 11, 20, 11, 0, tzinfo=NEW_YORK)
    chain = replay.option_snapshots("AAPL", at)
    assert chain
    assert all(s.quote is None for s in chain.values())
    assert replay.missing_quotes == len(chain)
    assert replay.settlement_price("AAPL", LAST) == replay.spot(
        "AAPL", datetime(2026, 11, 20, 16, 0, tzinfo=NEW_YORK)
    )


def test_a_failed_fetch_writes_nothing(emulator_url, tmp_path):
    done = fetch(
        tmp_path, emulator_url, "--symbols", "ZZZZ", "--start", str(FIRST), "--end", str(LAST),
        "--out", str(tmp_path / "store"),
    )  # fmt: skip
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "ZZZZ" in done.stderr.strip().splitlines()[-1]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--start", "2026-11-20", "--end", "2026-11-19"), "--end 2026-11-19 precedes --start"),
        (("--start", "2026-11-19", "--end", "2026-11-20", "--dte-max", "-1"), "--dte-max"),
        (("--start", "2026-11-31", "--end", "2026-12-01"), "2026-11-31"),
        (("--start", "2025-01-02", "--end", "2026-11-20"), "spans more than 366 days"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, said):
    done = fetch(tmp_path, None, "--symbols", "AAPL", *args)
    assert done.returncode == 2
    assert said in done.stderr.strip().splitlines()[-1]
    assert "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_directory_that_is_not_a_store_is_refused(tmp_path, emulator_url):
    (tmp_path / "notes.txt").write_text("mine")
    done = fetch(
        tmp_path, emulator_url, "--symbols", "AAPL", "--start", str(FIRST), "--end", str(LAST),
        "--out", str(tmp_path),
    )  # fmt: skip
    assert done.returncode == 2
    assert "is not a store" in done.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_without_keys_it_says_which_settings_to_set(tmp_path):
    done = fetch(tmp_path, None, "--symbols", "AAPL", "--start", str(FIRST), "--end", str(LAST))
    assert done.returncode == 1
    assert "STRIKEFLOW_ALPACA_API_KEY" in done.stderr
    assert "Traceback" not in done.stderr


def test_alpaca_py_parses_the_emulators_option_bars_and_expired_contracts(emulator_url, market):
    from alpaca.data.historical.option import OptionHistoricalDataClient
    from alpaca.data.requests import OptionBarsRequest
    from alpaca.data.timeframe import TimeFrame
    from alpaca.trading.client import TradingClient
    from alpaca.trading.enums import AssetStatus
    from alpaca.trading.requests import GetOptionContractsRequest

    trading = TradingClient(KEY, SECRET, paper=True, url_override=emulator_url)
    listed = trading.get_option_contracts(
        GetOptionContractsRequest(
            underlying_symbols=["AAPL"], status=AssetStatus.INACTIVE,
            expiration_date_gte=LAST, expiration_date_lte=LAST,
        )
    )  # fmt: skip
    assert listed.option_contracts
    assert all(c.status == AssetStatus.INACTIVE and not c.tradable for c in listed.option_contracts)
    name = listed.option_contracts[0].symbol
    options = OptionHistoricalDataClient(KEY, SECRET, url_override=emulator_url)
    barset = options.get_option_bars(
        OptionBarsRequest(symbol_or_symbols=[name], timeframe=TimeFrame.Minute, start=WINDOW[0],
                          end=WINDOW[1], limit=None)
    )  # fmt: skip
    bars = barset.data[name]
    assert [b.close for b in bars] == [b.c for b in market.option_bars(name, *WINDOW)]
    assert all(b.timestamp.tzinfo is not None for b in bars)
