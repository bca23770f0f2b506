"""docs/configuration.md is what ``strikeflow.config_doc`` writes from Settings, every
field carries its meaning and readers, and every STRIKEFLOW_ name the docs mention is a
setting that exists."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from strikeflow.config import Settings
from strikeflow.config_doc import PREFIX, allowed_values, env_name, readers, render, undocumented

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "configuration.md"
# Pages and files that name settings to a reader.
NAMING = [ROOT / "README.md", ROOT / ".env.example", *sorted((ROOT / "docs").glob("*.md"))]
NAME = re.compile(rf"\b{PREFIX}[A-Z0-9_]*[A-Z0-9]\b")
# STRIKEFLOW_ variables that are not settings, and the one file that reads each.
NOT_SETTINGS = {
    "STRIKEFLOW_BENCH_REDIS": ROOT / "benchmarks" / "bench_pipeline.py",
    "STRIKEFLOW_DEBUG": ROOT / "strikeflow" / "cli" / "failures.py",
}
# Who may read a setting: the vocabulary of the page's "read by" column.
PROCESSES = ("workers: ", "cli: ", "beat", "flower", "demo", "emulator")
SETTINGS = {env_name(name) for name in Settings.model_fields}


def test_the_page_is_the_generators_output():
    assert PAGE.read_text() == render(), (
        "docs/configuration.md is stale: run `make docs` "
        "(python -m strikeflow.config_doc > docs/configuration.md)"
    )


def test_the_module_prints_the_page():
    run = [sys.executable, "-m", "strikeflow.config_doc"]
    out = subprocess.run(run, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert (out.returncode, out.stderr) == (0, "")
    assert out.stdout == render()


def test_every_setting_has_a_meaning_and_readers():
    assert undocumented(Settings) == []


def test_every_reader_is_a_known_process():
    odd = {
        (name, who)
        for name, field in Settings.model_fields.items()
        for who in readers(field)
        if not who.startswith(PROCESSES)
    }
    assert not odd


def test_every_setting_has_its_section_with_default_and_readers():
    page = render()
    for name, field in Settings.model_fields.items():
        section = page.split(f"## `{env_name(name)}`\n", 1)
        assert len(section) == 2, env_name(name)
        body = section[1].split("\n## ", 1)[0]
        assert " ".join(field.description.split()) in body
        assert "- default: " in body
        assert "- read by: " + "; ".join(readers(field)) in body


def test_a_field_without_description_or_readers_is_reported():
    class Careless(BaseSettings):
        model_config = SettingsConfigDict(env_prefix=PREFIX)
        documented: int = Field(
            default=1, description="fine", json_schema_extra={"read_by": ["beat"]}
        )
        silent: int = 2
        nameless: int = Field(default=3, json_schema_extra={"read_by": ["beat"]})
        unread: int = Field(default=4, description="nobody reads it")

    assert undocumented(Careless) == [
        "STRIKEFLOW_SILENT: no description (Field(description=...))",
        "STRIKEFLOW_SILENT: no readers (json_schema_extra read_by)",
        "STRIKEFLOW_NAMELESS: no description (Field(description=...))",
        "STRIKEFLOW_UNREAD: no readers (json_schema_extra read_by)",
    ]


def test_values_come_from_the_type_and_bounds():
    fields = Settings.model_fields
    assert allowed_values(fields["clock"]) == "one of `wall`, `market`"
    assert allowed_values(fields["risk_max_open_positions"]) == "an integer ≥ 0 and ≤ 1000000"
    assert allowed_values(fields["retry_deadline_s"]) == "a number ≥ 2 and ≤ 120"
    assert allowed_values(fields["alpaca_connect_timeout_s"]) == "a number > 0 and ≤ 60"
    assert allowed_values(fields["alpaca_paper"]) == "`true` or `false`"
    assert allowed_values(fields["database_url"]) is None


def test_every_documented_name_is_a_setting():
    unknown = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in NAMING
        for name in NAME.findall(path.read_text())
        if name not in SETTINGS and name not in NOT_SETTINGS
    }
    assert not unknown, "names no Settings field: " + ", ".join(sorted(unknown))


def test_the_names_that_are_not_settings_are_read_where_they_say():
    for name, reader in NOT_SETTINGS.items():
        assert name not in SETTINGS
        assert name in reader.read_text(), f"{name} is not read by {reader}"


def test_the_name_pattern_finds_names():
    """The scan above would pass vacuously if the pattern matched nothing."""
    found = set(NAME.findall(PAGE.read_text()))
    assert found == SETTINGS | {"STRIKEFLOW_DEBUG"}
    assert NAME.findall("set STRIKEFLOW_NOT_A_SETTING=1") == ["STRIKEFLOW_NOT_A_SETTING"]
