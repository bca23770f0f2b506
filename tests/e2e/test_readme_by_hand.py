"""The README's "pipeline by hand" as a reader runs it: every ```sh block of the section,
word for word, in one bash with ``set -e``, from a directory of its own that holds the
checkout's .venv.

The section's commands honour the environment, so the run is isolated without touching
their text: ``DB_NAME`` names the database it creates (dropped afterwards), and the
STRIKEFLOW_ Redis URLs point the fleet at a redis-server of the test's own on a free
port. The outcome is read back from the database and the venue: the signal executed and
filled, its position listed, and after ``strikeflow fleet down`` no process of the
fleet left. The fleet, the database and the redis-server are torn down even on failure.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from celery import Celery
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from strikeflow.devfleet.background import start_ticks
from strikeflow.devfleet.redis_server import RedisServer
from tests.integration.conftest import ADMIN_URL

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
BEGIN, END = "<!-- pipeline-by-hand -->", "<!-- /pipeline-by-hand -->"
SH_BLOCK = re.compile(r"^```sh\n(.*?)^```$", re.DOTALL | re.MULTILINE)
RUN_DEADLINE_S = 600.0
DOWN_DEADLINE_S = 120.0


def section() -> str:
    readme = README.read_text()
    assert BEGIN in readme, "the README has no pipeline-by-hand section"
    assert END in readme, "the README's pipeline-by-hand section has no end marker"
    body = readme.split(BEGIN, 1)[1].split(END, 1)[0]
    assert "## The pipeline by hand" in body
    return body


def sh_blocks(markdown: str) -> list[str]:
    return [block for block in SH_BLOCK.findall(markdown) if block.strip()]


def test_the_section_s_blocks_are_found():
    blocks = sh_blocks(section())
    assert len(blocks) >= 3, blocks
    script = "\n".join(blocks)
    for command in ("createdb", "strikeflow fleet up", "--wait", "clock advance",
                    "strikeflow positions", "strikeflow fleet down"):  # fmt: skip
        assert command in script, command


@pytest.fixture
def isolated(tmp_path) -> Iterator[dict]:
    """A working directory with the checkout's .venv, its own redis-server, a database
    name; afterwards the fleet is taken down, the database dropped, redis stopped."""
    workdir = tmp_path / "reader"
    workdir.mkdir()
    (workdir / ".venv").symlink_to(ROOT / ".venv")
    db_name = f"strikeflow_readme_{uuid.uuid4().hex[:12]}"
    with RedisServer(tmp_path / "redis.log") as redis_server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STRIKEFLOW_")}
        env.pop("VIRTUAL_ENV", None)
        env |= {
            "DB_NAME": db_name,
            "STRIKEFLOW_BROKER_URL": f"{redis_server.url}/0",
            "STRIKEFLOW_RESULT_BACKEND": f"{redis_server.url}/1",
            "STRIKEFLOW_REDIS_URL": f"{redis_server.url}/2",
        }
        try:
            yield {"dir": workdir, "env": env, "db": db_name, "broker": f"{redis_server.url}/0"}
        finally:
            fleet_dir = workdir / ".strikeflow-fleet"
            if (fleet_dir / "fleet.json").exists():
                subprocess.run(
                    [str(ROOT / ".venv" / "bin" / "strikeflow"), "fleet", "down", "--dir",
                     str(fleet_dir)],
                    env=env, cwd=workdir, timeout=DOWN_DEADLINE_S, check=False,
                )  # fmt: skip
            drop_database(db_name)


def drop_database(name: str) -> None:
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def listening(url: str) -> bool:
    where = urlsplit(url)
    try:
        with socket.create_connection((where.hostname, where.port), timeout=1):
            return True
    except OSError:
        return False


def still_ours(pid: int) -> bool:
    """A live process at ``pid`` that is a fleet process (not a stranger given the pid)."""
    if start_ticks(pid) is None:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"strikeflow" in cmdline or b"celery" in cmdline


def test_the_pipeline_by_hand_runs_as_written(isolated):
    script = "set -e\n" + "\n".join(sh_blocks(section()))
    out = isolated["dir"] / "reader.out"
    with out.open("wb") as handle:
        finished = subprocess.run(
            ["bash", "-c", script],
            cwd=isolated["dir"],
            env=isolated["env"],
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            timeout=RUN_DEADLINE_S,
        )
    printed = out.read_text()
    assert finished.returncode == 0, printed
    assert "Traceback" not in printed, printed

    url = make_url(ADMIN_URL).set(database=isolated["db"])
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            mine = conn.execute(
                text(
                    "SELECT r.id, r.status, e.status AS order_status, e.option_symbol"
                    " FROM recommendations r JOIN dispatch_executions e"
                    " ON e.recommendation_id = r.id"
                    " WHERE r.ticker = 'SPY' AND r.id LIKE 'manual-%'"
                )
            ).all()
    finally:
        engine.dispose()
    assert len(mine) == 1, (mine, printed)
    _, status, order_status, option_symbol = mine[0]
    assert (status, order_status) == ("executed", "filled"), printed
    assert (option_symbol or "").startswith("SPY"), mine
    positions = printed.split("positions (", 1)  # the position book's table
    assert len(positions) == 2, printed
    assert option_symbol in positions[1], printed

    # fleet down left nothing: no process it reported, no venue, no worker answering.
    pids = [int(p) for p in re.findall(r"\bpid (\d+)\b", printed.split("fleet: up", 1)[1])]
    assert len(pids) >= 7, printed  # the emulator, five workers, beat
    assert [pid for pid in pids if still_ours(pid)] == [], printed
    venue = re.search(r"venue \(emulator\)\s+(http://\S+)", printed)
    assert venue is not None, printed
    assert not listening(venue.group(1)), printed
    probe = Celery("probe", broker=isolated["broker"], set_as_current=False)
    try:
        assert probe.control.ping(timeout=1.0) == [], "a worker still answers"
    finally:
        probe.close()
    assert not (isolated["dir"] / ".strikeflow-fleet" / "fleet.json").exists()
