# Two commands: `make demo` (the example under opentelemetry-instrument, against moto on loopback) and
# `make test` (the whole suite). Each builds its own virtualenv on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

test: $(STAMP)
	bash scripts/ensure_postgres.sh
	bash scripts/ensure_redis.sh
	bash scripts/ensure_pgbouncer.sh
	bash scripts/ensure_prometheus.sh
	bash scripts/ensure_chromium.sh
	$(BIN)/ruff check src tests scripts bench examples
	$(BIN)/mypy src
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/bench_spans.py
	$(BIN)/python bench/bench_startup.py
	$(BIN)/python bench/bench_boto3.py
	$(BIN)/python bench/bench_flask.py
	$(BIN)/python bench/bench_hosts.py
	$(BIN)/python bench/bench_memory.py
	$(BIN)/python bench/bench_report.py
	$(BIN)/python bench/bench_store.py
	$(BIN)/python bench/bench_snapshot.py
	$(BIN)/python bench/bench_reconcile.py

lint: $(STAMP)
	$(BIN)/ruff check src tests scripts bench examples
	$(BIN)/mypy src
	$(BIN)/ruff format --check src

clean:
	rm -rf $(VENV) .demo
