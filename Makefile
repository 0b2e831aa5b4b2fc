# One command each: the first run creates .venv and installs the pinned packages (a few minutes).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)
# Offscreen MuJoCo rendering without a display (EGL); JAX compilation cache between runs.
export MUJOCO_GL ?= egl
export JAX_COMPILATION_CACHE_DIR ?= $(HOME)/.cache/paper_return/jax
ARGS ?=

.PHONY: install test train bench export clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first and exactly: the CPU build on this machine's disk, not a CUDA download.
	$(PY) -m pip install --quiet "torch==2.13.0"
	$(PY) -m pip install --quiet -e ".[dev]"
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q $(ARGS)

train: $(STAMP)
	$(PY) -m ppo.train $(ARGS)

bench: $(STAMP)
	$(PY) benchmarks/env_throughput.py $(ARGS)

# make export CKPT=runs/<name>/checkpoints/<iteration> [OUT=dir] [ARGS=--force]
# (OUT defaults to exports/<name>-<iteration>; CKPT may be a run dir: its latest checkpoint)
export: $(STAMP)
	@test -n "$(CKPT)" || { echo "make export needs CKPT=runs/<name>/checkpoints/<iteration> (or a run dir)" >&2; exit 2; }
	$(PY) -m ppo.export $(CKPT) $(OUT) $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
