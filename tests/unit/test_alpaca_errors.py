"""How the adapter reads Alpaca's error replies: a duplicate only by its message, every
other 4xx a final refusal, 429/5xx/no reply transient (bodies in tests/data)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from alpaca.common.exceptions import APIError

from strikeflow.broker_adapters.alpaca.errors import classify, is_duplicate, read_api_error
from strikeflow.domain.errors import BrokerUnavailable, OrderRejected

REPLIES = json.loads((Path(__file__).parents[1] / "data" / "alpaca_error_bodies.json").read_text())[
    "replies"
]


def api_error(status: int, body: str) -> APIError:
    response = requests.Response()
    response.status_code = status
    return APIError(body, requests.HTTPError(response=response))


def label(reply: dict) -> str:
    return f"{reply['status']}-{reply['kind']}-{reply['body'][:40]}"


@pytest.mark.parametrize("reply", REPLIES, ids=label)
def test_each_documented_reply_classifies_as_its_kind(reply):
    error = classify(api_error(reply["status"], reply["body"]), "submit")
    if reply["kind"] == "unavailable":
        assert isinstance(error, BrokerUnavailable)
        assert error.status == reply["status"]
        return
    assert isinstance(error, OrderRejected)
    assert error.status == reply["status"]
    assert is_duplicate(error) is (reply["kind"] == "duplicate")
    body = json.loads(reply["body"]) if reply["body"] else {}
    assert error.code == body.get("code")
    if body.get("message"):
        assert body["message"] in error.message


def test_a_validation_error_sharing_the_duplicates_code_is_a_refusal():
    inactive = api_error(422, '{"code":40010001,"message":"asset \\"XYZ\\" is not active"}')
    error = classify(inactive, "submit")
    assert isinstance(error, OrderRejected)
    assert (error.status, error.code) == (422, 40010001)
    assert error.message == 'asset "XYZ" is not active'
    assert not is_duplicate(error)


@pytest.mark.parametrize(
    "message",
    [
        "client_order_id must be unique",
        "CLIENT_ORDER_ID MUST BE UNIQUE",
        "client order id must be unique",
        "client_order_id  must  be\tunique",
        "invalid request: client_order_id must be unique for this account",
    ],
)
def test_a_duplicate_is_told_by_its_meaning_in_any_case_or_spacing(message):
    assert is_duplicate(OrderRejected("submit", 422, 40010001, message))
    assert is_duplicate(OrderRejected("submit", 422, None, message))  # the code is not needed


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (422, "client_order_id must be no more than 128 characters"),
        (422, "client_order_id is required"),
        (422, "symbol must be unique"),
        (422, "limit price must be > 0"),
        (403, "client_order_id must be unique"),  # a duplicate is a 422, nothing else
    ],
)
def test_anything_else_is_not_a_duplicate(status, message):
    assert not is_duplicate(OrderRejected("submit", status, 40010001, message))


@pytest.mark.parametrize("body", ['{"message": "unauthorized."}', "", "unauthorized", "{}"])
def test_a_401_without_a_code_names_authentication(body):
    error = classify(api_error(401, body), "account")
    assert isinstance(error, OrderRejected)
    assert (error.status, error.code) == (401, None)
    assert "authentication failed" in error.message
    assert "API key" in str(error)
    assert not error.transient


def test_a_code_that_is_not_a_number_is_left_out():
    failure = read_api_error(api_error(422, '{"code": "x1", "message": "limit price must be > 0"}'))
    assert (failure.status, failure.code, failure.message) == (422, None, "limit price must be > 0")
    failure = read_api_error(api_error(422, '{"code": null, "message": null}'))
    assert failure.code is None
