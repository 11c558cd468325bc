# The two commands: `make run` and `make test`. Both set everything up and are idempotent.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000

.PHONY: run test fuzz install browser wrk pgbouncer lint format bench bench-smoke bench-micro soak clean

$(BIN)/.installed: requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing the pinned dependencies into $(VENV) (hash-checked; a minute or two the first time)..."
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	@touch $@

install: $(BIN)/.installed

# A Debian package a command needs, installed when root; otherwise a warning of what is missed.
# $(call debian_package,COMMAND,WHAT NEEDS IT)
define debian_package
	@command -v $(1) >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(1) >/dev/null; \
	  else \
	    echo "warning: $(1) is not installed; $(2)"; \
	  fi; }
endef

# Admin browser tests drive Debian's Chromium (no browser download).
browser:
	$(call debian_package,chromium,admin browser tests will be skipped)

# `make bench` drives the server with Debian's wrk (a compiled load generator).
wrk:
	$(call debian_package,wrk,make bench and its smoke test need it)

# Without DATABASE_URL: the embedded default (SQLite, tasks in process, demo data, Django's
# development server). With it: production (DEBUG off unless DJANGO_DEBUG=1), no demo data,
# static files collected and gunicorn serving (WEB_CONCURRENCY workers, PORT).
run: install
	$(BIN)/python manage.py migrate --noinput
	@if [ -z "$$DATABASE_URL" ]; then $(BIN)/python manage.py seed_demo --if-empty; fi
	exec $(BIN)/python manage.py serve --port $(PORT)

# The test defaults (DATABASE_URL, REDIS_URL, ...) are pytest's own: tests/environment.py.
# What the caller sets (in the environment or as `make test VAR=...`) is passed on and wins.
# The PgBouncer test runs Debian's pgbouncer in transaction pooling mode.
pgbouncer:
	$(call debian_package,pgbouncer,the PgBouncer test needs it)

test: install browser wrk pgbouncer
	$(BIN)/python -m tests.preflight
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The schema-driven test with many more examples per operation, each role's token, in
# process against the test database (no server, no network). FUZZ_EXAMPLES per operation.
FUZZ_EXAMPLES ?= 300
fuzz: install
	$(BIN)/python -m tests.preflight
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest tests/api_fuzz $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# One command: a throw-away bench database, gunicorn + a Celery worker, wrk and pgbench.
# make bench BENCH_ARGS="--scale large"    (see bench/README.md)
BENCH_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/omnistock_bench
bench: export DATABASE_URL := $(BENCH_DATABASE_URL)
bench: install wrk
	$(BIN)/python bench/run.py $(BENCH_ARGS)

bench-smoke: export DATABASE_URL := $(BENCH_DATABASE_URL)
bench-smoke: install wrk
	$(BIN)/python bench/run.py --scale smoke --clients 1 --seconds 1 --hot-clients 2 \
	  --routing-repeat 20 --drain-timeout 20 $(BENCH_ARGS)

# The in-process harnesses: stock_reserve, availability and checkout on one hot row.
bench-micro: export DATABASE_URL := $(BENCH_DATABASE_URL)
bench-micro: install
	$(BIN)/python bench/reserve_hot_sku.py $(BENCH_RESERVE_ARGS)
	$(BIN)/python bench/availability.py $(BENCH_AVAILABILITY_ARGS)
	$(BIN)/python bench/checkout.py $(BENCH_CHECKOUT_ARGS)

# Minutes of mixed user journeys against gunicorn and a real worker, then every invariant.
# make soak SOAK_ARGS="--minutes 10 --clients 16"    (see bench/README.md)
SOAK_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/omnistock_bench_soak
soak: export DATABASE_URL := $(SOAK_DATABASE_URL)
soak: install
	$(BIN)/python bench/soak.py $(SOAK_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
