"""Flower over a real worker (devfleet) on this module's Redis db numbers: its API answers
with basic auth and refuses without it, /metrics stays open for Prometheus, and it
listens on the address it was given (127.0.0.1) and nowhere else.

The broker, results and app dbs of this test process (tests/integration/conftest.py;
the idle worker never writes the app's); no task runs, so no database is needed.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from strikeflow.devfleet.emulator import free_port
from strikeflow.devfleet.workers import Fleet, FleetConfig, WorkerSpec
from tests.integration.conftest import worker_dbs
from tests.integration.emulator import poll

DBS = worker_dbs()
AUTH = ("flower-user", "flower-pass")
WORKER = WorkerSpec("sf-it-flower", ("persistence",), heartbeat=True)
DEADLINE_S = 30.0


@pytest.fixture(scope="module")
def flower(tmp_path_factory) -> Iterator[tuple[Fleet, str]]:
    DBS.flush()
    logs = tmp_path_factory.mktemp("flower-logs")
    config = FleetConfig(
        # The worker runs no task, but its start-up may open the database: in the
        # test's own folder, never the checkout.
        database_url=f"sqlite:///{logs / 'unused.db'}",
        emulator_url=None,
        redis=DBS,
        log_dir=logs,
    )
    fleet = Fleet(config)
    try:
        fleet.start_workers([WORKER])
        url = fleet.start_flower(free_port(), ":".join(AUTH))
        yield fleet, url
    finally:
        fleet.stop()
        DBS.flush()


def test_the_api_lists_the_worker_with_auth(flower):
    fleet, url = flower
    node = fleet.workers[WORKER.name].node

    def workers() -> requests.Response:
        return requests.get(f"{url}/api/workers", params={"refresh": 1}, auth=AUTH, timeout=10)

    try:
        listed = poll(workers, lambda r: r.status_code == 200 and node in r.json(), DEADLINE_S)
    except AssertionError as late:
        raise AssertionError(fleet.report(str(late)[:1_000])) from None
    assert listed.json()[node]["stats"]["pool"]["max-concurrency"] == WORKER.concurrency


@pytest.mark.parametrize(
    "auth", [None, ("flower-user", "wrong"), ("someone", "flower-pass")], ids=str
)
def test_the_api_refuses_without_the_right_credentials(flower, auth):
    _, url = flower
    for path in ("/api/workers", "/api/tasks", "/"):
        refused = requests.get(f"{url}{path}", auth=auth, timeout=10, allow_redirects=False)
        assert refused.status_code == 401, (path, refused.status_code)


def test_metrics_and_healthcheck_need_no_auth_for_prometheus(flower):
    _, url = flower
    metrics = requests.get(f"{url}/metrics", timeout=10)
    assert metrics.status_code == 200
    assert "flower_" in metrics.text
    assert requests.get(f"{url}/healthcheck", timeout=10).text == "OK"


def test_it_listens_on_loopback_only(flower):
    _, url = flower
    port = int(url.rsplit(":", 1)[1])
    listening = {
        (address, listen_port)
        for address, listen_port in listening_sockets()
        if listen_port == port
    }
    assert listening == {("127.0.0.1", port)}, listening
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass


def listening_sockets() -> set[tuple[str, int]]:
    """Every TCP socket in LISTEN state on this machine (IPv4 and IPv6), from /proc."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            if state != "0A":  # LISTEN
                continue
            hex_address, hex_port = local.split(":")
            found.add((decode_address(hex_address, width), int(hex_port, 16)))
    return found


def decode_address(hex_address: str, width: int) -> str:
    raw = bytes.fromhex(hex_address)
    if width == 8:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    return socket.inet_ntop(socket.AF_INET6, words)
