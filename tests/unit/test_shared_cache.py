"""The fleet's shared cache (the last spot per ticker, the day's listings): kept for its
ttl, best effort when its store is down, and the listings' second level over it."""

from __future__ import annotations

import time
from datetime import date
from decimal import Decimal

import fakeredis

from strikeflow.app_state.in_process import InProcessSharedCache
from strikeflow.app_state.in_redis import RedisSharedCache, redis_client
from strikeflow.broker_adapters.alpaca import parsing
from strikeflow.broker_adapters.alpaca.listings import (
    ListedContract,
    ListingCache,
    decoded,
    encoded,
    expiry_groups,
)
from strikeflow.domain.enums import Right
from tests.unit.test_alpaca_parsing import contract_meta

KEY = ("AAPL", date(2026, 12, 18), date(2026, 12, 18), None)


def test_the_in_process_cache_keeps_values_for_their_ttl_and_drops_the_oldest():
    now = [0.0]
    cache = InProcessSharedCache(max_entries=2, monotonic=lambda: now[0])
    cache.put("a", "1", ttl_s=10)
    cache.put_many({"b": "2", "c": "3"}, ttl_s=20)
    assert cache.get("a") is None  # the oldest, past the bound
    assert (cache.get("b"), cache.get("c")) == ("2", "3")
    now[0] = 20.0
    assert cache.get("b") is None  # its ttl is over


def test_the_redis_cache_keeps_values_for_their_ttl():
    server = fakeredis.FakeRedis()
    cache = RedisSharedCache(server)
    cache.put_many({"spot:SPY": "600.5|2026-12-07T15:00:00+00:00"}, ttl_s=30)
    assert cache.get("spot:SPY") == "600.5|2026-12-07T15:00:00+00:00"
    assert 0 < server.pttl("strikeflow:cache:spot:SPY") <= 30_000
    assert cache.get("spot:QQQ") is None


def test_a_redis_that_is_down_reads_as_empty_and_forgets_writes_at_once():
    cache = RedisSharedCache(redis_client("redis://127.0.0.1:1/0", socket_timeout=0.25))
    start = time.monotonic()
    cache.put("spot:SPY", "600", ttl_s=30)
    assert cache.get("spot:SPY") is None
    assert time.monotonic() - start < 2.0


def listing(*strikes: int, expiration: date = date(2026, 12, 18)) -> list[ListedContract]:
    return [
        parsing.listed_contract(
            contract_meta(
                symbol=f"AAPL{expiration:%y%m%d}C{k * 1000:08d}",
                strike_price=str(k),
                expiration_date=expiration.isoformat(),
            )
        )
        for k in strikes
    ]


def test_a_listing_travels_through_the_cache_unchanged():
    listed = listing(180, 190, 200)
    assert decoded(encoded(listed)) == tuple(listed)
    assert listed[0].strike == Decimal(180)
    assert listed[0].right is Right.CALL
    assert decoded("not json") is None
    assert decoded('[["only", "three", "fields"]]') is None


def test_a_listing_one_worker_fetched_is_taken_by_the_next_from_the_shared_cache():
    shared = InProcessSharedCache()
    first, second, elsewhere = ListingCache(60), ListingCache(60), ListingCache(60)
    first.share(shared, "paper")
    second.share(shared, "paper")
    elsewhere.share(shared, "http://127.0.0.1:9999")
    fetched: list[str] = []

    def fetch(name):
        def run():
            fetched.append(name)
            return listing(180, 190)

        return run

    assert first.get(KEY, fetch("first")) == second.get(KEY, fetch("second"))
    assert fetched == ["first"]  # the second worker asked no venue
    elsewhere.get(KEY, fetch("elsewhere"))
    assert fetched == ["first", "elsewhere"]  # another venue's listing is its own
    shared.put(f"listing:paper:AAPL:{KEY[1]}:{KEY[2]}:any", "damaged", 60)
    third = ListingCache(60)
    third.share(shared, "paper")
    assert third.get(KEY, fetch("third")) == tuple(listing(180, 190))
    assert fetched[-1] == "third"  # unreadable: listed again


def test_a_window_wider_than_a_page_is_cut_into_runs_of_expiries_that_fit_one():
    days = [date(2026, 12, d) for d in (14, 15, 16, 18)]
    listed = [c for day in days for c in listing(*range(100, 130), expiration=day)]
    assert expiry_groups(listed, 1_000) == [(days[0], days[-1])]
    assert expiry_groups(listed, 60) == [(days[0], days[1]), (days[2], days[3])]
    assert expiry_groups(listed, 45) == [(d, d) for d in days]
    assert expiry_groups(listed, 10) == [(d, d) for d in days]  # one alone, over the size
    assert expiry_groups([], 10) == []
