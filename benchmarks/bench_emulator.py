"""Requests per second the emulator serves (target: at least 1,000 simple requests per second).

Run: .venv/bin/python benchmarks/bench_emulator.py [seconds-per-endpoint]

The emulator runs as its own process (`strikeflow emulator`), as in the fleet, and so does a
baseline: a bare FastAPI app on uvicorn that answers a constant JSON body, i.e. the ceiling
of the HTTP stack on this machine at this moment. Client threads hold keep-alive
connections. Each endpoint's figure is printed with its ratio to the baseline, which is what
stays comparable on a shared, noisy machine.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager

KEY, SECRET = "bench-key", "bench-secret"
START = "2026-11-19T10:45:00-05:00"
HEADERS = {"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET}
CLIENTS = 4
TARGET_RPS = 1_000

BASELINE_APP = """
import sys, uvicorn
from fastapi import FastAPI
app = FastAPI()
@app.get("/v2/account")
def account():
    return {"id": "00000000-0000-4000-8000-000000000000", "cash": "100000"}
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""

Request = Callable[[int, int], tuple[str, str, bytes | None]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(command: list[str], port: int, deadline_s: float = 30.0):
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        end = time.monotonic() + deadline_s
        while True:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            try:
                conn.request("GET", "/v2/account", headers=HEADERS)
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            finally:
                conn.close()
            if process.poll() is not None or time.monotonic() > end:
                raise RuntimeError(f"server did not start: {process.stderr.read().decode()}")
            time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stderr.close()


def measure(port: int, request: Request, seconds: float) -> float:
    """Requests per second over ``seconds``, from CLIENTS keep-alive connections."""
    counts = [0] * CLIENTS
    failures: list[str] = []
    stop_at = time.perf_counter() + seconds

    def client(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        n = 0
        try:
            while time.perf_counter() < stop_at:
                method, path, body = request(index, n)
                headers = dict(HEADERS, **({"content-type": "application/json"} if body else {}))
                conn.request(method, path, body=body, headers=headers)
                reply = conn.getresponse()
                payload = reply.read()
                if reply.status != 200:
                    failures.append(f"{method} {path}: {reply.status} {payload[:200]!r}")
                    return
                n += 1
        finally:
            conn.close()
        counts[index] = n

    began = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise RuntimeError(failures[0])
    return sum(counts) / (time.perf_counter() - began)


def account(index: int, n: int) -> tuple[str, str, None]:
    return "GET", "/v2/account", None


def snapshot_of(symbol: str) -> Request:
    def request(index: int, n: int) -> tuple[str, str, None]:
        return "GET", f"/v1beta1/options/snapshots?symbols={symbol}", None

    return request


def order(index: int, n: int) -> tuple[str, str, bytes]:
    body = {
        "symbol": "AAPL",
        "qty": 1,
        "side": "buy",
        "type": "market",
        "time_in_force": "day",
        "client_order_id": f"bench-{index}-{n}",
    }
    return "POST", "/v2/orders", json.dumps(body).encode()


def a_contract(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        path = "/v2/options/contracts?underlying_symbols=AAPL&limit=1"
        conn.request("GET", path, headers=HEADERS)
        return json.loads(conn.getresponse().read())["option_contracts"][0]["symbol"]
    finally:
        conn.close()


def emulator_figures(seconds: float = 2.0) -> dict[str, float]:
    figures: dict[str, float] = {}
    base_port = free_port()
    with serving([sys.executable, "-c", BASELINE_APP, str(base_port)], base_port):
        figures["baseline_rps"] = measure(base_port, account, seconds)
    port = free_port()
    command = [
        *(sys.executable, "-m", "strikeflow", "emulator", "--port", str(port)),
        *("--start", START, "--api-key", KEY, "--secret-key", SECRET, "--cash", "1e12"),
    ]
    with serving(command, port):
        contract = a_contract(port)
        figures["account_rps"] = measure(port, account, seconds)
        figures["snapshot_rps"] = measure(port, snapshot_of(contract), seconds)
        figures["order_rps"] = measure(port, order, seconds)
    return figures


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
    figures = emulator_figures(seconds)
    base = figures["baseline_rps"]
    print(f"emulator throughput, {CLIENTS} keep-alive clients, {seconds:g} s per endpoint")
    print(f"  baseline (bare FastAPI JSON) {base:8.0f} req/s")
    for name in ("account", "snapshot", "order"):
        rps = figures[f"{name}_rps"]
        verdict = "ok" if rps >= TARGET_RPS else f"BELOW the {TARGET_RPS} req/s target"
        print(f"  {name:<28} {rps:8.0f} req/s  ({rps / base:.2f} x baseline)  {verdict}")


if __name__ == "__main__":
    main()
