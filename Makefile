# Secure inmate kiosk and learning platform. `make help` lists the targets.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show this help
	@grep -E '^[a-z][a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

.PHONY: install
install: $(STAMP) ## Create the virtual environment and install the project with its tools

.PHONY: test-deps
test-deps: ## Install Debian's chromium, chromium-driver and nginx, and axe-core, for the browser tests
	@scripts/install-test-deps

.PHONY: run
run: $(STAMP) ## Migrate, load demo data and serve the portal on :8000 and the staff app on :8001 (SQLite)
	$(BIN)/kiosk db upgrade
	$(BIN)/kiosk demo
	$(BIN)/kiosk serve --kiosk-bind 127.0.0.1:8000 --admin-bind 127.0.0.1:8001

.PHONY: stack
stack: $(STAMP) ## Production-like stack: nginx + client certificates, 2 gunicorn servers per app, PostgreSQL, Redis
	$(BIN)/kiosk stack

.PHONY: test
test: $(STAMP) test-deps ## Run the whole test suite (on PostgreSQL when KIOSK_TEST_DATABASE_URL is set)
	$(if $(KIOSK_TEST_DATABASE_URL),KIOSK_TEST_DATABASE_URL=$(KIOSK_TEST_DATABASE_URL)) $(BIN)/pytest

.PHONY: test-pg
test-pg: ## Run the whole test suite against the local PostgreSQL
	KIOSK_TEST_DATABASE_URL=$(PG_URL) $(MAKE) test

BENCH_PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/kiosk_bench

.PHONY: bench-deps
bench-deps: ## Install Debian's wrk (and nginx) for the benchmark
	@scripts/install-bench-deps

.PHONY: bench
bench: $(STAMP) bench-deps ## Benchmark on SQLite and PostgreSQL (~10 min; BENCH_DURATION, BENCH_SCALE, ... in bench/README.md)
	@createdb -h 127.0.0.1 -U postgres kiosk_bench 2>/dev/null || true
	BENCH_PG_URL=$(BENCH_PG_URL) $(BIN)/python -m bench

.PHONY: bench-sqlite
bench-sqlite: $(STAMP) bench-deps ## Benchmark on SQLite only
	BENCH_DATABASES=sqlite $(BIN)/python -m bench

.PHONY: bench-pg
bench-pg: $(STAMP) bench-deps ## Benchmark on PostgreSQL only (database kiosk_bench, or BENCH_PG_URL)
	@createdb -h 127.0.0.1 -U postgres kiosk_bench 2>/dev/null || true
	BENCH_DATABASES=postgresql BENCH_PG_URL=$(BENCH_PG_URL) $(BIN)/python -m bench

.PHONY: bench-quick
bench-quick: $(STAMP) bench-deps ## A one-minute benchmark on little data, to try the harness
	BENCH_DATABASES=sqlite BENCH_SCALE=0.05 BENCH_DURATION=3 BENCH_WARMUP=1 \
		BENCH_TERMINAL_DURATION=5 BENCH_TERMINAL_TARGET=200 BENCH_TERMINAL_STEPS=2 \
		$(BIN)/python -m bench

.PHONY: lint
lint: $(STAMP) ## ruff (with security rules), ruff format, mypy --strict, translation completeness
	$(BIN)/ruff check kiosk admin bench tests scripts
	$(BIN)/ruff format --check kiosk admin bench tests scripts
	$(BIN)/mypy
	$(BIN)/python scripts/catalog.py check

.PHONY: translations
translations: $(STAMP) ## Extract texts, update every catalog, compile, and list what is untranslated
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k _ -k gettext -k ngettext:1,2 \
		--no-location --sort-output --project=kiosk --version=0.1 \
		--msgid-bugs-address=security@example.invalid -o kiosk/translations/messages.pot .
	$(BIN)/pybabel update -i kiosk/translations/messages.pot -d kiosk/translations \
		--no-wrap --ignore-obsolete --ignore-pot-creation-date
	$(BIN)/pybabel compile -d kiosk/translations --statistics
	-$(BIN)/python scripts/catalog.py check

.PHONY: format
format: $(STAMP) ## Format and auto-fix the code
	$(BIN)/ruff check --fix kiosk admin bench tests scripts
	$(BIN)/ruff format kiosk admin bench tests scripts

.PHONY: clean
clean: ## Remove the virtual environment, caches and test output (never the instance folder)
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .test-artifacts *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
