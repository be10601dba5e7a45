# `make demo` and `make test` build their own virtual environment from the pinned set first.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN = $(VENV)/bin
STAMP = $(VENV)/.edgeopt-installed

.PHONY: demo sweep test test-all bench compile clean

$(STAMP): requirements.lock pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/edgeopt demo --output edgeopt-demo

sweep: $(STAMP)
	$(BIN)/edgeopt sweep --demo --output edgeopt-sweep

test: $(STAMP)
	$(BIN)/pytest -q

test-all: $(STAMP)
	$(BIN)/pytest -q -m "slow or not slow"

bench: $(STAMP)
	$(BIN)/python bench/stages.py

compile: $(STAMP)
	$(BIN)/python -m edgeopt.pipelines.edge_optimize
	$(BIN)/python -m edgeopt.pipelines.edge_sweep

clean:
	rm -rf $(VENV) edgeopt-demo edgeopt-sweep
