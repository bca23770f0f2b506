"""``strikeflow fleet up | status | down`` as a user runs them, one command after another
from the same directory: up returns with every process answering (the five workers seen
by Flower, the emulator's simulated clock at the start asked for, standing still), a
second up is refused, status tells a dead process, down stops the rest (workers with a
warm shutdown) and running it again is harmless. Its own redis-server and database."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from strikeflow.devfleet.background import start_ticks
from strikeflow.devfleet.emulator import free_port
from strikeflow.devfleet.redis_server import RedisServer
from strikeflow.devfleet.stack import STACK_WORKERS
from tests.integration.conftest import create_database  # noqa: F401 (a fixture)
from tests.integration.emulator import poll

AUTH = ("fleet-user", "fleet-pass")
START = "2037-11-16T10:00:00-05:00"
DEADLINE_S = 120.0


@pytest.fixture
def reader(tmp_path, create_database) -> Iterator[dict]:  # noqa: F811
    with RedisServer(tmp_path / "redis.log") as redis_server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STRIKEFLOW_")}
        env |= {
            "STRIKEFLOW_DATABASE_URL": create_database("postgresql"),
            "STRIKEFLOW_BROKER_URL": f"{redis_server.url}/4",
            "STRIKEFLOW_RESULT_BACKEND": f"{redis_server.url}/5",
            "STRIKEFLOW_REDIS_URL": f"{redis_server.url}/6",
        }
        directory = tmp_path / "fleet"
        try:
            yield {"env": env, "dir": directory}
        finally:
            if (directory / "fleet.json").exists():
                fleet(env, "down", "--dir", str(directory))


def fleet(env: dict, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "strikeflow", "fleet", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def sourced(env_file: Path, name: str) -> str:
    shown = subprocess.run(
        ["bash", "-c", f'. "{env_file}" && printf %s "${name}"'],
        capture_output=True,
        text=True,
        check=True,
    )
    return shown.stdout


def test_up_status_down(reader):
    env, directory = reader["env"], reader["dir"]
    flower_port = free_port()
    where = ["--dir", str(directory)]
    up = fleet(env, "up", *where, "--start", START, "--flower", "--flower-port", str(flower_port),
               "--flower-auth", ":".join(AUTH))  # fmt: skip
    assert up.returncode == 0, up.stderr
    state = json.loads((directory / "fleet.json").read_text())
    roles = sorted(p["role"] for p in state["processes"])
    assert roles == sorted(["emulator", "beat", "flower"] + ["worker"] * len(STACK_WORKERS))

    env_file = directory / "env"
    assert sourced(env_file, "STRIKEFLOW_ALPACA_BASE_URL") == state["emulator_url"]
    assert sourced(env_file, "STRIKEFLOW_CLOCK") == "market"
    assert sourced(env_file, "STRIKEFLOW_BROKER_URL") == env["STRIKEFLOW_BROKER_URL"]
    venue = {
        "STRIKEFLOW_ALPACA_BASE_URL": state["emulator_url"],
        "STRIKEFLOW_ALPACA_API_KEY": sourced(env_file, "STRIKEFLOW_ALPACA_API_KEY"),
        "STRIKEFLOW_ALPACA_SECRET_KEY": sourced(env_file, "STRIKEFLOW_ALPACA_SECRET_KEY"),
    }
    shown = subprocess.run(
        [sys.executable, "-m", "strikeflow", "emulator", "clock", "show"],
        env={**env, **venue}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert shown.stdout.startswith("Mon 2037-11-16 10:00:00 EST"), shown

    flower = f"http://127.0.0.1:{flower_port}"

    def workers() -> set[str]:
        reply = requests.get(f"{flower}/api/workers", params={"refresh": 1}, auth=AUTH, timeout=10)
        return {name.split("@")[0] for name in reply.json()} if reply.ok else set()

    poll(workers, lambda names: names >= {s.name for s in STACK_WORKERS}, DEADLINE_S)

    again = fleet(env, "up", *where)
    assert again.returncode == 1
    assert "already up" in again.stderr

    status = fleet(env, "status", *where)
    assert status.returncode == 0, status.stdout
    assert status.stdout.count(" alive ") == len(state["processes"])

    beat = next(p for p in state["processes"] if p["role"] == "beat")
    os.killpg(beat["pid"], signal.SIGKILL)
    poll(lambda: start_ticks(beat["pid"]), lambda ticks: ticks is None, DEADLINE_S)
    status = fleet(env, "status", *where)
    assert status.returncode == 1
    assert [line for line in status.stdout.splitlines() if "DEAD" in line] == [
        line for line in status.stdout.splitlines() if line.startswith("beat ")
    ]

    down = fleet(env, "down", *where)
    assert down.returncode == 0, down.stderr
    assert f"stopped {len(state['processes']) - 1} processes" in down.stdout
    assert [p["pid"] for p in state["processes"] if start_ticks(p["pid"]) is not None] == []
    assert not env_file.exists()
    for spec in STACK_WORKERS:
        assert "Warm shutdown" in (directory / "logs" / f"worker-{spec.name}.log").read_text()
    twice = fleet(env, "down", *where)
    assert twice.returncode == 0
    assert "nothing to stop" in twice.stdout
    assert fleet(env, "status", *where).returncode == 1
