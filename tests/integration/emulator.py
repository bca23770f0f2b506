"""Driving an in-process emulator from tests: its clock, its faults, its audit."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

import requests

from strikeflow.domain.expiry import NEW_YORK

KEY, SECRET = "test-key-id", "test-secret-key"
START = datetime(2026, 11, 19, 10, 45, tzinfo=NEW_YORK)  # a Thursday morning
T = TypeVar("T")


class EmulatorHandle:
    """The emulator's own controls (clock, faults, audit), with the keys it accepts."""

    def __init__(self, url: str, key: str = KEY, secret: str = SECRET) -> None:
        self.url = url
        self.session = requests.Session()
        self.session.headers.update({"APCA-API-KEY-ID": key, "APCA-API-SECRET-KEY": secret})

    def advance(self, **body) -> dict:
        reply = self.session.post(f"{self.url}/_sim/clock", json=body, timeout=10)
        reply.raise_for_status()
        return reply.json()

    def faults(self, **settings) -> dict:
        reply = self.session.post(f"{self.url}/_sim/faults", json=settings, timeout=10)
        reply.raise_for_status()
        return reply.json()

    def audit(self) -> list[dict]:
        reply = self.session.get(f"{self.url}/_sim/orders", timeout=30)
        reply.raise_for_status()
        return reply.json()


def poll(
    fetch: Callable[[], T], ready: Callable[[T], bool], deadline_s: float = 10.0, what: str = ""
) -> T:
    """Fetch until ``ready`` holds, or fail at the deadline naming ``what`` (no fixed
    sleeps)."""
    end = time.monotonic() + deadline_s
    while True:
        value = fetch()
        if ready(value):
            return value
        if time.monotonic() > end:
            raise AssertionError(f"{what or 'not ready'}: not after {deadline_s} s: {value!r}")
        time.sleep(0.02)
