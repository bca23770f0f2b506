"""Generated bad payloads against a manual signal and the ``strikeflow.dispatch`` entry,
and generated bad step messages against ``decode`` and the step tasks.

Each payload is a good one with some fields spoiled (wrong types, NaN and ±inf, negative
and huge numbers, non-ASCII and over-long tickers, OCC symbols well formed or not,
contradictions), some required fields dropped, or fields the pipeline decides itself
added (a quantity, an option symbol, an expiration in the past). The generator knows
which fields it spoiled, so the oracle is exact: no spoiled field means a valid
recommendation; a spoiled one means an InvalidRecord naming one of them, and the store
is left exactly as it was. Derandomized, without an example database: the same examples
on every run and machine.

A step's message meets ``decode`` before anything else: a message spoiled in one place
(a value replaced, a key dropped or added, another ``version``, not an object at all) is
either still a message of its kind or an ``IncompatibleMessage`` naming where it is
wrong (a TypeError when it is no JSON object at all): recorded failed, never retried,
never a crash.
"""

from __future__ import annotations

import copy
import math
import string
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strikeflow import bootstrap
from strikeflow.db.engine import dispose_all, engine_for
from strikeflow.db.migrate import upgrade
from strikeflow.db.repositories import RecommendationRepository
from strikeflow.domain.enums import RecommendationStatus
from strikeflow.domain.errors import InvalidRecord
from strikeflow.domain.occ import format_occ
from strikeflow.domain.records import TICKER, Recommendation
from strikeflow.services import dispatch_steps, outcomes
from strikeflow.services.manual_signal import (
    CHOSEN_BY_THE_PIPELINE,
    REQUIRED_FIELDS,
    manual_recommendation_from,
)
from strikeflow.services.messages import SCHEMA, IncompatibleMessage, decode, encode
from strikeflow.services.outcomes import failure_kind
from strikeflow.tasks import entry, pipeline
from tests.hypothesis_profiles import examples
from tests.unit.fakes_dispatch import make_context
from tests.unit.memory_celery import memory_current_app, stored_recommendations
from tests.unit.step_messages import every_message

PURE_EXAMPLES = examples(7_000)
ENTRY_EXAMPLES = examples(1_500)
MESSAGE_EXAMPLES = examples(3_000)
TASK_EXAMPLES = examples(500)
FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
GOOD_TICKERS = ("AAPL", "spy", " msft ", "BRK.B", "BF-B", "X")
INJECTION = "'; DROP TABLE dispatch_executions;--"
JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
NOT_TEXT = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(JSON_SCALARS, max_size=3),
    st.dictionaries(st.text(max_size=4), JSON_SCALARS, max_size=2),
)
NON_ASCII = st.tuples(
    st.text(max_size=8),
    st.characters(min_codepoint=128, exclude_categories=["Cs"]),
    st.text(max_size=8),
).map("".join)


def over_long(alphabet: str, low: int, high: int) -> st.SearchStrategy[str]:
    """Text of ``low`` to ``high`` characters, cheaply: a short random stem repeated."""
    stems = st.text(alphabet=alphabet, min_size=1, max_size=8)
    return st.tuples(stems, st.integers(low, high)).map(lambda t: (t[0] * t[1])[: t[1]])


def not_a_word(*words: str) -> st.SearchStrategy[str]:
    """Text that is none of ``words`` in any ASCII case."""
    return st.text(max_size=20).filter(lambda s: s.upper() not in words)


def malformed_occ() -> st.SearchStrategy[str]:
    good = format_occ("AAPL", date(2027, 1, 15), "C", Decimal("190"))
    cut = st.integers(min_value=10, max_value=len(good) - 1).map(lambda n: good[:n] + "9")
    return st.one_of(
        st.just(good),  # well formed, but a contract is not a ticker
        st.just("SPY 261120P00500000"),
        st.just("aapl270115c00190000"),
        st.just("AAPL271315C00190000"),  # month 13
        st.just("AAPL270115X00190000"),  # no such right
        cut,
    )


BAD_TICKERS = st.one_of(
    NOT_TEXT,
    NON_ASCII,
    st.sampled_from(["ſpy", "ﬁ", "ı", "ＡＡＰＬ", "AAPL\u200b", "straße"]),
    over_long(string.ascii_uppercase, 17, 300),
    st.text(max_size=40).filter(lambda s: TICKER.fullmatch(s.strip().upper()) is None),
    malformed_occ(),
    st.sampled_from([INJECTION, "", "   ", "1ABC", "AAPL;", "A B", "\x00AAPL", "AAPL\n1"]),
)
BAD_CONFIDENCE = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, 10**400, -(10**400), 2, -1]),
    st.floats().filter(lambda x: not 0 <= x <= 1),
    st.integers().filter(lambda n: n not in (0, 1)),
    st.sampled_from([None, True, False, "0.5", "nan", [0.5], {"value": 0.5}]),
)
BAD_REASONS = st.one_of(
    st.integers(), st.floats(), st.booleans(), st.lists(st.text(max_size=3), min_size=1),
    over_long(string.printable, 2_001, 2_100), st.just("why\x00not"),
)  # fmt: skip
BAD_NUMBERS = st.one_of(
    st.integers(max_value=0),
    st.integers(min_value=10**9),
    st.sampled_from([math.nan, math.inf, -math.inf, -0.5, 1e308, "ten", None]),
)
PAST_DATES = st.one_of(
    st.dates(max_value=date(2025, 12, 31)).map(date.isoformat),
    st.datetimes(max_value=datetime(2025, 12, 31)).map(datetime.isoformat),
    st.sampled_from(["yesterday", "2001-02-30", "", "0000-00-00"]),
)
EXTRA_FIELDS = st.one_of(
    st.tuples(st.sampled_from(["quantity", "qty", "contracts"]), BAD_NUMBERS),
    st.tuples(st.sampled_from(["option_symbol", "symbol"]), malformed_occ()),
    st.tuples(st.sampled_from(["expiration", "expiration_date"]), PAST_DATES),
    st.tuples(
        st.text(min_size=1, max_size=80).filter(lambda k: k not in entry_fields()),
        JSON_SCALARS,
    ),
)


def entry_fields() -> frozenset[str]:
    from strikeflow.services.manual_signal import MANUAL_FIELDS

    return MANUAL_FIELDS | {"recommendation_id"}


def _no_nul(text: str) -> bool:
    return "\0" not in text


GOOD_VALUES = {
    "ticker": st.sampled_from(GOOD_TICKERS),
    "action": st.sampled_from(["BUY", "buy", "Sell", "SELL"]),
    "instrument": st.sampled_from(["STOCK", "stock", "CALL", "PUT"]),
    "strategy": st.sampled_from([None, "day_trade", "SWING_TRADE"]),
    "confidence": st.one_of(st.floats(0, 1), st.sampled_from([0, 1])),
    "reason": st.one_of(st.none(), st.just(""), st.text(max_size=50).filter(_no_nul)),
}  # fmt: skip
BAD_VALUES = {
    "ticker": BAD_TICKERS,
    "action": st.one_of(
        not_a_word("BUY", "SELL"),
        st.sampled_from(["ſell", "ＢＵＹ"]),
        NOT_TEXT,
    ),
    "instrument": st.one_of(not_a_word("STOCK", "CALL", "PUT"), NOT_TEXT),
    "strategy": st.one_of(
        not_a_word("DAY_TRADE", "SWING_TRADE"),
        NOT_TEXT.filter(lambda v: v is not None),
    ),
    "confidence": BAD_CONFIDENCE,
    "reason": BAD_REASONS,
}  # fmt: skip


@st.composite
def payloads(draw) -> tuple[dict, frozenset[str]]:
    """A payload and the names of the fields that make it invalid (empty: it is valid)."""
    payload, spoiled = {}, set()
    for name in GOOD_VALUES:
        if draw(st.integers(0, 5)) == 0:
            payload[name] = draw(BAD_VALUES[name])
            spoiled.add(name)
        elif name in REQUIRED_FIELDS or draw(st.booleans()):
            payload[name] = draw(GOOD_VALUES[name])
    for name in REQUIRED_FIELDS:
        if draw(st.integers(0, 11)) == 0:
            payload.pop(name)
            spoiled.discard(name)
            spoiled.add(name)
    if draw(st.integers(0, 5)) == 0:
        key, value = draw(EXTRA_FIELDS)
        payload[key] = value
        spoiled.add(key if key in CHOSEN_BY_THE_PIPELINE else "fields")
    if not {"action", "instrument"} & spoiled and "action" in payload and _contradiction(payload):
        spoiled.add("instrument")
    return payload, frozenset(spoiled)


def _contradiction(payload: dict) -> bool:
    side = payload["action"].upper()
    right = str(payload.get("instrument", "STOCK")).upper()
    return (side, right) in {("BUY", "PUT"), ("SELL", "CALL")}


def check_valid(
    rec: Recommendation, payload: dict, status: RecommendationStatus = RecommendationStatus.PENDING
) -> None:
    assert TICKER.fullmatch(rec.ticker)
    assert rec.ticker == payload["ticker"].strip().upper()
    assert rec.action.value == payload["action"].upper()
    assert rec.instrument_type.value == payload.get("instrument", "STOCK").upper()
    assert math.isfinite(rec.confidence)
    assert 0 <= rec.confidence <= 1
    assert rec.confidence == payload.get("confidence", 0.8)
    if rec.instrument_type.value != "STOCK":
        assert rec.strategy_type is not None  # an option needs a DTE window
    assert rec.status is status


def check_refused(error: InvalidRecord, spoiled: frozenset[str]) -> None:
    assert spoiled, f"a valid payload was refused: {error}"
    assert error.field in spoiled, (error.field, spoiled, str(error))
    assert error.problem
    assert len(str(error)) < 400  # names the problem, quotes little of the input


def outcome(call, payload: dict):
    """``(result, None)``, or ``(None, the InvalidRecord)``; anything else propagates."""
    try:
        return call(payload), None
    except InvalidRecord as refused:
        return None, refused


@settings(FUZZ, max_examples=PURE_EXAMPLES)
@given(payloads())
def test_a_payload_is_a_valid_recommendation_or_a_refusal_naming_its_field(case):
    payload, spoiled = case
    rec, refused = outcome(manual_recommendation_from, payload)
    if refused is not None:
        check_refused(refused, spoiled)
        return
    assert not spoiled, f"accepted with {sorted(spoiled)} spoiled: {rec}"
    check_valid(rec, payload)


@pytest.fixture(scope="module")
def memory_app():
    with memory_current_app("strikeflow-bad-input") as app:
        yield app


class StoreOnly:
    """The part of a Runtime the entry task uses: the recommendation store."""

    def __init__(self, url: str) -> None:
        self.recommendations = RecommendationRepository(engine_for(url))


@pytest.fixture(scope="module")
def sqlite_url(tmp_path_factory, memory_app):
    url = f"sqlite:///{tmp_path_factory.mktemp('bad-input') / 'entry.db'}"
    upgrade(url, "head")
    bootstrap.install_runtime(StoreOnly(url))
    yield url
    bootstrap.reset_runtime()
    dispose_all()


def rows(url: str) -> int:
    return stored_recommendations(url)


@settings(FUZZ, max_examples=ENTRY_EXAMPLES)
@given(payloads())
def test_the_dispatch_entry_stores_a_whole_row_or_nothing(sqlite_url, case):
    """The task's own body (its Celery wiring is tested with a real worker elsewhere)."""
    payload, spoiled = case
    before = rows(sqlite_url)
    out, refused = outcome(lambda fields: entry.dispatch.run(**fields), payload)
    if refused is not None:
        check_refused(refused, spoiled)
        assert rows(sqlite_url) == before
        return
    assert not spoiled, f"accepted with {sorted(spoiled)} spoiled: {out}"
    assert out["sent"] is True
    assert rows(sqlite_url) == before + 1
    stored = bootstrap.runtime().recommendations.get(out["recommendation_id"])
    check_valid(stored, payload, RecommendationStatus.DISPATCHED)


@pytest.mark.parametrize(
    "bad",
    [
        {"recommendation_id": 42},
        {"recommendation_id": ["manual-1"]},
        {"recommendation_id": {"id": "manual-1"}},
        {"recommendation_id": ""},
        {"recommendation_id": "x" * 65},
        {"recommendation_id": "manual-1", "ticker": "AAPL"},
        {"recommendation_id": "no-such-recommendation"},
    ],
)
def test_a_bad_recommendation_id_is_refused_by_name(sqlite_url, bad):
    before = rows(sqlite_url)
    with pytest.raises(InvalidRecord) as refused:
        entry.dispatch.run(**bad)
    assert refused.value.field in ("recommendation_id", "fields")
    assert rows(sqlite_url) == before


def test_an_injected_ticker_is_refused_and_the_tables_stay(sqlite_url):
    before = rows(sqlite_url)
    with pytest.raises(InvalidRecord, match="ticker"):
        entry.dispatch.run(ticker=INJECTION, action="BUY")
    assert rows(sqlite_url) == before  # the table is still there, and unchanged


def test_an_expiration_in_the_past_is_refused_as_not_a_signal_field():
    with pytest.raises(InvalidRecord, match="selected from the chain"):
        manual_recommendation_from(
            {"ticker": "SPY", "action": "BUY", "instrument": "CALL", "expiration": "2001-01-19"}
        )
    with pytest.raises(InvalidRecord, match="sized against buying power"):
        manual_recommendation_from({"ticker": "SPY", "action": "BUY", "quantity": -5})


# -- step messages --------------------------------------------------------------------

GOOD_MESSAGES = {type(m): encode(m) for m in every_message("manual-1")}
NOT_AN_OBJECT = st.one_of(JSON_SCALARS, st.lists(JSON_SCALARS, max_size=3))


def places(data, at: tuple = ()) -> Iterator[tuple]:
    """The path of every value under ``data`` (keys and list indices), but the version."""
    items = data.items() if isinstance(data, dict) else enumerate(data)
    for key, value in items:
        path = (*at, key)
        if path == ("version",):
            continue
        yield path
        if isinstance(value, dict | list):
            yield from places(value, path)


def holder(data, path: tuple):
    """The object or list holding the value at ``path``."""
    for key in path[:-1]:
        data = data[key]
    return data


@st.composite
def spoiled_messages(draw) -> tuple[type, object, str, tuple]:
    """A good message of some kind spoiled in one place: (kind, data, how, path)."""
    kind = draw(st.sampled_from(sorted(GOOD_MESSAGES, key=lambda k: k.__name__)))
    data = copy.deepcopy(GOOD_MESSAGES[kind])
    how = draw(st.sampled_from(["replace", "drop", "add", "version", "not an object"]))
    if how == "version":
        value = draw(st.one_of(JSON_SCALARS, st.sampled_from([1, 3, "2", None])))
        if draw(st.booleans()):
            data["version"] = value
        else:
            del data["version"]  # release 0.1.0 sent none
        return kind, data, how, ("version",)
    if how == "not an object":
        return kind, draw(NOT_AN_OBJECT), how, ()
    path = draw(st.sampled_from(list(places(data))))
    parent = holder(data, path)
    if how == "replace":
        parent[path[-1]] = draw(NOT_TEXT)
    elif how == "drop" and isinstance(parent, dict):
        del parent[path[-1]]
    elif how == "drop":
        parent.pop(path[-1])
    else:
        parent = parent if isinstance(parent, dict) else data
        key = draw(st.text(min_size=1, max_size=40).filter(lambda k: k not in parent))
        parent[key] = draw(JSON_SCALARS)
        path = (*path[:-1], key) if parent is not data else (key,)
    return kind, data, how, path


def check_message_refused(error: Exception, kind: type, how: str, path: tuple):
    assert failure_kind(error) == "failed"  # recorded failed, never retried
    assert len(str(error)) < 400  # names the problem, quotes little of the input
    if how == "not an object":  # not a message of any release: an argument it cannot take
        assert isinstance(error, TypeError), repr(error)
        assert f"a {kind.__name__} message is a JSON object" in str(error), str(error)
    elif how == "version":
        assert f"schema {SCHEMA}" in str(error), str(error)
        assert "another release" in str(error), str(error)
    else:
        where = f"not a {kind.__name__} message: {path[0]}"
        assert str(error).startswith(where), (str(error), path)


@settings(FUZZ, max_examples=MESSAGE_EXAMPLES)
@given(spoiled_messages())
def test_a_spoiled_message_decodes_to_its_kind_or_a_refusal_naming_where(case):
    kind, data, how, path = case
    try:
        message = decode(kind, data)
    except (IncompatibleMessage, TypeError) as refused:
        check_message_refused(refused, kind, how, path)
        return
    assert isinstance(message, kind)
    assert how not in ("not an object",)
    if how == "version":
        assert data["version"] == SCHEMA


class StepsOnly:
    """The part of a Runtime the step tasks use: a context and a fallback, over fakes."""

    def __init__(self) -> None:
        self.context = make_context()[0]
        self.fallback = None


def never_reached(*args, **kwargs):
    raise AssertionError("a step ran on a message decode should have refused")


@pytest.fixture
def step_runtime(sqlite_url, monkeypatch):
    """StepsOnly while the test runs, the module's runtime again after; every step's
    service raises if reached."""
    for name in ("fetch_chain", "select_contract", "snapshot_price", "size_position"):
        monkeypatch.setattr(dispatch_steps, name, never_reached)
    monkeypatch.setattr(dispatch_steps, "submit_order", never_reached)
    monkeypatch.setattr(outcomes, "persist_execution", never_reached)
    previous = bootstrap.runtime()
    bootstrap.install_runtime(StepsOnly())
    yield
    bootstrap.install_runtime(previous)


STEP_TASKS = {
    "select_contract": lambda data: pipeline.select_contract.run(data),
    "snapshot_price": lambda data: pipeline.snapshot_price.run(data),
    "size_position": lambda data: pipeline.size_position.run(data),
    "submit_order": lambda data: pipeline.submit_order.run(data),
    "persist_execution": lambda data: pipeline.persist_execution.run(data),
    "fetch_chain again": lambda data: pipeline.fetch_chain.run("manual-1", reselection=data),
}
# Release 0.1.0's payload: its keys, any values (no ``version``: it had none).
OLD_PAYLOADS = st.fixed_dictionaries(
    {"recommendation_id": st.one_of(st.just("manual-1"), NOT_TEXT)},
    optional={
        key: st.one_of(JSON_SCALARS, NOT_TEXT)
        for key in ("ticker", "action", "instrument", "spot", "chain", "contract", "trade",
                    "quantity", "order", "explain", "client_order_id", "reselects")
    },
)  # fmt: skip
HOSTILE_MESSAGES = st.one_of(
    OLD_PAYLOADS,
    NOT_AN_OBJECT.filter(lambda v: v is not None),  # None: fetch_chain's "no re-selection"
    st.fixed_dictionaries({"version": st.just(SCHEMA)}, optional={"ticket": NOT_TEXT}),
    st.dictionaries(st.text(max_size=12), JSON_SCALARS, max_size=4).map(
        lambda d: {**d, "version": SCHEMA}
    ),
)


@settings(FUZZ, max_examples=TASK_EXAMPLES)
@given(st.sampled_from(sorted(STEP_TASKS)), HOSTILE_MESSAGES)
def test_a_step_task_refuses_a_hostile_message_before_its_step_runs(step_runtime, task, data):
    with pytest.raises((IncompatibleMessage, TypeError)) as refused:
        STEP_TASKS[task](data)
    assert failure_kind(refused.value) == "failed"
    assert len(str(refused.value)) < 400
