# spot-ingest: every target runs `setup` first, which is idempotent and fast when warm.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STACK := $(PY) services/stack.py
PYTEST_ARGS ?=

DNSDECODE := build/dnsdecode
DNSDECODE_SRC := $(wildcard pipelines/dns/dnsdecode/*.go) pipelines/dns/dnsdecode/go.mod

.PHONY: setup tools jars services services-status services-down test demo bench clean

setup: $(VENV)/.installed tools jars $(DNSDECODE)

# Debian packages first: some Python packages (gssapi, krb5) build against libkrb5-dev.
$(VENV)/.installed: requirements.txt | tools
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing Python packages into $(VENV)"
	@$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	@touch $@

tools:
	@services/install-tools.sh

# The fast DNS decoder: Go's standard library only (no module to fetch: GOPROXY=off), no cgo,
# built with the go that services/install-tools.sh installs (Debian's golang-go).
$(DNSDECODE): $(DNSDECODE_SRC) | tools
	@echo "building $@ (Go)"
	@cd pipelines/dns/dnsdecode && GOTOOLCHAIN=local GOPROXY=off CGO_ENABLED=0 \
		go build -trimpath -o $(CURDIR)/$@ .

jars: $(VENV)/.installed
	@services/fetch-jars.sh $$($(PY) -c 'from importlib.metadata import version; print(version("pyspark"))') \
	  $$($(PY) -c 'import importlib.util, os; s = importlib.util.find_spec("pyspark"); print(os.path.join(list(s.submodule_search_locations)[0], "jars"))')

services: setup
	@$(STACK) start

services-status: setup
	@$(STACK) status

services-down: setup
	@$(STACK) stop

# Starts the stack when it is not running, runs every test, and stops again what it started.
# Every test: three pytest sessions, two of them side by side (tests/sessions.py says which);
# PYTEST_ARGS="..." runs one session instead, with those arguments.
test: setup
	@if $(STACK) status --quiet; then was_up=yes; else was_up=no; fi; \
	$(STACK) start || exit 1; \
	if [ -n "$(PYTEST_ARGS)" ]; then SPOT_INGEST_REQUIRE_SERVICES=1 $(PY) -m pytest $(PYTEST_ARGS) tests; \
	else SPOT_INGEST_REQUIRE_SERVICES=1 $(PY) tests/sessions.py; fi; rc=$$?; \
	if [ $$was_up = no ]; then $(STACK) stop; fi; \
	exit $$rc

# The pipelines end to end on the embedded default (ingest_conf.json).
demo: services
	@$(PY) -m pipelines.demo $(DEMO_ARGS)

# Benchmarks (not tests): every comparison side by side, a table, bench/results.json.
# Sizes and choices: make bench BENCH_ARGS="--flow-sizes 100000,1000000 --profile" (python -m bench -h).
bench: services
	@$(PY) -m bench $(BENCH_ARGS)

clean: services-down
	rm -rf var build
