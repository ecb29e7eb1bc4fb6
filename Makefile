# Every target works on a fresh clone: the venv is created on first use.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export STOCK_HOME ?= $(CURDIR)/.stock_home
export DAGSTER_HOME ?= $(abspath $(STOCK_HOME))/dagster

TRITON_VENV := .venv-triton
TRITON_STAMP := $(TRITON_VENV)/.installed

.PHONY: setup test test-fast dev triton clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade --quiet pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

# The Triton bundled in nvidia-pytriton pins numpy<2: it gets a venv of its own.
$(TRITON_STAMP):
	test -x $(TRITON_VENV)/bin/python || $(PYTHON) -m venv $(TRITON_VENV)
	$(TRITON_VENV)/bin/pip install --quiet nvidia-pytriton==0.7.0 onnxruntime==1.32.0 numpy==1.26.4
	touch $(TRITON_STAMP)

setup: $(STAMP) $(TRITON_STAMP)

test: $(STAMP) $(TRITON_STAMP)
	$(BIN)/pytest -q

test-fast: $(STAMP) $(TRITON_STAMP)
	$(BIN)/pytest -q -m "not slow"

dev: $(STAMP)
	mkdir -p "$(DAGSTER_HOME)"
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

# A real Triton on 127.0.0.1:8000 (HTTP) / 8001 (gRPC), explicit model control, serving the
# published stock_predictor versions; the deploy sensor loads new ones.
triton: $(STAMP) $(TRITON_STAMP)
	PYTHONPATH=$(CURDIR) $(TRITON_VENV)/bin/python -m stock_serving.triton_local.serve --load

clean:
	rm -rf $(VENV) $(TRITON_VENV) .stock_home
