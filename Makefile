# Every target sets itself up: a fresh machine needs only python3.
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFIG ?= examples/langgraph.json

.PHONY: install dev test test-fast lint bench bench-lock bench-faults bench-scale bench-park bench-soak clean

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
	$(BIN)/lint-imports --no-cache

# pytest exits 5 when it collected no test: that is a failure too.
test: lint
	$(BIN)/pytest; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests ran"; exit 1; fi; exit $$rc

# The default while developing (under 2 minutes): the tests marked `core` and not `slow`, without
# lint. `make test` (the whole suite, lint first) before pushing; markers in pyproject.toml.
test-fast: $(STAMP)
	$(BIN)/pytest -m "core and not slow"; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests ran"; exit 1; fi; exit $$rc

# graphyard beside the reference (`langgraph dev`, in its own venv) and the bare floor; see
# docs/benchmarks.md. Options go in BENCH_ARGS, e.g. make bench BENCH_ARGS=--quick.
REF_VENV := benchmarks/.reference-venv
REF_STAMP := $(REF_VENV)/.installed
# The official Temporal LangGraph plugin's worker, in its own venv likewise.
PLUGIN_VENV := benchmarks/.plugin-venv
PLUGIN_STAMP := $(PLUGIN_VENV)/.installed
BENCH_ARGS ?=

$(REF_STAMP): benchmarks/reference-requirements.txt
	test -x $(REF_VENV)/bin/python || python3 -m venv $(REF_VENV)
	$(REF_VENV)/bin/pip install --quiet --require-hashes -r benchmarks/reference-requirements.txt
	touch $(REF_STAMP)

$(PLUGIN_STAMP): benchmarks/plugin-requirements.txt
	test -x $(PLUGIN_VENV)/bin/python || python3 -m venv $(PLUGIN_VENV)
	$(PLUGIN_VENV)/bin/pip install --quiet --require-hashes -r benchmarks/plugin-requirements.txt
	touch $(PLUGIN_STAMP)

bench: $(STAMP) $(REF_STAMP) $(PLUGIN_STAMP)
	$(BIN)/python -m benchmarks.run --reference-venv $(REF_VENV) --plugin-venv $(PLUGIN_VENV) $(BENCH_ARGS)

# Each fault scenario of tests/fault_scenarios.py 5 times against real processes (about 10 minutes).
bench-faults: $(STAMP)
	$(BIN)/python -m benchmarks.faults

# Every hot call on an empty database and again once it is filled with SIZE runs (100k, 1m: 100,000
# threads, 1,000,000 runs, 10,000,000 stream events, 1,000,000 checkpoints), then the soak
# (bench-soak) for SOAK_MINUTES (0: none); docs/performance.md.
SIZE ?= 100k
SOAK_MINUTES ?= 20
bench-scale: $(STAMP)
	$(BIN)/python -m benchmarks.scale --size $(SIZE)
	if [ "$(SOAK_MINUTES)" != 0 ]; then $(BIN)/python -m benchmarks.soak --minutes $(SOAK_MINUTES) $(SOAK_ARGS); fi

# Park COUNT runs at an interrupt, watch them wait, resume them all at once (docs/performance.md).
COUNT ?= 1000
bench-park: $(STAMP)
	$(BIN)/python -m benchmarks.park --count $(COUNT) $(PARK_ARGS)

# Steady chain runs for MINUTES with short retention; Postgres table sizes every minute.
MINUTES ?= 20
bench-soak: $(STAMP)
	$(BIN)/python -m benchmarks.soak --minutes $(MINUTES) $(SOAK_ARGS)

# Re-pin after editing requirements/*.in (versions and hashes only, no index URLs).
lock: $(STAMP)
	$(BIN)/pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --strip-extras --generate-hashes --allow-unsafe --no-emit-index-url --no-emit-find-links -o requirements/main.txt requirements/main.in
	$(BIN)/pip-compile --quiet --strip-extras --generate-hashes --allow-unsafe --no-emit-index-url --no-emit-find-links -o requirements/dev.txt requirements/dev.in
	$(BIN)/pip-compile --quiet --strip-extras --generate-hashes --allow-unsafe --no-emit-index-url --no-emit-find-links -o requirements/build.txt requirements/build.in

# Re-pin the reference's and the plugin's venvs after editing benchmarks/*-requirements.in.
bench-lock: $(STAMP)
	$(BIN)/pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --strip-extras --generate-hashes --allow-unsafe --no-emit-index-url --no-emit-find-links -o benchmarks/reference-requirements.txt benchmarks/reference-requirements.in
	$(BIN)/pip-compile --quiet --strip-extras --generate-hashes --allow-unsafe --no-emit-index-url --no-emit-find-links -o benchmarks/plugin-requirements.txt benchmarks/plugin-requirements.in

clean:
	rm -rf $(VENV) $(REF_VENV) $(PLUGIN_VENV) .graphyard examples/.graphyard
