"""The account is read once a chain, beside the stock quote in fetch_chain, and sized by
in size_position while it is fresh (``BuyingPower``): one venue round trip fewer on the
way to the order. Stale (a chain that waited in a backlog), it is read again."""

from __future__ import annotations

from datetime import timedelta

from strikeflow.domain.enums import InstrumentType
from strikeflow.domain.errors import BrokerUnavailable
from strikeflow.services.dispatch_steps import fetch_chain, select_contract, size_position
from tests.unit.dispatch_runs import hop, price, setup

CALL = {"instrument_type": InstrumentType.CALL}


class CountingAccount:
    """The broker, counting its account reads (``fail``: each one unreachable)."""

    def __init__(self, broker, fail: bool = False) -> None:
        self._broker, self.fail, self.reads = broker, fail, 0

    def account(self):
        self.reads += 1
        if self.fail:
            raise BrokerUnavailable("account", "connection reset", None)
        return self._broker.account()

    def __getattr__(self, name):
        return getattr(self._broker, name)


def chain_to_price(ctx):
    fetched = hop(fetch_chain(ctx, "rec-1"))
    return fetched, hop(price(ctx, hop(select_contract(ctx, fetched))))


def test_the_account_read_beside_the_quote_sizes_the_order():
    ctx, *_ = setup(rec_overrides=CALL)
    ctx.broker = counting = CountingAccount(ctx.broker)
    fetched, checked = chain_to_price(ctx)
    assert fetched.account is not None
    assert fetched.account.buying_power == counting.account().buying_power
    counting.reads = 0
    sized = size_position(ctx, checked)
    assert counting.reads == 0  # sized by what fetch_chain read
    assert sized.quantity > 0
    assert sized.notes.sizing.describe.endswith(f"{fetched.account.options_buying_power})")


def test_a_stale_or_missing_account_is_read_again_at_sizing():
    ctx, _market, _store, _switch, _broker, _rec = setup(rec_overrides=CALL)
    ctx.broker = counting = CountingAccount(ctx.broker, fail=True)
    fetched, checked = chain_to_price(ctx)
    assert fetched.account is None  # unreachable beside the quote: left for sizing
    counting.fail = False
    size_position(ctx, checked)
    assert counting.reads == 2

    ctx2, *_ = setup(rec_overrides=CALL)
    ctx2.broker = counting2 = CountingAccount(ctx2.broker)
    _, checked2 = chain_to_price(ctx2)
    ctx2.now.at += timedelta(seconds=ctx2.policy.quote_max_age_s + 1)  # a backlog
    counting2.reads = 0
    size_position(ctx2, checked2)
    assert counting2.reads == 1
