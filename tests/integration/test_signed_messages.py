"""Signed messages on a real worker: a signed chain executes; an unsigned message, or one
signed by a key the fleet does not trust, is refused, changes nothing, and the worker
goes on.

One worker subprocess (every pipeline queue, one process) started with the three
STRIKEFLOW_SIGNING_* settings, PostgreSQL, the emulator; the certificates are made here,
self-signed, in a temporary directory. The fleet's client signs with the fleet's key
through the same configuration as the workers; the forgeries are built by hand: a plain
JSON client (no key), a key and certificate outside the store, and an impostor whose
certificate copies the trusted one's issuer and serial (so its signer id is trusted)
with a key of its own.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import redis
from celery import Celery
from celery.result import AsyncResult
from celery.security.certificate import Certificate
from celery.security.key import PrivateKey
from celery.security.serialization import SecureSerializer

from strikeflow.db.engine import dispose_all, engine_for
from strikeflow.db.repositories import ExecutionRepository, RecommendationRepository
from strikeflow.devfleet.emulator import InProcessEmulator
from strikeflow.devfleet.workers import Fleet, FleetConfig, WorkerSpec
from strikeflow.domain.enums import RecommendationStatus
from strikeflow.domain.expiry import NEW_YORK
from strikeflow.services.dispatch_policy import client_order_id_for
from strikeflow.services.manual_signal import manual_recommendation
from strikeflow.sim.serve import EmulatorOptions
from strikeflow.workers import signing
from tests.integration.conftest import empty_tables, worker_dbs
from tests.integration.emulator import KEY, SECRET, poll

MONDAY = datetime(2037, 11, 16, 10, 45, tzinfo=NEW_YORK)
DBS = worker_dbs()
WORKER = WorkerSpec("sf-signed", ("marketdata", "dispatch", "orders", "persistence"))
DEADLINE_S = 30.0
FLEET_SERIAL = 4242  # the impostor copies it (and the name "fleet")
# Each forger's files in pki/<forger>/ (the impostor's carry the fleet's name).
SIGNERS = {"stranger": ("stranger.key", "stranger.pem"), "impostor": ("fleet.key", "fleet.pem")}
PEEK_QUEUE = "sf-signed-peek"  # no worker consumes it: a sent message stays to be read


class SignedFleet:
    """The fleet as its senders see it, with the forgers' keys beside."""

    def __init__(self, fleet: Fleet, url: str, pki: Path) -> None:
        self.fleet, self.url, self.pki = fleet, url, pki
        self.recommendations = RecommendationRepository(engine_for(url))
        self.executions = ExecutionRepository(engine_for(url))
        self._ids = itertools.count(1)

    @property
    def worker(self):
        return self.fleet.workers[WORKER.name]

    def recommend(self) -> str:
        rid = f"signed-{next(self._ids)}"
        self.recommendations.insert(manual_recommendation("MSFT", "BUY", recommendation_id=rid))
        return rid

    def executes(self, rid: str) -> None:
        """Sent signed through strikeflow.dispatch: executed, with its execution row."""
        self.fleet.app.send_task("strikeflow.dispatch", kwargs={"recommendation_id": rid})
        rec = poll(lambda: self.recommendations.get(rid), lambda r: r.status.terminal, DEADLINE_S)
        assert rec.status is RecommendationStatus.EXECUTED, rec.status_reason
        assert self.executions.by_client_order_id(client_order_id_for(rid)) is not None

    def forged(self, rid: str, signer: str) -> str:
        """A dispatch of ``rid`` signed by ``signer``'s key and certificate (pki/signer/)."""
        body = [[], {"recommendation_id": rid}, None]
        key, cert = SIGNERS[signer]
        folder = self.pki / signer
        serializer = SecureSerializer(
            PrivateKey((folder / key).read_text()), Certificate((folder / cert).read_text())
        )
        return self.publish(serializer.serialize(body), signing.AUTH_CONTENT_TYPE)

    def publish(self, body: bytes | str, content_type: str) -> str:
        task_id = str(uuid.uuid4())
        with self.fleet.app.connection_for_write() as conn:
            conn.Producer().publish(
                body,
                routing_key="dispatch",
                content_type=content_type,
                content_encoding="utf-8",
                headers={"task": "strikeflow.dispatch", "id": task_id, "lang": "py"},
            )
        return task_id

    def refusal(self, task_id: str) -> str:
        result = AsyncResult(task_id, app=self.fleet.app)
        poll(lambda: result.state, lambda state: state in ("FAILURE", "SUCCESS"), DEADLINE_S)
        assert result.state == "FAILURE", (result.state, result.result)
        return repr(result.result)

    def untouched(self, rid: str) -> None:
        """Still pending (a refused message names nothing it could change), no row, and
        the same worker consuming: the next signed signal executes."""
        pid = self.worker.pid
        self.executes(self.recommend())
        assert self.recommendations.get(rid).status is RecommendationStatus.PENDING
        assert self.executions.for_recommendation(rid) == []
        assert self.worker.alive()
        assert self.worker.pid == pid

    def log(self) -> str:
        return self.worker.log.read_text(errors="replace")


@pytest.fixture(scope="module")
def signed(postgres_url, tmp_path_factory) -> Iterator[SignedFleet]:
    pki = tmp_path_factory.mktemp("pki")
    key, cert = signing.self_signed(pki / "fleet", "fleet", serial=FLEET_SERIAL)
    signing.self_signed(pki / "stranger", "stranger")
    signing.self_signed(pki / "impostor", "fleet", serial=FLEET_SERIAL)
    store = pki / "store"
    store.mkdir()
    (store / "fleet.pem").write_bytes(cert.read_bytes())

    DBS.flush()
    emulator = InProcessEmulator(
        EmulatorOptions(seed=42, start=MONDAY, api_key=KEY, secret_key=SECRET, fill_delay_s=1.0)
    )
    emulator.start()
    config = FleetConfig(
        database_url=postgres_url,
        emulator_url=emulator.url,
        redis=DBS,
        log_dir=tmp_path_factory.mktemp("signed-logs"),
        api_key=KEY,
        secret_key=SECRET,
        env=signing.signing_env(key, cert, store),
    )
    fleet = Fleet(config)
    try:
        fleet.start_workers([WORKER])  # awaited by a ping: control messages are signed too
        yield SignedFleet(fleet, postgres_url, pki)
    finally:
        fleet.stop()
        emulator.stop()
        DBS.flush()
        dispose_all()


@pytest.fixture(autouse=True)
def empty(signed) -> None:
    empty_tables(signed.url)


def test_a_signed_chain_runs_to_its_execution_row_and_travels_signed(signed):
    assert signed.fleet.app.conf.task_serializer == "auth"
    signed.executes(signed.recommend())

    signed.fleet.app.send_task("strikeflow.dispatch", args=("peek",), queue=PEEK_QUEUE)
    client = redis.Redis(host=DBS.host, port=DBS.port, db=DBS.broker)
    try:
        [raw] = client.lrange(PEEK_QUEUE, 0, -1)
        client.delete(PEEK_QUEUE)
    finally:
        client.close()
    assert json.loads(raw)["content-type"] == signing.AUTH_CONTENT_TYPE  # the envelope


def test_an_unsigned_message_is_refused_and_the_worker_lives(signed):
    rid = signed.recommend()
    sent = signed.fleet.app.send_task(
        "strikeflow.dispatch", kwargs={"recommendation_id": rid}, serializer="json"
    )

    assert "unsigned message refused" in signed.refusal(sent.id)
    signed.untouched(rid)
    assert f"refused strikeflow.dispatch message {sent.id}" in signed.log()


def test_an_unsigned_control_message_gets_no_answer(signed):
    plain = Celery("sf-unsigned-client", set_as_current=False)
    plain.config_from_object(
        {"broker_url": DBS.url(DBS.broker), "result_backend": DBS.url(DBS.backend)}
    )
    try:
        assert plain.control.ping(destination=[signed.worker.node], timeout=1.0) == []
    finally:
        plain.close()
    assert signed.fleet.app.control.ping(destination=[signed.worker.node], timeout=5.0)


@pytest.mark.parametrize(
    ("signer", "why"),
    # Celery 5.7 words a bad signature as a TypeError from its own error handling
    # (celery.security.utils.reraise_errors): refused all the same.
    [("stranger", "Unknown certificate"), ("impostor", "Unable to deserialize")],
)
def test_a_message_signed_by_a_key_the_store_does_not_trust_is_refused(signed, signer, why):
    rid = signed.recommend()
    task_id = signed.forged(rid, signer)

    refusal = signed.refusal(task_id)
    assert "signature not verified" in refusal, refusal
    assert why in refusal, refusal
    signed.untouched(rid)
