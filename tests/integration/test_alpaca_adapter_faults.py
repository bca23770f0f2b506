"""AlpacaAdapter against a faulty venue: no order twice, every intent accounted for, no secret
anywhere.

The emulator fails 20% of requests with a 5xx, rate-limits 5%, answers 10% of committed
orders with a 500 or a dropped connection, and stalls some requests past the adapter's
read timeout. Each intent is submitted until the venue answers (same client_order_id each
time), as the dispatcher's task retries it.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal

import pytest

from strikeflow.broker_adapters.alpaca.adapter import AlpacaAdapter
from strikeflow.broker_adapters.alpaca.config import AlpacaConfig, Secret, Timeouts
from strikeflow.domain.enums import Action, ExecutionStatus, Right
from strikeflow.domain.errors import BrokerError, BrokerUnavailable, OrderRejected
from strikeflow.domain.market import ExpiryWindow
from strikeflow.domain.orders import BrokerOrder, OptionPricing, OrderIntent, client_order_id
from strikeflow.sim.serve import EmulatorOptions, running_emulator
from tests.integration.emulator import KEY, SECRET, START, EmulatorHandle

CHAOS = {
    "error_5xx": 0.20,
    "rate_limit": 0.05,
    "commit_then_fail": 0.10,
    "latency": 0.03,
    "latency_mean_ms": 400.0,
    "latency_max_ms": 800.0,
}
READ_TIMEOUT_S = 0.25  # below most latency spikes, so they become timeouts
INTENTS = 300
DOOMED = 10  # extra intents the venue must refuse (no buying power for them)
STOCKS = ("AAPL", "MSFT", "NVDA", "TSLA", "SPY", "QQQ")
D = Decimal


@pytest.fixture
def venue() -> Iterator[EmulatorHandle]:
    """An emulator with deep pockets (so only the doomed intents lack buying power),
    quiet until a test turns its faults on."""
    options = EmulatorOptions(
        seed=7, start=START, api_key=KEY, secret_key=SECRET, cash=5_000_000, fill_delay_s=1.0
    )
    with running_emulator(options) as url:
        yield EmulatorHandle(url)


def chaos_adapter(url: str, read_timeout_s: float = READ_TIMEOUT_S) -> AlpacaAdapter:
    config = AlpacaConfig(
        Secret(KEY), Secret(SECRET), base_url=url, timeouts=Timeouts(1.0, read_timeout_s)
    )
    return AlpacaAdapter(config)


def intents_for(adapter: AlpacaAdapter) -> list[OrderIntent]:
    """Stock market orders and option marketable limits, alternating; then the doomed."""
    window = ExpiryWindow(START.date() + timedelta(days=7), START.date() + timedelta(days=21))
    contracts = [
        c
        for c in adapter.option_chain("SPY", window, right=Right.CALL)
        if c.bid > 0 and c.ask < 20 and c.greeks and 0.2 < c.greeks.delta < 0.8
    ]
    assert len(contracts) > 20
    pricing = OptionPricing()
    out = []
    for i in range(INTENTS):
        cid = client_order_id(f"chaos-{i}")
        if i % 2:
            c = contracts[i % len(contracts)]
            out.append(pricing.intent(cid, c.symbol, Action.BUY, D(1), c.bid, c.ask))
        else:
            out.append(OrderIntent(cid, STOCKS[i % len(STOCKS)], Action.BUY, D(1 + i % 3)))
    doomed = [
        OrderIntent(client_order_id(f"doomed-{i}"), "SPY", Action.BUY, D(1_000_000))
        for i in range(DOOMED)
    ]
    return out + doomed


def submit_until_answered(
    adapter: AlpacaAdapter,
    intent: OrderIntent,
    pause: Callable[[float], None],
    attempts: int = 30,
) -> BrokerOrder:
    """``adapter.submit`` again on BrokerUnavailable, with the same intent, until it answers
    (a rejection is final): however many attempts reach the venue, one order stands."""
    for attempt in range(attempts - 1):
        try:
            return adapter.submit(intent)
        except BrokerUnavailable:
            pause(min(0.002 * 2**attempt, 0.02))
    return adapter.submit(intent)


def test_chaos_places_every_order_exactly_once(venue, capsys):
    adapter = chaos_adapter(venue.url)
    calm = chaos_adapter(venue.url, read_timeout_s=10.0)  # for setting up and checking
    intents = intents_for(calm)  # the chain is read before the faults start
    venue.faults(**CHAOS)
    retries: list[float] = []

    def pause(seconds: float) -> None:
        retries.append(seconds)
        time.sleep(seconds)  # retry pacing, not synchronisation

    outcomes: dict[str, object] = {}
    started = time.monotonic()
    for intent in intents:
        try:
            outcomes[intent.client_order_id] = submit_until_answered(adapter, intent, pause)
        except OrderRejected as refused:
            outcomes[intent.client_order_id] = refused
    elapsed = time.monotonic() - started
    report = venue.faults(**{name: 0.0 for name in CHAOS if not name.startswith("latency_")})

    # Every placed intent is in the venue's audit exactly once; nothing else is.
    audit = venue.audit()
    cids = Counter(entry["client_order_id"] for entry in audit)
    placed = {i.client_order_id for i in intents[:INTENTS]}
    assert len(audit) == INTENTS
    assert max(cids.values()) == 1
    assert set(cids) == placed

    # Every intent ends filled, accepted or a classified rejection.
    venue.advance(seconds=5)
    final = Counter()
    for intent in intents:
        outcome = outcomes[intent.client_order_id]
        if isinstance(outcome, OrderRejected):
            assert intent.client_order_id.startswith("sf-open-")
            assert intent.qty == 1_000_000
            assert (outcome.status, outcome.code) == (403, 40310000)
            final["rejected"] += 1
            continue
        order = calm.order_by_client_id(intent.client_order_id)
        assert order.id == outcome.id
        assert order.status in (ExecutionStatus.FILLED, ExecutionStatus.ACCEPTED), order
        final[order.status.value] += 1
    assert final["rejected"] == DOOMED
    assert final["filled"] + final["accepted"] == INTENTS

    counts = report["counts"]
    assert counts.get("commit_then_fail", 0) > 10
    assert counts.get("429", 0) > 10
    assert len(retries) > 100  # the faults were felt, and survived
    assert elapsed < 120  # bounded, not timed: retries must not run away
    with capsys.disabled():
        print(
            f"\nchaos: {len(intents)} intents in {elapsed:.1f} s, {len(retries)} retries,"
            f" outcomes {dict(final)}, injected {counts}"
        )


@pytest.fixture
def silent_url() -> Iterator[str]:
    import socket

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


def test_no_secret_in_logs_errors_or_reprs(venue, silent_url, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="urllib3")
    log = logging.getLogger("strikeflow.tests.secrets")
    adapter = chaos_adapter(venue.url)
    errors: list[BrokerError] = []

    def attempt(call):
        try:
            return call()
        except BrokerError as error:
            errors.append(error)
            log.exception("broker call failed: %s (%r)", error, error)

    venue.faults(error_5xx=0.5, rate_limit=0.2, commit_then_fail=0.5)
    for i in range(20):
        attempt(adapter.account)
        attempt(lambda i=i: adapter.submit(OrderIntent(f"sf-secret-{i}", "AAPL", "BUY", D(1))))
    venue.faults(error_5xx=0.0, rate_limit=0.0, commit_then_fail=0.0)
    attempt(lambda: adapter.submit(OrderIntent("sf-secret-x", "SPY", "BUY", D(10_000_000))))
    attempt(chaos_adapter(silent_url).account)
    log.debug("adapter %r config %r", adapter, adapter.config)

    assert any(isinstance(e, BrokerUnavailable) for e in errors)
    assert any(isinstance(e, OrderRejected) for e in errors)
    assert any("timeout" in str(e) for e in errors)
    assert any(r.name.startswith("urllib3") for r in caplog.records)  # the HTTP layer logged
    texts = [caplog.text, repr(adapter), repr(adapter.config), str(adapter.config)]
    texts += [r.getMessage() for r in caplog.records]
    for error in errors:
        texts += [str(error), repr(error), "".join(traceback.format_exception(error))]
    for text in texts:
        assert KEY not in text
        assert SECRET not in text
