"""What a worker process imports: its pool processes start with what their Runtime
needs already imported, and importing the app connects to nothing.

``startup.preload_runtime_modules`` runs in the worker's main process (``worker_init``),
before the pool forks. If ``bootstrap.build_runtime`` grows a dependency the list does
not name, every pool process imports it again after fork (alpaca-py alone, with pandas,
costs about 0.7 s of CPU a process): this test names what was left out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json, sys
import strikeflow.workers.app
from strikeflow import bootstrap
from strikeflow.workers import startup
if sys.argv[1] == "preload":
    startup.preload_runtime_modules()
loaded = set(sys.modules)
bootstrap.build_runtime()
print(json.dumps(sorted(set(sys.modules) - loaded)))
"""


ENV = {
    "STRIKEFLOW_DATABASE_URL": "postgresql+psycopg2://nobody@127.0.0.1:9/none",
    "STRIKEFLOW_ALPACA_API_KEY": "preload-key",
    "STRIKEFLOW_ALPACA_SECRET_KEY": "preload-secret",
    "STRIKEFLOW_ALPACA_BASE_URL": "http://127.0.0.1:9",
}


def imported_by_build_runtime(preload: bool) -> list[str]:
    """The modules build_runtime imports in a fresh worker-like process (nothing connects:
    the runtime opens its connections on first use)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STRIKEFLOW_")}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "preload" if preload else "bare"],
        env={**clean, **ENV},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_runtime_on_alpaca_and_postgresql_imports_nothing_new_after_preload():
    assert imported_by_build_runtime(preload=True) == []


def test_without_preload_the_probe_sees_the_imports():
    """The probe can fail: without the preload, the Alpaca adapter is imported late."""
    assert "strikeflow.broker_adapters.alpaca.adapter" in imported_by_build_runtime(preload=False)


def test_the_app_imports_without_connecting():
    # A broker nobody listens on: an import that connected would hang or fail.
    env = {**os.environ, "STRIKEFLOW_BROKER_URL": "redis://127.0.0.1:1/0"}
    code = (
        "from strikeflow.workers.app import app\n"
        "import strikeflow.tasks\n"
        "assert app._pool is None\n"
        "print(app.conf.broker_url, app.conf.task_default_queue)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["redis://127.0.0.1:1/0", "dispatch"]
