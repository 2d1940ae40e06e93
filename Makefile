# Two entry points: `make demo` (the pipeline on the embedded genome) and `make test`.
# Both create .venv on first use. On a machine without an NVIDIA GPU, torch is pinned to the
# 2.13.0 CPU build so pip never pulls the multi-GB CUDA wheels.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
TORCH_VERSION ?= 2.13.0
CORES  ?= 2

.PHONY: setup demo test bench

# torch goes in first with --no-deps: only its wheel comes from the CPU index, and its own
# dependencies come from PyPI with the package, so an unreachable extra index costs one lookup.
$(BIN)/genolong: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	if command -v nvidia-smi >/dev/null 2>&1; then \
	  $(BIN)/pip install -q "torch==$(TORCH_VERSION)"; \
	else \
	  $(BIN)/pip install -q --no-deps "torch==$(TORCH_VERSION)" --extra-index-url https://download.pytorch.org/whl/cpu; \
	fi
	$(BIN)/pip install -q -e ".[dev,prodigal]"
	touch $@

setup: $(BIN)/genolong

demo: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake -c$(CORES)

test: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest

bench: setup
	$(BIN)/pip install -q -e ".[bench]"
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python benchmarks/encoders.py --json benchmarks/encoders.json
