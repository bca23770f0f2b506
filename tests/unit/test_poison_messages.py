"""The message check, body by body: what is refused before the pool sees it, and why."""

from __future__ import annotations

import json
import pickle

import pytest

from strikeflow.workers.messages import (
    MAX_BODY_BYTES,
    MAX_DEPTH,
    body_problem,
    named_recommendation,
    size_problem,
    value_problem,
)


def nested(depth: int, leaf: object = "MSFT") -> object:
    """A JSON array ``depth`` deep around ``leaf`` (built without recursion)."""
    value = leaf
    for _ in range(depth - 1):
        value = [value]
    return value


def decoded(body: str) -> object:
    return json.loads(body)


def test_the_ticker_nested_900_deep_is_refused_though_json_reads_it():
    body = decoded(json.dumps([[], {"ticker": nested(900), "action": "BUY"}, None]))
    with pytest.raises(RecursionError):
        pickle.dumps(body)  # what the pool would do with it
    assert body_problem(body) == f"nested deeper than {MAX_DEPTH}"


def test_nesting_up_to_the_limit_passes():
    # nested(n) is n - 1 arrays; the body's array and kwargs' object make two more
    assert body_problem([[], {"ticker": nested(MAX_DEPTH - 1)}, None]) is None
    assert body_problem([[], {"ticker": nested(MAX_DEPTH)}, None]) is not None


def test_a_real_chain_message_passes_far_inside_the_limits():
    """The message of a chain's first step, as the app builds it, with the five steps
    after it and the errbacks in its embed: 8 deep, about 2 KB."""
    from kombu.utils.json import dumps

    from strikeflow.tasks.chains import chain_for
    from strikeflow.workers.app import app

    first, *rest = chain_for("rec-1", app=app).tasks
    message = app.amqp.as_task_v2(
        "task-1",
        first.task,
        args=first.args,
        kwargs=first.kwargs,
        chain=[dict(sig) for sig in reversed(rest)],
        errbacks=first.options.get("link_error"),
    )
    raw = dumps(message.body)
    assert size_problem(raw) is None
    assert body_problem(decoded(raw)) is None
    assert body_problem([*decoded(raw)[:2], {"chain": nested(MAX_DEPTH)}]) is not None


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("MS\ud800FT", "lone surrogate"),
        ("\udfff", "lone surrogate"),
        ("MSFT\x00", "control character"),
        ("MS\x1bFT", "control character"),
        ("MSFT\x7f", "control character"),
    ],
)
def test_unstorable_text_is_refused_in_values_and_keys(text, why):
    assert why in body_problem([[text], {}, None])
    assert why in body_problem([[], {text: "BUY"}, None])
    assert why in body_problem([[], {"reason": {"notes": [text]}}, None])


def test_ordinary_text_passes():
    ok = "Bought on a breakout \u2014 50-day high\tconfirmed\r\nby volume (caf\u00e9, \u6771\u4eac)"
    assert body_problem([[], {"reason": ok}, None]) is None


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (float("nan"), "not finite"),
        (float("inf"), "not finite"),
        (2**63, "64 bits"),
        (-(2**63) - 1, "64 bits"),
    ],
)
def test_numbers_no_step_can_take_are_refused(value, why):
    assert why in body_problem([[], {"quantity": value}, None])


def test_wrong_shapes_are_still_named():
    assert body_problem({"ticker": "MSFT"}) == "the body must be [args, kwargs, embed]"
    assert body_problem(["MSFT", {}, {}]) == "args must be a list"
    assert body_problem([[], [], {}]) == "kwargs must be an object"
    assert body_problem([[], {}, []]) == "embed must be an object"


def test_a_value_of_no_json_type_is_refused():
    assert value_problem([b"bytes"]) == "a value of type bytes"


def test_a_huge_body_is_refused_before_it_is_decoded():
    assert size_problem(b"x" * (MAX_BODY_BYTES + 1)) is not None
    assert size_problem("x" * MAX_BODY_BYTES) is None
    assert size_problem(None) is None


def test_the_walk_stops_at_the_first_problem_without_recursion():
    deep = nested(100_000)  # far past the interpreter's recursion limit
    assert value_problem(deep) == f"nested deeper than {MAX_DEPTH}"


@pytest.mark.parametrize(
    ("body", "rid"),
    [
        ([["rec-1"], {}, None], "rec-1"),
        ([[{"ticket": {"recommendation_id": "rec-2"}}], {}, None], "rec-2"),
        ([[{"recommendation_id": "rec-3"}], {}, None], "rec-3"),
        ([[], {"recommendation_id": "rec-4", "x": nested(900)}, None], "rec-4"),
        ([[], {"recommendation_id": "r\ud800"}, None], None),
        ([[], {"recommendation_id": "x" * 201}, None], None),
        ([[], {"recommendation_id": 12}, None], None),
        ([[nested(900)], {}, None], None),
        ({"recommendation_id": "rec-5"}, None),
    ],
)
def test_the_recommendation_a_refused_body_names(body, rid):
    assert named_recommendation(body) == rid


def test_json_too_deep_for_the_decoder_is_a_decode_error_celery_discards():
    """Past the decoder's own recursion limit the body never decodes: kombu raises a
    DecodeError, which the check records and Celery discards."""
    from kombu.exceptions import DecodeError
    from kombu.serialization import loads

    with pytest.raises(DecodeError):
        loads("[" * 100_000 + "]" * 100_000, "application/json", "utf-8")
