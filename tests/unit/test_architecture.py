"""Enforces the import table of docs/architecture.md by walking every module's AST.

Each layer may import the standard library, its own layer, the domain (everything
depends on the domain, never the reverse), and what its row of the table lists. A
module that belongs to no layer fails the test: new places must be added to the table.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "strikeflow"
STDLIB = frozenset(sys.stdlib_module_names) | {"__future__"}
PURE_NUMERICS = frozenset({"numpy", "scipy"})
ANYTHING = None

# layer -> (strikeflow modules it may import, third-party top-level packages it may import)
RULES: dict[str, tuple[frozenset[str], frozenset[str] | None]] = {
    "domain": (frozenset(), PURE_NUMERICS),
    "signals": (frozenset(), PURE_NUMERICS),
    # pydantic: the steps' typed messages and their one codec (services.messages).
    "services": (frozenset({"signals"}), PURE_NUMERICS | {"pydantic", "pydantic_core"}),
    "broker_adapters": (
        frozenset({"services.ports"}),
        frozenset({"alpaca", "requests", "urllib3"}),  # urllib3: the pool under requests
    ),
    # services.query_ports: the command line's reads and the schema, implemented here.
    "db": (
        frozenset({"services.ports", "services.query_ports"}),
        frozenset({"sqlalchemy", "alembic", "psycopg2"}),
    ),
    # The app's own shared state (kill switch, scan claims, cool-downs): Redis, or one
    # process's memory. services.kill_switch: the switch's state and failure, as the
    # command line reads them.
    "app_state": (frozenset({"services.ports", "services.kill_switch"}), frozenset({"redis"})),
    "config": (frozenset(), frozenset({"pydantic", "pydantic_settings"})),
    # Writes docs/configuration.md from the Settings fields.
    "config_doc": (frozenset({"config"}), frozenset({"pydantic", "annotated_types"})),
    # The composition root only wires: the adapters (broker_adapters, db, app_state) and
    # the rule set (signals) into the services' contexts, from config. It opens no client
    # of its own.
    "bootstrap": (
        frozenset({"config", "broker_adapters", "db", "app_state", "services", "signals"}),
        frozenset(),
    ),
    "tasks": (frozenset({"services", "bootstrap"}), frozenset({"celery", "kombu"})),
    # pyarrow: the store of recorded market data the emulator replays (recorded_store).
    "sim": (
        frozenset(),
        PURE_NUMERICS | {"fastapi", "uvicorn", "starlette", "pydantic", "pyarrow"},
    ),
    "workers": (ANYTHING, ANYTHING),
    "cli": (ANYTHING, ANYTHING),
    # The local fleet launcher (tests, demo, benchmarks, chaos) starts workers and the
    # emulator: like workers and cli, an outer edge.
    "devfleet": (ANYTHING, ANYTHING),
    "__main__": (ANYTHING, ANYTHING),
    "__init__": (frozenset(), frozenset()),
}

# Outer layers that may import anything but these: the command line reaches the
# database and the app's Redis state only through bootstrap and services.
FORBIDDEN: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "cli": (frozenset({"db", "app_state"}), frozenset({"redis"})),
}


def layer_of(module: str) -> str:
    """'strikeflow.domain.occ' -> 'domain'; 'strikeflow' -> '__init__'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) for every import in ``path``, relative ones resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
    return found


def violation(layer: str, target: str) -> str | None:
    """Why importing ``target`` from ``layer`` breaks the table, or None if it may."""
    allowed_internal, allowed_external = RULES[layer]
    forbidden_internal, forbidden_external = FORBIDDEN.get(layer, (frozenset(), frozenset()))
    top = target.split(".")[0]
    if top == "strikeflow" and layer_of(target) in forbidden_internal:
        return f"{layer} may not import {target} (it goes through bootstrap and services)"
    if top in forbidden_external:
        return f"{layer} may not import third-party {top!r} (it goes through bootstrap)"
    if top == "strikeflow":
        if target == "strikeflow":
            return None
        target_layer = layer_of(target)
        rel = target.split(".", 1)[1]
        if target_layer in (layer, "domain") or allowed_internal is ANYTHING:
            return None
        if any(rel == ok or rel.startswith(ok + ".") for ok in allowed_internal):
            return None
        return f"{layer} may not import strikeflow.{rel}"
    if top in STDLIB or allowed_external is ANYTHING or top in allowed_external:
        return None
    return f"{layer} may not import third-party {top!r}"


def package_modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_module_belongs_to_a_known_layer():
    unknown = [str(p) for p in package_modules() if layer_of(module_name(p)) not in RULES]
    assert not unknown, f"modules outside every layer of docs/architecture.md: {unknown}"


def test_the_walk_finds_the_package():
    names = {module_name(p) for p in package_modules()}
    assert {"strikeflow.domain.pricing", "strikeflow.domain.occ", "strikeflow.cli"} <= names


@pytest.mark.parametrize("path", package_modules(), ids=lambda p: module_name(p))
def test_imports_follow_the_table(path: Path):
    layer = layer_of(module_name(path))
    broken = [
        f"{path.name}:{line}: {why}"
        for line, target in imports_of(path)
        if (why := violation(layer, target))
    ]
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize(
    ("layer", "target"),
    [
        ("domain", "celery"),
        ("domain", "sqlalchemy.orm"),
        ("domain", "strikeflow.broker_adapters.alpaca"),
        ("domain", "strikeflow.sim.option_chain"),
        ("services", "redis"),
        ("services", "strikeflow.db.repositories"),
        ("signals", "strikeflow.services.ports"),
        ("sim", "strikeflow.broker_adapters.alpaca.adapter"),
        ("sim", "alpaca"),
        ("broker_adapters", "strikeflow.db.tables"),
        ("db", "alpaca.trading.client"),
        ("tasks", "strikeflow.db.tables"),
        ("bootstrap", "strikeflow.tasks.dispatch"),
        ("bootstrap", "strikeflow.workers.app"),
        ("bootstrap", "celery"),
        ("tasks", "strikeflow.workers.config"),
        ("tasks", "redis"),
        ("bootstrap", "redis"),
        ("cli", "strikeflow.db.engine"),
        ("cli", "strikeflow.db"),
        ("cli", "redis"),
        ("cli", "redis.exceptions"),
        ("cli", "strikeflow.app_state.in_redis"),
        ("app_state", "strikeflow.db.repositories"),
        ("app_state", "strikeflow.services.scan"),
        ("db", "strikeflow.app_state"),
        ("services", "strikeflow.app_state"),
        ("services", "strikeflow.config"),
    ],
)
def test_the_checker_refuses_forbidden_imports(layer, target):
    assert violation(layer, target) is not None


@pytest.mark.parametrize(
    ("layer", "target"),
    [
        ("domain", "numpy"),
        ("domain", "strikeflow.domain.models"),
        ("services", "strikeflow.services.ports"),
        ("broker_adapters", "strikeflow.services.ports"),
        ("sim", "strikeflow.domain.pricing"),
        ("tasks", "celery"),
        ("cli", "rich.table"),
        ("bootstrap", "strikeflow.services.dispatch_policy"),
        ("tasks", "strikeflow.bootstrap"),
        ("workers", "kombu"),
        ("bootstrap", "strikeflow.app_state"),
        ("app_state", "redis"),
        ("app_state", "strikeflow.services.ports"),
        ("app_state", "strikeflow.services.kill_switch"),
        ("db", "strikeflow.services.query_ports"),
        ("cli", "strikeflow.bootstrap"),
        ("cli", "strikeflow.services.queries"),
        ("cli", "sqlalchemy.exc"),
        ("cli", "strikeflow.workers.app"),
    ],
)
def test_the_checker_allows_the_table(layer, target):
    assert violation(layer, target) is None


def test_relative_imports_are_resolved(tmp_path, monkeypatch):
    pkg = tmp_path / "strikeflow" / "domain"
    pkg.mkdir(parents=True)
    module = pkg / "thing.py"
    module.write_text("from ..broker_adapters import alpaca\nfrom . import occ\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path / "strikeflow")
    targets = {t for _, t in imports_of(module)}
    assert "strikeflow.broker_adapters.alpaca" in targets
    assert "strikeflow.domain.occ" in targets
    assert violation("domain", "strikeflow.broker_adapters.alpaca")
