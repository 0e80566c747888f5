# The two first commands of the README: `make demo` and `make test`. Both set up on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Prefect's ephemeral API server: no telemetry offline, and time for first-run migrations.
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export DO_NOT_TRACK ?= 1
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 90

.PHONY: setup demo test test-fast lint bench clean-demo

setup: $(STAMP)

# Where torch comes from. Empty: pip's own indexes, where torch==2.13.0 for Linux x86_64 is the CUDA
# build (unless a local CPU wheel is found first, as on this project's machines). For the CPU build:
# `make setup TORCH_INDEX=https://download.pytorch.org/whl/cpu`; for a CUDA build other than PyPI's,
# that index's cuXYZ folder (e.g. https://download.pytorch.org/whl/cu128).
TORCH_INDEX ?=

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(if $(TORCH_INDEX),$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt \
		--index-url $(TORCH_INDEX) torch)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev,dask]"
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[align]" 2>/dev/null \
		|| echo "note: eflomal (the statistical aligner) not installed: it needs a C compiler; everything else works"
	$(PY) -m nmt.model.native
	touch $(STAMP)

demo: setup
	$(PY) -m flows.demo

test: setup
	$(PY) -m pytest

test-fast: setup
	$(PY) -m pytest -m "not slow"

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
