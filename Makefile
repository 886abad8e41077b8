# One task runner. Every target sets itself up from a clean clone: venv, pip, npm.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

NODE_STAMP := tests/node_modules/.installed

.PHONY: install test unit lint typecheck demo bench clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found (set PYTHON=...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(NODE_STAMP): tests/package.json tests/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "error: npm not found: the Bull interop tests need Node.js"; exit 1; }
	cd tests && npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

install: $(STAMP) $(NODE_STAMP)

test: $(STAMP) $(NODE_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -m "not slow" --cov=queue_router --cov=backends --cov=activities --cov=workflows --cov-report=term:skip-covered

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

PERCENTAGE ?= 25
JOBS ?= 3000

demo: $(STAMP)
	$(BIN)/python -m queue_router.testing.demo --percentage $(PERCENTAGE) --jobs $(JOBS)

bench: $(STAMP) $(NODE_STAMP)
	$(BIN)/python benchmarks/bench_enqueue.py
	$(BIN)/python benchmarks/bench_vs_node.py
	$(BIN)/python benchmarks/bench_vs_node.py --loop uvloop
	$(BIN)/python benchmarks/bench_memory.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache tests/node_modules
