# cx-streams: the entry points people remember. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export KAFKA_PORT ?= 9092
export CX_KAFKA_BOOTSTRAP ?= 127.0.0.1:$(KAFKA_PORT)

.PHONY: help install demo test test-unit test-faults test-integration bench bench-smoke lint format kafka-up kafka-down kafka-status topics clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is required (found " + sys.version.split()[0] + "): install it and run make again, or set PYTHON=python3.11.")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing cx-streams and its dependencies into $(VENV) ..."
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e '.[dev,rocksdb]'
	@touch $(STAMP)

install: $(STAMP)  ## create .venv and install the project with its dev tools

demo: $(STAMP)  ## local Kafka + processor + journey generator, alerts shown live (Ctrl-C stops all)
	@bash deploy/local/demo.sh

test: $(STAMP)  ## the whole suite (unit + integration) against a real local Kafka broker
	@bash tests/run.sh

test-unit: $(STAMP)  ## unit tests only (no broker)
	@$(BIN)/python -m pytest -m "not integration" -q

test-faults: $(STAMP)  ## crash, restart, rebalance and fuzz tests at full size (CX_FAULTS_SCALE=full)
	@CX_FAULTS_SCALE=full bash tests/run.sh -m "faults or fuzz"

bench: $(STAMP)  ## throughput, latency, memory, restore on a broker of its own (long): results.json, BENCHMARKS.md
	@$(BIN)/python -m tests.benchmarks.bench $(BENCH_ARGS)

bench-smoke: $(STAMP)  ## the benchmark at tiny sizes, to a temporary file (BENCH_ARGS=... passes options to both)
	@$(BIN)/python -m tests.benchmarks.bench --smoke $(BENCH_ARGS)

lint: $(STAMP)  ## ruff lint + format check, mypy
	@$(BIN)/ruff check streams tests
	@$(BIN)/ruff format --check streams tests
	@$(BIN)/mypy

format: $(STAMP)  ## apply ruff fixes and formatting
	@$(BIN)/ruff check --fix streams tests
	@$(BIN)/ruff format streams tests

kafka-up:  ## start the local single-node Kafka (KRaft) on 127.0.0.1:$KAFKA_PORT
	@bash deploy/kafka/kafka.sh up

kafka-down:  ## stop the local Kafka broker
	@bash deploy/kafka/kafka.sh down

kafka-status:  ## is the local broker running?
	@bash deploy/kafka/kafka.sh status

topics: $(STAMP)  ## create the topics on $CX_KAFKA_BOOTSTRAP
	@$(BIN)/cx-streams topics

clean:  ## remove the virtualenv, caches and local worker data (not the Kafka jars)
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
