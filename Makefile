# The two commands of the quick start: `make demo` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test services venv unit integration clean sample-config bench bench-forward \
	bench-listing bench-images bench-store bench-k2k docs
# `make` alone regenerates the sample configuration (tests/unit/gateway/test_config.py fails
# while the committed one is out of date).
.DEFAULT_GOAL := sample-config
sample-config: etc/ocx.conf.sample

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip uv
	$(BIN)/uv pip install -q --python $(BIN)/python -e '.[test]'
	touch $@

venv: $(STAMP)

demo: $(STAMP)
	scripts/ensure-services etcd
	$(BIN)/ocx demo --clouds-yaml .ocx/clouds.yaml

services:
	scripts/ensure-services

test: $(STAMP) services
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

# Benchmarks print figures and write them to bench/results/ (BENCH_ARGS=--quick for a short run).
# `bench` runs them all (bench/run.py) and prints the issue's targets next to the figures.
bench: $(STAMP) services
	$(BIN)/python bench/run.py $(BENCH_ARGS)

bench-forward bench-listing bench-images bench-k2k: bench-%: $(STAMP)
	$(BIN)/python bench/$*.py $(BENCH_ARGS)

bench-store: $(STAMP) services
	$(BIN)/python bench/store.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis

# The operator and user guides (doc/source), built as the suite builds them (-W: a warning
# is an error), into doc/build/html.
docs: $(STAMP)
	$(BIN)/sphinx-build -W -q -b html doc/source doc/build/html
	@echo "the guides: doc/build/html/index.html"

# The commented sample configuration, generated from the option definitions.
etc/ocx.conf.sample: ocx/config.py $(STAMP)
	$(BIN)/oslo-config-generator --namespace ocx --wrap-width 79 --output-file $@

# Two real OpenStack clouds on loopback, federated with K2K (tests/real/README.md); their
# endpoints are printed, Ctrl-C stops them.
.PHONY: real-clouds
real-clouds: $(STAMP)
	$(BIN)/python -m tests.real.clouds up
