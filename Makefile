# chaoskit: `make demo` runs the flagship example, `make test` runs the whole suite.
# Both create .venv (with the python3 on PATH) and install chaoskit into it when needed.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.chaoskit-installed
PYTEST_ARGS ?=

.PHONY: install demo test lint typecheck bench system-deps node-deps clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/python examples/workflow_engine/main.py

system-deps:
	@bash scripts/system-deps.sh

node-deps:
	@if [ -f tests/netchaos/node/package.json ] && [ ! -d tests/netchaos/node/node_modules ]; then \
		npm install --silent --no-audit --no-fund --prefix tests/netchaos/node; fi

test: install system-deps node-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check chaoskit tests examples benchmarks
	$(BIN)/ruff format --check chaoskit

typecheck: install
	$(BIN)/mypy chaoskit

bench: install system-deps
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .venv-3.* .pytest_cache .mypy_cache .ruff_cache
