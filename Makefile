# One command each: the first run creates .venv and installs the pinned packages (a few minutes).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)
# Offscreen MuJoCo rendering without a display (EGL); JAX compilation cache between runs.
export MUJOCO_GL ?= egl
export JAX_COMPILATION_CACHE_DIR ?= $(HOME)/.cache/paper_return/jax
ARGS ?=

.PHONY: install test train bench export base clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first and exactly: the CPU build on this machine's disk, not a CUDA download.
	$(PY) -m pip install --quiet "torch==2.13.0"
	$(PY) -m pip install --quiet -e ".[dev]"
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(STAMP)

# Test files run in WORKERS processes (pytest-xdist, one file per worker at a time: module
# fixtures compile once); JAX compiles single-threaded, so 2 workers use both cores here.
WORKERS ?= 2
test: $(STAMP)
	$(PY) -m pytest -q -n $(WORKERS) --dist loadfile $(ARGS)

train: $(STAMP)
	$(PY) -m ppo.train $(ARGS)

bench: $(STAMP)
	$(PY) benchmarks/env_throughput.py $(ARGS)

# make export CKPT=runs/<name>/checkpoints/<iteration> [OUT=dir] [ARGS=--force]
# (OUT defaults to exports/<name>-<iteration>; CKPT may be a run dir: its latest checkpoint)
export: $(STAMP)
	@test -n "$(CKPT)" || { echo "make export needs CKPT=runs/<name>/checkpoints/<iteration> (or a run dir)" >&2; exit 2; }
	$(PY) -m ppo.export $(CKPT) $(OUT) $(ARGS)

# make base: scripted-expert demos with rendered frames (data/demos, ~12 min on 2 CPU cores),
# then behaviour cloning of the vision chunk policy (bases/bc, ~9 min). Each step runs only
# when its output is missing or older than its input; delete the folder to redo it.
DEMOS ?= data/demos
EPISODES ?= 320
base: bases/bc/policy.safetensors

$(DEMOS)/meta.json: | $(STAMP)
	$(PY) -m bridge.demos --episodes $(EPISODES) --out $(DEMOS) --size 64 --num-envs 32

bases/bc/policy.safetensors: $(DEMOS)/meta.json | $(STAMP)
	$(PY) -m bridge.bc_train --demos $(DEMOS) --out bases/bc --force $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
