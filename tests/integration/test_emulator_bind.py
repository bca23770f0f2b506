"""The emulator listens on 127.0.0.1 unless told otherwise: `strikeflow emulator` run with
no --host, checked in the kernel's socket table, not in our own configuration."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import requests

from strikeflow.devfleet.emulator import free_port
from strikeflow.devfleet.processes import LoggedProcess
from strikeflow.sim.serve import EmulatorOptions, running_emulator
from tests.integration.emulator import KEY, SECRET


def listening_addresses(port: int) -> set[str]:
    """The local addresses of sockets listening on ``port`` (IPv4 and IPv6)."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, port_hex = local.split(":")
            if state == "0A" and int(port_hex, 16) == port:  # 0A: LISTEN
                raw = bytes.fromhex(address)
                if width == 8:
                    found.add(socket.inet_ntop(socket.AF_INET, raw[::-1]))
                else:
                    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                    found.add(socket.inet_ntop(socket.AF_INET6, words))
    return found


def test_the_emulator_command_binds_loopback_by_default(tmp_path):
    port = free_port()
    command = [sys.executable, "-m", "strikeflow", "emulator", f"--port={port}"]
    emulator = LoggedProcess("emulator", [*command, f"--api-key={KEY}"], tmp_path / "emu.log")
    try:
        emulator.wait_until(lambda: bool(listening_addresses(port)), "listen", 60)
        assert listening_addresses(port) == {"127.0.0.1"}
    finally:
        emulator.stop()


def test_the_in_process_emulator_binds_loopback_by_default():
    options = EmulatorOptions(api_key=KEY, secret_key=SECRET)
    with running_emulator(options) as url:
        port = int(url.rsplit(":", 1)[1])
        assert listening_addresses(port) == {"127.0.0.1"}
        assert requests.get(f"{url}/v2/clock", timeout=10).status_code == 401
