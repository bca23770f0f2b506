"""The clock driver against a real emulator over HTTP: simulated time moves only through
it, stops where it was told to, and an outage of the emulator loses no simulated time."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import requests

from strikeflow.devfleet.emulator import ClockDriver, InProcessEmulator
from strikeflow.domain.expiry import NEW_YORK
from strikeflow.sim.serve import EmulatorOptions
from tests.integration.emulator import KEY, SECRET, poll

START = datetime(2037, 11, 16, 10, 0, tzinfo=NEW_YORK)
SPEED = 600.0
DEADLINE_S = 20.0


def emulator() -> InProcessEmulator:
    return InProcessEmulator(EmulatorOptions(seed=1, start=START, api_key=KEY, secret_key=SECRET))


def venue_now(url: str) -> datetime:
    headers = {"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET}
    reply = requests.get(f"{url}/v2/clock", headers=headers, timeout=10)
    reply.raise_for_status()
    return datetime.fromisoformat(reply.json()["timestamp"])


def test_it_moves_the_clock_and_stops_at_until():
    until = START + timedelta(minutes=2)
    with emulator() as emu:
        assert venue_now(emu.url) == START  # nothing moves it but the driver
        driver = ClockDriver(emu.url, KEY, SECRET, speed=SPEED, tick_s=0.05, until=until)
        with driver:
            assert driver.reached.wait(DEADLINE_S), (driver.now, driver.last_error)
        stopped_at = venue_now(emu.url)
        assert stopped_at >= until
        assert stopped_at == driver.now
        assert not driver.running
        assert driver.failures == 0


def test_an_outage_is_counted_and_its_time_caught_up():
    with emulator() as emu, ClockDriver(emu.url, KEY, SECRET, speed=SPEED, tick_s=0.05) as driver:
        poll(lambda: driver.now, lambda now: now is not None, DEADLINE_S)
        emu.stop()
        down_at = time.monotonic()
        poll(lambda: driver.failures, lambda n: n >= 2, DEADLINE_S)
        emu.start()  # a fresh venue: its clock starts at START again
        outage_s = time.monotonic() - down_at
        after = poll(lambda: venue_now(emu.url), lambda now: now > START, DEADLINE_S)
        assert after - START >= timedelta(seconds=outage_s * SPEED)
        assert driver.running
        assert "Connection" in (driver.last_error or "")
