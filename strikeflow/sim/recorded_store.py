"""The layout of a store of recorded market data, and its reading and writing.

A store is a directory of Parquet files, one per symbol and kind, beside a manifest::

    DIR/manifest.json                        symbols, start, end, feeds, source, written_at
    DIR/stocks/bars/SYMBOL.parquet           timestamp, open, high, low, close, volume,
                                             trade_count, vwap
    DIR/options/bars/UNDERLYING.parquet      symbol (OCC), timestamp, open, high, low,
                                             close, volume, trade_count, vwap
    DIR/options/quotes/UNDERLYING.parquet    symbol, timestamp, bid_price, ask_price,
                                             bid_size, ask_size            (optional)
    DIR/options/contracts/UNDERLYING.parquet symbol, open_interest         (optional)

Timestamps are UTC instants, each bar's the start of its minute (alpaca-py's ``Bar``
field names throughout). This module is the only one that knows the layout: ``data
fetch`` writes through ``write_store`` and the replay reads through ``read_store``.

A replay reads each file once, into numpy arrays sorted by (symbol, timestamp), so that
"the last bar at or before t" is one ``searchsorted``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from strikeflow.sim.market import TICKER

MANIFEST = "manifest.json"
STOCK_BARS = Path("stocks", "bars")
OPTION_BARS = Path("options", "bars")
OPTION_QUOTES = Path("options", "quotes")
OPTION_CONTRACTS = Path("options", "contracts")
BAR_FIELDS = ("open", "high", "low", "close", "volume", "trade_count", "vwap")
QUOTE_FIELDS = ("bid_price", "ask_price", "bid_size", "ask_size")
STAMP = pa.timestamp("us", tz="UTC")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
FLOAT_FIELDS = ("open", "high", "low", "close", "vwap", "bid_price", "ask_price")


class StoreError(ValueError):
    """A store that is missing or malformed (one line for the user, naming the file)."""


@dataclass(frozen=True)
class Manifest:
    """What a store holds: its symbols and dates, and where it came from."""

    symbols: tuple[str, ...]
    start: date
    end: date
    feeds: Mapping[str, str] = field(default_factory=dict)
    source: str = ""
    written_at: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        written = self.written_at or datetime.now(UTC)
        return {
            "symbols": list(self.symbols),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "feeds": dict(self.feeds),
            "source": self.source,
            "written_at": written.astimezone(UTC).isoformat(),
        }

    @classmethod
    def from_json(cls, raw: Any, where: Path) -> Manifest:
        try:
            symbols = tuple(raw["symbols"])
            start, end = date.fromisoformat(raw["start"]), date.fromisoformat(raw["end"])
            written = raw.get("written_at")
            manifest = cls(
                symbols=symbols,
                start=start,
                end=end,
                feeds=dict(raw.get("feeds") or {}),
                source=str(raw.get("source") or ""),
                written_at=None if not written else datetime.fromisoformat(written),
            )
        except (KeyError, TypeError, ValueError) as bad:
            raise StoreError(f"{where}: not a store manifest ({bad})") from None
        if not symbols or any(not isinstance(s, str) or not TICKER.fullmatch(s) for s in symbols):
            raise StoreError(f"{where}: symbols must be 1-5 capital letters, got {symbols!r}")
        if end < start:
            raise StoreError(f"{where}: end {end} precedes start {start}")
        return manifest


@dataclass(frozen=True)
class Series:
    """Rows of one file, sorted by (symbol, timestamp): ``t`` in epoch seconds, one
    array per column; ``rows`` each symbol's [first, last) rows in a keyed (option)
    file, None in a stock's (one symbol)."""

    t: np.ndarray  # float64 epoch seconds
    columns: Mapping[str, np.ndarray]
    rows: Mapping[str, tuple[int, int]] | None = None

    def __len__(self) -> int:
        return int(self.t.size)

    def slices(self) -> dict[str, tuple[int, int]]:
        """Each symbol's [first, last) rows (empty for a stock's file)."""
        return dict(self.rows or {})


@dataclass(frozen=True)
class Store:
    """A store read whole: its manifest, and each file's rows by symbol or underlying."""

    root: Path
    manifest: Manifest
    stock_bars: Mapping[str, Series]
    option_bars: Mapping[str, Series]
    option_quotes: Mapping[str, Series]
    open_interest: Mapping[str, Mapping[str, int]] = field(default_factory=dict)


def read_store(root: Path) -> Store:
    """The store at ``root``; StoreError for a missing or malformed one."""
    root = Path(root)
    where = root / MANIFEST
    if not root.is_dir():
        raise StoreError(f"{root}: no such directory")
    try:
        raw = json.loads(where.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StoreError(f"{where}: no manifest (not a store written by data fetch)") from None
    except (OSError, ValueError) as bad:
        raise StoreError(f"{where}: cannot be read ({bad})") from None
    manifest = Manifest.from_json(raw, where)
    stocks = {}
    for symbol in manifest.symbols:
        path = root / STOCK_BARS / f"{symbol}.parquet"
        if not path.is_file():
            raise StoreError(f"{path}: missing (the manifest lists {symbol})")
        stocks[symbol] = _read(path, BAR_FIELDS, keyed=False)
    options, quotes = {}, {}
    for symbol in manifest.symbols:
        for folder, columns, out in (
            (OPTION_BARS, BAR_FIELDS, options),
            (OPTION_QUOTES, QUOTE_FIELDS, quotes),
        ):
            path = root / folder / f"{symbol}.parquet"
            if path.is_file():
                out[symbol] = _read(path, columns, keyed=True)
    interest = {}
    for symbol in manifest.symbols:
        path = root / OPTION_CONTRACTS / f"{symbol}.parquet"
        if path.is_file():
            interest[symbol] = _read_interest(path)
    return Store(root, manifest, stocks, options, quotes, interest)


def _read_interest(path: Path) -> dict[str, int]:
    try:
        table = pq.read_table(path, columns=["symbol", "open_interest"])
    except (OSError, pa.ArrowException) as bad:
        raise StoreError(f"{path}: not a listing of symbol and open_interest ({bad})") from None
    symbols = table.column("symbol").to_pylist()
    counts = table.column("open_interest").to_pylist()
    return {s: int(n or 0) for s, n in zip(symbols, counts, strict=True) if s}


def _read(path: Path, columns: tuple[str, ...], *, keyed: bool) -> Series:
    """One file as numpy arrays sorted by (symbol, timestamp); a keyed file's symbols
    become each one's rows."""
    wanted = (("symbol",) if keyed else ()) + ("timestamp",) + columns
    try:
        table = pq.read_table(path, columns=list(wanted))
    except (OSError, pa.ArrowException) as bad:
        names = _names(path)
        if names is None:
            raise StoreError(f"{path}: not a Parquet file ({bad})") from None
        missing = [c for c in wanted if c not in names]
        raise StoreError(f"{path}: missing column(s) {', '.join(missing)}") from None
    try:
        table = table.set_column(1 if keyed else 0, "timestamp", table["timestamp"].cast(STAMP))
    except pa.ArrowException:
        raise StoreError(f"{path}: timestamp is not a time") from None
    if table["timestamp"].null_count or (keyed and table["symbol"].null_count):
        raise StoreError(f"{path}: a row without its timestamp or symbol")
    t = table["timestamp"].to_numpy().astype("datetime64[us]").astype(np.int64) / 1e6
    cols = {}
    for c in columns:
        whole = c not in FLOAT_FIELDS
        try:
            values = table[c].cast(pa.int64() if whole else pa.float64())
        except pa.ArrowException:
            raise StoreError(f"{path}: {c} holds values that are not numbers") from None
        # A missing count is none counted; a missing price stays unknown (NaN).
        cols[c] = pc.fill_null(values, 0 if whole else float("nan")).to_numpy()
    if not keyed:
        order = np.argsort(t, kind="stable")
        return Series(t[order], {c: v[order] for c, v in cols.items()})
    # Symbols sorted as integer ranks of their dictionary (a few thousand names), not as
    # millions of strings.
    encoded = table["symbol"].combine_chunks().dictionary_encode()
    names = encoded.dictionary.to_pylist()
    rank = np.argsort(np.argsort(np.array(names, dtype=object)))
    key = rank[encoded.indices.to_numpy()] if len(names) else np.empty(0, np.int64)
    order = np.lexsort((t, key))
    key = key[order]
    starts = np.flatnonzero(np.diff(key, prepend=-1))
    ends = np.append(starts[1:], key.size)
    ordered = sorted(names)
    rows = {
        ordered[int(key[a])]: (int(a), int(b))
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True)
    }
    return Series(t[order], {c: v[order] for c, v in cols.items()}, rows)


def _names(path: Path) -> list[str] | None:
    """The file's column names; None when it is not Parquet at all."""
    try:
        return pq.read_schema(path).names
    except (OSError, pa.ArrowException):
        return None


# -- writing ------------------------------------------------------------------------------


def bar_table(rows: Iterable[Mapping[str, Any]], *, keyed: bool) -> pa.Table:
    """Bars (dicts with alpaca-py's field names, ``timestamp`` an aware datetime) as a
    table in the store's schema; ``keyed`` adds the option's OCC ``symbol`` first."""
    return _table(rows, BAR_FIELDS, keyed)


def quote_table(rows: Iterable[Mapping[str, Any]]) -> pa.Table:
    return _table(rows, QUOTE_FIELDS, True)


def contract_table(open_interest: Mapping[str, int]) -> pa.Table:
    """A listing's open interest by OCC symbol."""
    names = sorted(open_interest)
    return pa.Table.from_arrays(
        [
            pa.array(names, pa.string()),
            pa.array([int(open_interest[n]) for n in names], pa.int64()),
        ],
        names=["symbol", "open_interest"],
    )


def _table(rows: Iterable[Mapping[str, Any]], columns: tuple[str, ...], keyed: bool) -> pa.Table:
    rows = list(rows)
    types = {c: pa.float64() if c in FLOAT_FIELDS else pa.int64() for c in columns}
    fields = ([pa.field("symbol", pa.string())] if keyed else []) + [pa.field("timestamp", STAMP)]
    fields += [pa.field(c, types[c]) for c in columns]
    data = {f.name: [row.get(f.name) for row in rows] for f in fields}
    # As integer microseconds since the epoch: exact, whatever zone each datetime is in.
    micros = [(t - EPOCH) // MICROSECOND for t in data["timestamp"]]
    data["timestamp"] = pa.array(micros, pa.int64()).cast(STAMP)
    for c in columns:
        if types[c] == pa.int64():
            data[c] = [None if v is None else int(v) for v in data[c]]
    schema = pa.schema(fields)
    return pa.Table.from_arrays([pa.array(data[f.name], f.type) for f in fields], schema=schema)


def write_store(
    root: Path,
    manifest: Manifest,
    stock_bars: Mapping[str, pa.Table],
    option_bars: Mapping[str, pa.Table],
    option_quotes: Mapping[str, pa.Table] | None = None,
    contracts: Mapping[str, pa.Table] | None = None,
) -> None:
    """Writes the store into a fresh directory beside ``root`` and renames it into place
    at the end, so that a failure leaves no half-written store. An existing ``root``
    must be an empty directory or a store (which is then replaced)."""
    root = Path(root)
    if root.exists() and not (root / MANIFEST).is_file() and any(root.iterdir()):
        raise StoreError(f"{root}: exists and is not a store: refusing to overwrite it")
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
    try:
        for folder, tables in (
            (STOCK_BARS, stock_bars),
            (OPTION_BARS, option_bars),
            (OPTION_QUOTES, option_quotes or {}),
            (OPTION_CONTRACTS, contracts or {}),
        ):
            for name, table in tables.items():
                (staging / folder).mkdir(parents=True, exist_ok=True)
                pq.write_table(table, staging / folder / f"{name}.parquet")
        (staging / MANIFEST).write_text(
            json.dumps(manifest.as_json(), indent=2) + "\n", encoding="utf-8"
        )
        if root.exists():
            shutil.rmtree(root)
        os.replace(staging, root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
