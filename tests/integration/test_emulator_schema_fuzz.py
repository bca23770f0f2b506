"""The emulator fuzzed through its own OpenAPI schema (schemathesis over real HTTP).

Every route declares its query parameters and bodies, so /openapi.json says what each
takes; schemathesis generates valid and invalid requests from it (both modes, with its
coverage phase of boundary values) and the one property checked is the one that
matters for a venue under test: no 5xx, whatever the request. Refusals are 4xx with
Alpaca's error body. Whatever POST /_sim/faults sets is undone after it: injected 5xx
are the emulator doing its job. Bounded per operation and derandomized.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from strikeflow.sim.http_app import openapi_schema
from strikeflow.sim.serve import EmulatorOptions, running_emulator
from tests.integration.emulator import KEY, SECRET, START

EXAMPLES_PER_OPERATION = 50
AUTH = {"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET}
STATUSES: Counter[int] = Counter()


@pytest.fixture(scope="module")
def emulator_url() -> Iterator[str]:
    options = EmulatorOptions(seed=7, start=START, api_key=KEY, secret_key=SECRET)
    with running_emulator(options) as url:
        yield url
    if STATUSES:
        by_status = dict(sorted(STATUSES.items()))
        print(f"\nschema fuzz: {STATUSES.total()} requests, by status {by_status}")


# The document is built from the routes alone (no emulator, no socket) at import; the
# requests go to a live emulator. (schemathesis's fixture-loaded schemas need a pytest
# internal that pytest 9 removed.)
schema = schemathesis.openapi.from_dict(openapi_schema())
CALM = {"error_5xx": 0, "rate_limit": 0, "drop": 0, "latency": 0, "commit_then_fail": 0}


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_request_gets_a_server_error(emulator_url, case):
    reply = case.call_and_validate(
        base_url=emulator_url, headers=AUTH, checks=[not_a_server_error], timeout=30
    )
    STATUSES[reply.status_code] += 1
    if case.path == "/_sim/faults":  # faults on purpose are not the emulator failing
        calm = requests.post(f"{emulator_url}/_sim/faults", json=CALM, headers=AUTH, timeout=10)
        assert calm.status_code == 200, calm.text


def test_the_served_schema_declares_the_routes_parameters(emulator_url):
    spec = requests.get(f"{emulator_url}/openapi.json", timeout=10).json()
    assert spec == openapi_schema()
    declared = {
        (method.upper(), path): {p["name"] for p in op.get("parameters", [])}
        | ({"body"} if "requestBody" in op else set())
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
    }
    assert declared[("GET", "/v2/stocks/bars")] >= {"symbols", "start", "end", "limit"}
    assert declared[("GET", "/v2/options/contracts")] >= {
        "underlying_symbols", "type", "expiration_date_gte", "strike_price_lte", "page_token",
    }  # fmt: skip
    assert declared[("GET", "/v1beta1/options/snapshots/{underlying}")] >= {"underlying", "type"}
    assert "body" in declared[("POST", "/v2/orders")]
    assert "body" in declared[("POST", "/_sim/clock")]


def test_without_the_keys_every_route_is_refused_401_not_500(emulator_url):
    for path in ("/v2/account", "/v2/orders", "/v2/stocks/bars", "/_sim/orders"):
        reply = requests.get(f"{emulator_url}{path}", timeout=10)
        assert reply.status_code == 401, (path, reply.text)
        assert reply.json() == {"message": "unauthorized."}, path
