# spotopt — the two commands a newcomer needs are `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-postgres test-kube kube-apiserver lint format migrate run worker schedules clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

# Everything at once: venv, migrations, moto server (demo AWS), seed, schedules, django-q2 cluster, web.
demo: install
	bash scripts/run_demo.sh

# The test suite (SQLite unless DATABASE_URL points elsewhere; CI uses PostgreSQL).
test: install
	$(BIN)/pytest

test-postgres: install
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/spotopt} $(BIN)/pytest

# A real kube-apiserver for the Kubernetes tests and the demo: built once from Debian's source, cached in
# ~/.cache/spotopt/kube (never in the repository). Without it the Kubernetes tests are skipped.
kube-apiserver:
	bash scripts/kube_apiserver.sh

# Only the tests that run against the real kube-apiserver.
test-kube: install kube-apiserver
	SPOTOPT_REQUIRE_KUBE=1 $(BIN)/pytest -m kube

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

migrate: install
	$(BIN)/python manage.py migrate

run: install
	$(BIN)/python manage.py runserver

worker: install
	$(BIN)/python manage.py qcluster

schedules: install
	$(BIN)/python manage.py setup_schedules

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .ruff_cache
