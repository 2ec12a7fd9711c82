# Every target sets itself up: a fresh machine needs only python3.
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFIG ?= examples/langgraph.json

.PHONY: install dev test lint bench bench-faults clean

install: $(STAMP)

$(STAMP): requirements/main.txt requirements/dev.txt pyproject.toml
	test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r requirements/main.txt -r requirements/dev.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

dev: $(STAMP)
	$(BIN)/graphyard dev --config $(CONFIG)

lint: $(STAMP)
	$(BIN)/ruff check graphyard tests benchmarks
	$(BIN)/ruff format --check graphyard tests benchmarks
	$(BIN)/mypy

# pytest exits 5 when it collected no test: that is a failure too.
test: lint
	$(BIN)/pytest; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests ran"; exit 1; fi; exit $$rc

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

# Each fault scenario of tests/fault_scenarios.py 5 times against real processes (about 10 minutes).
bench-faults: $(STAMP)
	$(BIN)/python -m benchmarks.faults

# Re-pin after editing requirements/*.in (versions and hashes only, no index URLs).
lock: $(STAMP)
	$(BIN)/pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --strip-extras --generate-hashes --allow-unsafe --no-emit-index-url --no-emit-find-links -o requirements/main.txt requirements/main.in
	$(BIN)/pip-compile --quiet --strip-extras --generate-hashes --allow-unsafe --no-emit-index-url --no-emit-find-links -o requirements/dev.txt requirements/dev.in
	$(BIN)/pip-compile --quiet --strip-extras --generate-hashes --allow-unsafe --no-emit-index-url --no-emit-find-links -o requirements/build.txt requirements/build.in

clean:
	rm -rf $(VENV) .graphyard examples/.graphyard
