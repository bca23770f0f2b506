"""The JSON between dispatch steps: the columnar chain and the packed selection explain."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from strikeflow.domain.chain import OptionChain
from strikeflow.domain.errors import NoEligibleContract
from strikeflow.domain.models import Right, StrategyType
from strikeflow.domain.selection import SelectionPolicy, select_contract
from strikeflow.services.dispatch_payload import (
    chain_from_json,
    chain_to_json,
    contract_to_json,
    pack_selection,
    unpacked_explain,
)
from tests.unit.factories import NOW, contract


def hop(value):
    return json.loads(json.dumps(value))  # what Celery's JSON does between two steps


def mixed_chain() -> list:
    """Two expirations, quotes of two ages, a contract without Greeks or IV, one with a
    last trade, and an adjusted contract (another root, another multiplier)."""
    return [
        contract(99, dte=0),
        contract(100, dte=0, quote_age_s=5.0, bid="1.95", ask="2.05"),
        contract("100.5", dte=1, delta=None, implied_vol=None),
        replace(contract(101, dte=1), last=Decimal("2.07")),
        contract(100, dte=1, root="XYZ1", multiplier=10),
    ]


def test_a_chain_comes_back_as_the_same_contracts_in_order():
    contracts = mixed_chain()
    assert chain_from_json(hop(chain_to_json(contracts))) == contracts


def test_values_every_contract_shares_are_said_once():
    packed = chain_to_json([contract(k, dte=0) for k in (99, 100, 101)])
    assert packed["shared"] == {"underlying": "XYZ", "right": "C", "multiplier": 100}
    assert packed["columns"]["expiration"] == {"values": [str(NOW.date())], "index": [0, 0, 0]}
    assert "multiplier" not in packed["columns"]


def test_values_that_differ_stay_per_contract():
    contracts = [contract(100, right=Right.CALL), contract(100, right=Right.PUT)]
    packed = chain_to_json(contracts)
    assert packed["columns"]["right"] == ["C", "P"]
    assert chain_from_json(hop(packed)) == contracts


def test_a_chain_queued_before_the_columns_still_reads():
    contracts = mixed_chain()
    assert chain_from_json(hop([contract_to_json(c) for c in contracts])) == contracts


def test_an_empty_chain_travels_as_an_empty_one():
    assert chain_from_json(hop(chain_to_json([]))) == []


def test_a_column_of_the_wrong_length_is_refused_by_name():
    packed = hop(chain_to_json(mixed_chain()))
    packed["columns"]["bid"].pop()
    with pytest.raises(ValueError, match="'bid' has 4 values, not 5"):
        chain_from_json(packed)


def test_a_chain_travels_in_less_than_half_the_bytes_of_one_object_per_contract():
    contracts = [contract(k, dte=d) for d in (0, 1) for k in range(80, 121)]
    one_each = [contract_to_json(c) for c in contracts]
    assert 2 * len(json.dumps(chain_to_json(contracts))) < len(json.dumps(one_each))


def report(chain: list) -> dict:
    policy = SelectionPolicy.for_strategy(StrategyType.DAY_TRADE, Right.CALL)
    return select_contract(OptionChain.from_contracts(chain), 100.0, NOW, policy).explain()


def test_a_packed_selection_unpacks_to_the_same_explain():
    selection = report([contract(k, dte=d) for d in (0, 1, 10) for k in range(90, 111)])
    explain = {"selection": pack_selection(selection), "risk": {"allowed": True}}
    travelled = hop(explain)
    assert unpacked_explain(travelled) == {"selection": hop(selection), "risk": {"allowed": True}}
    assert len(json.dumps(travelled)) * 3 < len(json.dumps(selection))
    # every candidate but the two eligible ones (strike 100 at 0 and 1 DTE)
    assert len(hop(selection)["rejected"]) == 63 - 2


def test_a_no_eligible_report_packs_too():
    policy = SelectionPolicy.for_strategy(StrategyType.DAY_TRADE, Right.CALL)
    with pytest.raises(NoEligibleContract) as none:
        select_contract(OptionChain.from_contracts([contract(100, bid="0")]), 100.0, NOW, policy)
    unpacked = unpacked_explain(hop({"selection": pack_selection(none.value.explain)}))
    assert unpacked["selection"]["rejected_counts"] == {"no bid": 1}


def test_decimals_and_times_in_a_selection_are_written_as_text():
    at = datetime(2026, 11, 19, 15, 0, tzinfo=UTC)
    packed = pack_selection({"spot": Decimal("100.25"), "at": at})
    assert unpacked_explain({"selection": packed})["selection"] == {
        "spot": "100.25",
        "at": at.isoformat(),
    }


def test_an_explain_without_a_packed_selection_is_left_as_it_is():
    plain = {"selection": {"chosen": {"symbol": "X"}}, "packed": "not a selection"}
    assert unpacked_explain(plain) is plain
    assert unpacked_explain(None) is None
    assert unpacked_explain({}) == {}
