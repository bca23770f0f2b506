"""``strikeflow emulator clock`` against a real emulator over HTTP, run as a user runs it
(its own process, the URL and keys from STRIKEFLOW_ settings), and ``strikeflow
emulator --port 0`` announcing the port it actually serves on."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import requests

from strikeflow.devfleet.emulator import InProcessEmulator, free_port
from strikeflow.domain.expiry import NEW_YORK
from strikeflow.sim.serve import EmulatorOptions
from tests.integration.emulator import KEY, SECRET, poll

START = datetime(2026, 12, 4, 15, 50, tzinfo=NEW_YORK)  # a Friday, ten minutes before the close
NEXT_OPEN = datetime(2026, 12, 7, 9, 30, tzinfo=NEW_YORK)
DEADLINE_S = 60.0


@pytest.fixture
def emulator() -> Iterator[InProcessEmulator]:
    options = EmulatorOptions(seed=3, start=START, api_key=KEY, secret_key=SECRET)
    with InProcessEmulator(options) as emu:
        yield emu


def clock(url: str | None, *args: str, key: str = KEY) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRIKEFLOW_")}
    env |= {"STRIKEFLOW_ALPACA_API_KEY": key, "STRIKEFLOW_ALPACA_SECRET_KEY": SECRET}
    if url is not None:
        env["STRIKEFLOW_ALPACA_BASE_URL"] = url
    command = [sys.executable, "-m", "strikeflow", "emulator", "clock", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def venue_now(url: str) -> datetime:
    headers = {"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET}
    return datetime.fromisoformat(
        requests.get(f"{url}/v2/clock", headers=headers, timeout=10).json()["timestamp"]
    )


def test_show_advance_and_set_move_the_venue_s_clock(emulator):
    shown = clock(emulator.url, "show")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == "Fri 2026-12-04 15:50:00 EST (2026-12-04T20:50:00+00:00) · market open\n"

    ahead = clock(emulator.url, "advance", "20m")
    assert ahead.returncode == 0, ahead.stderr
    assert venue_now(emulator.url) == START + timedelta(minutes=20)
    assert "16:10:00 EST" in ahead.stdout
    assert "market closed" in ahead.stdout

    opened = clock(emulator.url, "set", "next-open")
    assert opened.returncode == 0, opened.stderr
    assert venue_now(emulator.url) == NEXT_OPEN
    assert "Mon 2026-12-07 09:30:00 EST" in opened.stdout

    later = NEXT_OPEN + timedelta(hours=1, minutes=15)
    moved = clock(emulator.url, "set", later.isoformat())
    assert moved.returncode == 0, moved.stderr
    assert venue_now(emulator.url) == later


def test_the_venue_s_refusals_are_one_line_and_exit_1(emulator):
    back = clock(emulator.url, "set", (START - timedelta(hours=1)).isoformat())
    wrong_keys = clock(emulator.url, "show", key="not-the-key")
    for failed, said in ((back, "only moves forward"), (wrong_keys, "refused the keys")):
        assert failed.returncode == 1, failed
        assert failed.stdout == ""
        assert len(failed.stderr.strip().splitlines()) == 1, failed.stderr
        assert said in failed.stderr
        assert "Traceback" not in failed.stderr
    assert venue_now(emulator.url) == START  # nothing moved


def test_an_unreachable_or_unset_emulator_is_one_line_and_exit_1():
    nowhere = clock(f"http://127.0.0.1:{free_port()}", "show")
    unset = clock(None, "advance", "1m")
    for failed, said in ((nowhere, "cannot reach the emulator"), (unset, "ALPACA_BASE_URL")):
        assert failed.returncode == 1, failed
        assert len(failed.stderr.strip().splitlines()) == 1, failed.stderr
        assert said in failed.stderr


def test_port_0_announces_the_port_it_serves_on(tmp_path):
    log = tmp_path / "emulator.out"
    with log.open("wb") as handle:
        server = subprocess.Popen(
            [sys.executable, "-m", "strikeflow", "emulator", "--port", "0", "--api-key", KEY,
             "--secret-key", SECRET, "--start", START.isoformat()],
            stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        announced = poll(
            lambda: re.search(r"on (http://127\.0\.0\.1:(\d+)) ", log.read_text()),
            lambda found: found is not None or server.poll() is not None,
            DEADLINE_S,
        )
        assert announced is not None, log.read_text()
        url, port = announced.group(1), int(announced.group(2))
        assert port != 0
        now = poll(lambda: _answer(url), lambda found: found is not None, DEADLINE_S)
        assert now == START
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def _answer(url: str) -> datetime | None:
    try:
        return venue_now(url)
    except requests.RequestException:
        return None
