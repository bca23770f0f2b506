# The two commands of the README's Quick start. Each one creates or refreshes .venv,
# installs strikeflow with its dev extra, then runs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall whenever the package metadata changes.
$(STAMP): $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# A compressed trading day of the whole pipeline in one process: the emulator, SQLite
# (strikeflow-demo.db), Celery on memory:// with a worker thread. Nothing but Python.
demo: $(STAMP)
	$(BIN)/strikeflow demo

test: $(STAMP)
	scripts/ensure-services
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_pricing.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .hypothesis

# docs/configuration.md from strikeflow.config.Settings (PHONY: a docs/ directory exists).
.PHONY: docs
docs: $(STAMP)
	$(BIN)/python -m strikeflow.config_doc > docs/configuration.md.tmp && mv docs/configuration.md.tmp docs/configuration.md
