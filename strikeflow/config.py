"""Settings from the environment (prefix STRIKEFLOW_), read when asked for, never at import."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from strikeflow.domain.watchlist import DEFAULT_WATCHLIST

DEFAULT_DATABASE_URL = "sqlite:///./strikeflow.db"
# The ticker shape the records accept (domain.records.TICKER), kept here too: config
# imports only the domain's constants-only watchlist module, never its logic (numpy,
# scipy), so reading the settings stays quick.
WATCHLIST_TICKER = re.compile(r"[A-Z][A-Z0-9.\-/]{0,15}")
MAX_WATCHLIST = 2_000

# Alpaca's trading hosts (paper and live): no market data is served there.
ALPACA_TRADING_HOSTS = frozenset({"paper-api.alpaca.markets", "api.alpaca.markets"})


def read_by(*processes: str) -> dict[str, Any]:
    """The processes a setting changes, for docs/configuration.md (``config_doc``)."""
    return {"read_by": list(processes)}


# Who reads what: "workers: <queue>" names the queue whose tasks act on a setting (every
# worker process builds the same runtime at start-up, so a malformed value stops any of
# them); "cli: <command>" the commands; "beat", "flower"; "demo" for settings the demo
# takes from the environment instead of fixing them itself.
ALL_QUEUES = "workers: every queue"
RUNTIME_CLI = "cli: recover"


class Settings(BaseSettings):
    """Every STRIKEFLOW_ setting: its default, what it means, and who reads it.

    docs/configuration.md is generated from these fields (``python -m
    strikeflow.config_doc``), so a field without a description fails a test.
    """

    model_config = SettingsConfigDict(env_prefix="STRIKEFLOW_", frozen=True)

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        description=(
            "The SQLAlchemy URL of the database that holds recommendations and executions,"
            " e.g. `postgresql+psycopg2://postgres@127.0.0.1/strikeflow`; a `sqlite:///` file"
            " serves one process. Migrate it first with `strikeflow db upgrade`."
        ),
        json_schema_extra=read_by(
            ALL_QUEUES,
            "cli: db, signal, executions, positions, report (unless `--db`), recover",
            "demo (with STRIKEFLOW_BROKER_URL also set; else its own SQLite file)",
        ),
    )

    # Redis: Celery's broker and results, and the app's own state, on their own db numbers.
    broker_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        description=(
            "Celery's broker: the Redis the chains' messages travel through."
            " Every worker, beat, Flower and each sender must name the same one."
        ),
        json_schema_extra=read_by(
            ALL_QUEUES,
            "beat",
            "flower",
            "cli: signal, recover",
            "demo (with STRIKEFLOW_DATABASE_URL also set; else in-process `memory://`)",
        ),
    )
    result_backend: str = Field(
        default="redis://127.0.0.1:6379/1",
        description=(
            "Celery's result store (a chain's last step keeps its result there for a day)."
            " Outcomes themselves are read from the database, not from here."
        ),
        json_schema_extra=read_by(ALL_QUEUES, "demo (with an external broker and database)"),
    )
    redis_url: str = Field(
        default="redis://127.0.0.1:6379/2",
        description=(
            "The app's own Redis state, apart from Celery's keys: the kill switch, the"
            " scans' per-minute claims and cool-downs, and beat's schedule and lock"
            " (celery-redbeat). An unreadable kill switch counts as on."
        ),
        json_schema_extra=read_by(
            "workers: dispatch and orders (kill switch), signals (scan claims)",
            "beat",
            "cli: killswitch, recover",
            "demo (with an external broker and database)",
        ),
    )
    clock: Literal["wall", "market"] = Field(
        default="wall",
        description=(
            'What "now" is for quote freshness, days to expiry, the day-trade cut-off and'
            " the records' timestamps: `wall` (this host's clock) or `market` (the venue's"
            " `/v2/clock`, which is the emulator's simulated time when it runs one)."
        ),
        json_schema_extra=read_by(ALL_QUEUES, RUNTIME_CLI),
    )
    clock_ttl_s: float = Field(
        default=1.0,
        ge=0.0,
        le=60.0,
        description=(
            "With `clock=market`: how old a reading of the venue's clock may be before"
            " it is read again (seconds). 0 reads it on every use: for a fleet that a"
            " backtest drives, whose simulated time jumps between steps."
        ),
        json_schema_extra=read_by(ALL_QUEUES, RUNTIME_CLI),
    )

    # Alpaca. The keys are SecretStr: masked in repr, str and logs.
    alpaca_api_key: SecretStr | None = Field(
        default=None,
        description=(
            "The Alpaca API key id (with the emulator: the key it was started with)."
            " A secret: masked in repr, logs and error messages. Workers refuse to start"
            " without both keys."
        ),
        json_schema_extra=read_by(ALL_QUEUES, RUNTIME_CLI),
    )
    alpaca_secret_key: SecretStr | None = Field(
        default=None,
        description="The Alpaca secret key; a secret, like the key id.",
        json_schema_extra=read_by(ALL_QUEUES, RUNTIME_CLI),
    )
    alpaca_paper: bool = Field(
        default=True,
        description=(
            "`true`: Alpaca's paper endpoints, and executions marked PAPER. `false` trades"
            " live money: executions are marked LIVE and a venue failure is never answered"
            " with a simulated fill, whatever STRIKEFLOW_ON_BROKER_FAILURE says."
        ),
        json_schema_extra=read_by(ALL_QUEUES, RUNTIME_CLI),
    )
    alpaca_base_url: str | None = Field(
        default=None,
        description=(
            "One URL for trading and market data at once: the emulator's, e.g."
            " `http://127.0.0.1:8765`. Alpaca serves the two from different hosts: for"
            " Alpaca itself leave this unset (or set the two URLs below). Alpaca's trading"
            " host here is refused, since market data would go to it and get 404."
        ),
        json_schema_extra=read_by(ALL_QUEUES, RUNTIME_CLI),
    )
    alpaca_trading_url: str | None = Field(
        default=None,
        description=(
            "The trading API (account, orders, positions, contracts). Unset: the"
            " STRIKEFLOW_ALPACA_BASE_URL if set, else Alpaca's paper host"
            " `https://paper-api.alpaca.markets` or, with STRIKEFLOW_ALPACA_PAPER=false,"
            " the live host `https://api.alpaca.markets`."
        ),
        json_schema_extra=read_by(ALL_QUEUES, RUNTIME_CLI),
    )
    alpaca_data_url: str | None = Field(
        default=None,
        description=(
            "The market data API (bars, quotes, option snapshots). Unset: the"
            " STRIKEFLOW_ALPACA_BASE_URL if set, else `https://data.alpaca.markets`."
            " Alpaca's trading hosts are refused here."
        ),
        json_schema_extra=read_by(ALL_QUEUES, RUNTIME_CLI),
    )
    alpaca_connect_timeout_s: float = Field(
        default=3.05,
        gt=0,
        le=60,
        description="Seconds to connect, on every HTTP call to the venue.",
        json_schema_extra=read_by(ALL_QUEUES, RUNTIME_CLI, "demo"),
    )
    alpaca_read_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=120,
        description=(
            "Seconds to wait for an answer, on every HTTP call to the venue; the tasks'"
            " time limits are set above connect + read."
        ),
        json_schema_extra=read_by(ALL_QUEUES, RUNTIME_CLI, "demo"),
    )
    alpaca_options_feed: Literal["indicative", "opra"] = Field(
        default="indicative",
        description=(
            "The options data feed asked for: `indicative` (free) or `opra` (a market data"
            " subscription)."
        ),
        json_schema_extra=read_by("workers: marketdata (fetch_chain, snapshot_price)", "demo"),
    )
    alpaca_stock_feed: Literal["iex", "sip"] = Field(
        default="iex",
        description=(
            "The stock data feed sent with every bars and quote request: `iex` (any plan,"
            " the free Basic one included) or `sip` (all US exchanges, for subscribers to"
            " Algo Trader Plus). Alpaca's own default for bars is SIP, whose latest 15"
            " minutes a Basic plan may not query: every scan would be refused."
        ),
        json_schema_extra=read_by(ALL_QUEUES, RUNTIME_CLI, "demo"),
    )
    # The rate-limit governor (broker_adapters.alpaca.rate_limit): one budget per API key,
    # shared by the fleet through STRIKEFLOW_REDIS_URL.
    alpaca_trading_rate_limit: int | None = Field(
        default=None,
        ge=0,
        le=100_000,
        description=(
            "Trading API calls the venue allows this API key a window, the whole fleet"
            " together; the governor plans for this less STRIKEFLOW_ALPACA_RATE_MARGIN."
            " Unset: Alpaca's 200 a minute against Alpaca, none of our own against another"
            " venue (the emulator). 0: none of our own; the venue's X-RateLimit headers"
            " and 429s are obeyed whatever this says."
        ),
        json_schema_extra=read_by(ALL_QUEUES, RUNTIME_CLI, "demo"),
    )
    alpaca_data_rate_limit: int | None = Field(
        default=None,
        ge=0,
        le=100_000,
        description=(
            "Market data calls the data plan allows a window, the whole fleet together."
            " Unset: the Basic plan's 200 a minute against Alpaca (set 10000 for Algo"
            " Trader Plus), none of our own against another venue. 0: none of our own."
        ),
        json_schema_extra=read_by(ALL_QUEUES, RUNTIME_CLI, "demo"),
    )
    alpaca_rate_window_s: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description=(
            "The venue's rate-limit window in seconds, which both limits above count over:"
            " Alpaca's is a minute. Shorter only against an emulator whose limits are"
            " scaled down with it."
        ),
        json_schema_extra=read_by(ALL_QUEUES, RUNTIME_CLI, "demo"),
    )
    alpaca_rate_margin: float = Field(
        default=0.1,
        gt=0,
        lt=1,
        description=(
            "The share of each rate limit kept in hand: the governor refills at limit x"
            " (1 - margin) a window and allows bursts of limit x margin, so no window"
            " carries more than the limit."
        ),
        json_schema_extra=read_by(ALL_QUEUES, RUNTIME_CLI, "demo"),
    )
    alpaca_order_reserve: float = Field(
        default=0.5,
        ge=0,
        lt=1,
        description=(
            "The share of each budget's burst that only order submits, cancels and replaces"
            " may spend: reads and reconciliation wait first, orders go ahead."
        ),
        json_schema_extra=read_by(ALL_QUEUES, RUNTIME_CLI, "demo"),
    )
    alpaca_rate_max_wait_s: float = Field(
        default=20.0,
        gt=0,
        le=60,
        description=(
            "The longest one call waits for its budget or for the venue's reset after a 429"
            " before it fails as transient (its task retries it later); below the tasks'"
            " time limits."
        ),
        json_schema_extra=read_by(ALL_QUEUES, RUNTIME_CLI, "demo"),
    )
    option_order_pricing: Literal["marketable_limit", "limit_at_mid", "market", "worked"] = Field(
        default="worked",
        description=(
            "How an option order is priced: `worked` (an option entry, or the close of"
            " one, starts at its working policy's first price, the rules file's"
            " [working]: entry, exit, or urgent_exit for a stop or a clock exit near the"
            " close; it is re-priced by replacing it step by step toward the far side,"
            " then canceled or, for an exit, sold at the fresh bid: about half the"
            " half-spread kept, see docs/performance.md), `marketable_limit` (a limit at"
            " mid + STRIKEFLOW_OPTION_SPREAD_FRACTION x spread, on the option tick: the"
            " ask by default), `limit_at_mid`, or `market`."
        ),
        json_schema_extra=read_by(ALL_QUEUES, RUNTIME_CLI, "demo"),
    )
    work_timer: Literal["countdown", "parked"] = Field(
        default="countdown",
        description=(
            "How a worked option order's next step waits: `countdown` (a Celery countdown"
            " of wall-clock seconds) or `parked` (kept where the app's state is, due at an"
            " instant of the venue's clock, and sent by whoever moves that clock:"
            " `strikeflow backtest`, whose simulated time jumps)."
        ),
        json_schema_extra=read_by("workers: persistence (persist_execution), orders (work_order)"),
    )
    off_hours: Literal["refuse", "queue"] = Field(
        default="refuse",
        description=(
            "An order (opening or closing) dispatched while the market is closed: `refuse`"
            " (the recommendation is rejected, the reason naming the next open) or `queue`"
            " (the order is sent; the venue holds a day order until the open, and options"
            " trade in regular hours only)."
        ),
        json_schema_extra=read_by(ALL_QUEUES, RUNTIME_CLI, "demo"),
    )
    option_spread_fraction: Decimal = Field(
        default=Decimal("0.5"),
        ge=0,
        le=1,
        description=(
            "For `marketable_limit`: a buy's limit at mid + this fraction of the spread"
            " (1: the ask), a sell's symmetrically below mid."
        ),
        json_schema_extra=read_by(ALL_QUEUES, RUNTIME_CLI, "demo"),
    )
    on_broker_failure: Literal["simulate", "reject"] = Field(
        default="simulate",
        description=(
            "When the venue stays unreachable after submit_order's last retry: `simulate`"
            " (an in-process fill, recorded with execution_mode SIMULATED and the reason) or"
            " `reject` (the recommendation ends failed). Live trading never simulates."
        ),
        json_schema_extra=read_by("workers: orders (submit_order)", RUNTIME_CLI),
    )
    retry_deadline_s: float = Field(
        default=60.0,
        ge=2,
        le=120,
        description=(
            "How long a step keeps retrying an unreachable database, venue or broker,"
            " counted from its first failure: waits of 1, 2, 4, 8, then 10 s (each at least"
            " half that), the last try at the deadline; then the step ends failed and the"
            " failure is recorded (submit_order: STRIKEFLOW_ON_BROKER_FAILURE applies). The"
            " default rides out an outage of 30 s with 30 s to spare; shorter ones do not."
            " At most 120 s, far below the broker's 600 s visibility timeout."
        ),
        json_schema_extra=read_by(ALL_QUEUES),
    )
    retry_floor_s: float = Field(
        default=0.5,
        gt=0,
        le=2,
        description=(
            "The shortest wait between two tries of a step (see STRIKEFLOW_RETRY_DEADLINE_S):"
            " a burst of failures never retries at once."
        ),
        json_schema_extra=read_by(ALL_QUEUES),
    )

    # Pre-trade risk limits (size_position); each breach is a rejection with its reason.
    risk_max_open_positions: int = Field(
        default=20,
        ge=0,
        le=1_000_000,
        description="Open positions at most; an entry beyond it is rejected. 0 turns it off.",
        json_schema_extra=read_by("workers: dispatch (size_position)", "demo"),
    )
    risk_max_daily_realized_loss: Decimal = Field(
        default=Decimal("5000"),
        ge=0,
        description=(
            "Dollars of realized loss in the New York trading day after which new entries"
            " are rejected. 0 turns it off."
        ),
        json_schema_extra=read_by("workers: dispatch (size_position)", "demo"),
    )
    risk_max_exposure_per_ticker: Decimal = Field(
        default=Decimal("25000"),
        ge=0,
        description=(
            "Dollars at most in open positions on one underlying, this order included."
            " 0 turns it off."
        ),
        json_schema_extra=read_by("workers: dispatch (size_position)", "demo"),
    )
    risk_day_trade_cutoff: str | None = Field(
        default="15:10",
        pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
        description=(
            "No new day trade after this New York time (HH:MM). Empty or `none` turns it off."
            " The default comes before 15:15, when Alpaca stops taking orders in contracts"
            " that expire today (15:30 for broad-based ETFs such as SPY and QQQ); past those,"
            " contract selection passes over today's expiry whatever this is set to."
        ),
        json_schema_extra=read_by("workers: dispatch (size_position)", "demo"),
    )
    risk_max_net_delta: Decimal = Field(
        default=Decimal(0),
        ge=0,
        description=(
            "The open option positions' net delta at most, in shares (delta x contracts x"
            " 100); an entry that takes it beyond is rejected. 0 turns it off."
        ),
        json_schema_extra=read_by("workers: dispatch (size_position)", "demo"),
    )
    risk_max_net_vega: Decimal = Field(
        default=Decimal(0),
        ge=0,
        description=(
            "The open option positions' net vega at most, in dollars per vol point (vega x"
            " contracts x 100); an entry that takes it beyond is rejected. 0 turns it off."
        ),
        json_schema_extra=read_by("workers: dispatch (size_position)", "demo"),
    )

    # Scans: beat sends strikeflow.scan to the signals queue.
    watchlist: Annotated[tuple[str, ...], NoDecode] = Field(
        default=DEFAULT_WATCHLIST,
        description=(
            "The tickers each scan evaluates, comma-separated (`SPY,QQQ,AAPL`); upper-cased,"
            " checked, duplicates dropped. The demo takes `--watchlist` instead."
        ),
        json_schema_extra=read_by("workers: signals (scan)"),
    )
    rules_file: Path | None = Field(
        default=None,
        description=(
            "A TOML file of signal rules over the packaged"
            " `strikeflow/signals/default_rules.toml` (thresholds, confidence model,"
            " cool-down, `stock.allow_short`). Loaded when a worker starts: an invalid file"
            " stops it, naming the key."
        ),
        json_schema_extra=read_by(
            "workers: signals (scan), dispatch (stock.allow_short)", RUNTIME_CLI, "demo"
        ),
    )
    scan_every_s: float | None = Field(
        default=None,
        gt=0,
        le=3600,
        description=(
            "Unset: beat sends scans on New York market-hours crontabs (weekdays,"
            " 09:31-15:59). Set: every this many wall seconds instead, for an emulator in"
            " simulated time, whose clock runs faster than the wall's."
        ),
        json_schema_extra=read_by("beat"),
    )
    scan_every_min: int = Field(
        default=1,
        ge=1,
        le=30,
        description="The crontab scans' step in minutes (1: every minute from 09:31 to 15:59).",
        json_schema_extra=read_by("beat"),
    )
    reconcile_every_s: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description=(
            "How often beat sends reconcile_orders, which records the fills of accepted"
            " orders: fills in the database are at most this old."
        ),
        json_schema_extra=read_by("beat"),
    )
    stuck_after_s: float = Field(
        default=180.0,
        ge=1,
        le=3600,
        description=(
            "A recommendation still pending or dispatched this many seconds after its"
            " last send is re-driven by the stuck sweep (beat, and every worker at start):"
            " its chain was lost (a broker restart, a cancelled step). A re-drive is"
            " harmless to a chain still running (the client_order_id); shorter only costs"
            " duplicate work. Beat sweeps every third of it (5-60 s)."
        ),
        json_schema_extra=read_by("beat", "workers: persistence (sweep_stuck)"),
    )
    entry_max_rest_s: float = Field(
        default=300.0,
        gt=0,
        le=23_400,
        description=(
            "How long an entry order may rest at the venue unfilled before"
            " cancel_stale_entries cancels it (a 0DTE option entry no later than the"
            " day-trade cut-off either)."
        ),
        json_schema_extra=read_by("workers: persistence (cancel_stale_entries)"),
    )
    close_fee_per_contract: Decimal = Field(
        default=Decimal(0),
        ge=0,
        le=100,
        description=(
            "Fees charged per option contract closed (regulatory and exchange fees):"
            " subtracted from a close's realized P&L. Stock closes pay none."
        ),
        json_schema_extra=read_by(
            "workers: dispatch (quote_close), persistence (recover, sweep_stuck)",
            "cli: recover",
        ),
    )

    # Message signing (workers/signing.py): all three or none.
    signing_key: Path | None = Field(
        default=None,
        description=(
            "This process's RSA private key (PEM, unencrypted, readable by its user only):"
            " with STRIKEFLOW_SIGNING_CERT and STRIKEFLOW_SIGNING_CERT_STORE, every task and"
            " control message is signed, and only signed ones are run. Unset: no signing."
        ),
        json_schema_extra=read_by(ALL_QUEUES, "beat", "flower", "cli: signal, close, recover"),
    )
    signing_cert: Path | None = Field(
        default=None,
        description=(
            "The X.509 certificate (PEM) of STRIKEFLOW_SIGNING_KEY; it must be in"
            " STRIKEFLOW_SIGNING_CERT_STORE."
        ),
        json_schema_extra=read_by(ALL_QUEUES, "beat", "flower", "cli: signal, close, recover"),
    )
    signing_cert_store: Path | None = Field(
        default=None,
        description=(
            "A directory of the certificates (PEM, one a file, nothing else in it) whose"
            " messages this process runs: every sender's, this one's included."
        ),
        json_schema_extra=read_by(ALL_QUEUES, "beat", "flower", "cli: signal, close, recover"),
    )

    @field_validator("alpaca_base_url", "alpaca_data_url")
    @classmethod
    def _no_trading_host_for_data(cls, value: str | None) -> str | None:
        """Market data must not go to a trading host: every data call would be a 404."""
        if value is not None and urlsplit(value).hostname in ALPACA_TRADING_HOSTS:
            raise ValueError(
                f"{value} is Alpaca's trading host, which serves no market data; set"
                " STRIKEFLOW_ALPACA_TRADING_URL for it and leave the data URL to Alpaca's"
                " https://data.alpaca.markets (STRIKEFLOW_ALPACA_BASE_URL is for the"
                " emulator, which serves both)"
            )
        return None if value is None else value.rstrip("/")

    @field_validator("alpaca_trading_url")
    @classmethod
    def _no_trailing_slash(cls, value: str | None) -> str | None:
        return None if value is None else value.rstrip("/")

    @field_validator("watchlist", mode="before")
    @classmethod
    def _split_watchlist(cls, value: object) -> object:
        """'spy, QQQ ,aapl' → ('SPY', 'QQQ', 'AAPL'); every ticker checked, none twice."""
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list | tuple) or not value:
            raise ValueError("give at least one ticker, comma-separated (e.g. SPY,QQQ,AAPL)")
        tickers = [t.upper() if isinstance(t, str) else t for t in value]
        bad = [t for t in tickers if not isinstance(t, str) or not WATCHLIST_TICKER.fullmatch(t)]
        if bad:
            raise ValueError(f"not ticker symbols: {', '.join(map(repr, bad[:10]))}")
        if len(tickers) > MAX_WATCHLIST:
            raise ValueError(f"at most {MAX_WATCHLIST} tickers, got {len(tickers)}")
        return tuple(dict.fromkeys(tickers))

    @field_validator("risk_day_trade_cutoff", mode="before")
    @classmethod
    def _blank_cutoff_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and value.strip().lower() in ("", "none") else value

    @field_validator("rules_file", mode="before")
    @classmethod
    def _blank_rules_file_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("signing_key", "signing_cert", "signing_cert_store", mode="before")
    @classmethod
    def _blank_signing_path_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _signing_all_or_none(self) -> Settings:
        """The three signing settings together or none, each path there (the files
        themselves are read when the Celery configuration is built)."""
        problem = signing_settings_problem(
            self.signing_key, self.signing_cert, self.signing_cert_store
        )
        if problem is not None:
            raise ValueError(problem)
        return self


REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def is_redis_url(url: str) -> bool:
    """A Redis the fleet shares (not memory://, which lives in one process)."""
    return url.startswith(REDIS_SCHEMES)


def signing_settings_problem(key: object, cert: object, store: object) -> str | None:
    """What is wrong with the three message-signing settings without opening a file (all
    or none; the key and the certificate files, the store a directory), or None."""
    values = {
        "STRIKEFLOW_SIGNING_KEY": key,
        "STRIKEFLOW_SIGNING_CERT": cert,
        "STRIKEFLOW_SIGNING_CERT_STORE": store,
    }
    given = {name: str(value) for name, value in values.items() if value not in (None, "")}
    if not given:
        return None
    if len(given) < len(values):
        missing = " and ".join(name for name in values if name not in given)
        return (
            f"{missing} not set: message signing needs STRIKEFLOW_SIGNING_KEY,"
            " STRIKEFLOW_SIGNING_CERT and STRIKEFLOW_SIGNING_CERT_STORE together (or none of"
            " them)"
        )
    for name in ("STRIKEFLOW_SIGNING_KEY", "STRIKEFLOW_SIGNING_CERT"):
        if not Path(given[name]).is_file():
            return f"{name}={given[name]!r}: no such file"
    store_dir = given["STRIKEFLOW_SIGNING_CERT_STORE"]
    if not Path(store_dir).is_dir():
        return f"STRIKEFLOW_SIGNING_CERT_STORE={store_dir!r}: not a directory of certificates"
    return None
