# One command each: the first run creates .venv and installs the pinned packages (a few minutes).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)
# Offscreen MuJoCo rendering without a display (EGL); JAX compilation cache between runs.
export MUJOCO_GL ?= egl
export JAX_COMPILATION_CACHE_DIR ?= $(HOME)/.cache/paper_return/jax
ARGS ?=

.PHONY: install wheelhouse test test-quick train bench export base doctor evaluate tensorboard clean

# tools/install_plan.py (stdlib, the system Python) creates the venv and picks the builds:
# CPU torch and jax where nvidia-smi finds no GPU (no CUDA download), else torch 2.13.0 from
# the PyTorch CUDA index and the JAX CUDA plugin pinned to jax 0.10.2. GPU=no forces the CPU
# builds; `python3 tools/install_plan.py --dry-run` prints the commands.
# WHEELHOUSE=dir: install from a folder written by `make wheelhouse`, with no network
# (pip --no-index --find-links dir).
GPU ?= auto
WHEELHOUSE ?=
$(STAMP): pyproject.toml
	$(PYTHON) tools/install_plan.py --venv $(VENV) --python $(PYTHON) --gpu $(GPU) $(if $(WHEELHOUSE),--wheelhouse $(WHEELHOUSE))
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(STAMP)

# make wheelhouse [PYTHON_VERSION=3.12] [WHEELHOUSE=dir] [ARGS="--cuda cu130"]: every pinned wheel
# (and what it needs, lerobot without its own) for Linux x86-64 and that Python, torch CPU,
# into dir (default .wheelhouse); tools/wheelhouse.py --help for --split (archive in parts).
PYTHON_VERSION ?=
wheelhouse:
	$(PYTHON) tools/wheelhouse.py --out $(or $(WHEELHOUSE),.wheelhouse) $(if $(PYTHON_VERSION),--python-version $(PYTHON_VERSION)) $(ARGS)

# Backend, devices, versions, renderers, free GPU memory, and a fix for each problem found.
doctor:
	@if test -x $(PY); then $(PY) tools/doctor.py; else $(PYTHON) tools/doctor.py; fi

# Test files run in WORKERS processes (pytest-xdist, one file per worker at a time, the long ones
# first: tests/conftest.py LONG_FIRST; module
# fixtures compile once); JAX compiles single-threaded, so 2 workers use both cores here.
WORKERS ?= 2
test: $(STAMP)
	$(PY) -m pytest -q -n $(WORKERS) --dist loadfile --no-loadscope-reorder $(ARGS)

# make test-quick: the tests not marked slow (tests/conftest.py SLOW), for the inner loop; a few
# minutes once the compilation cache is warm (a first run compiles). CI runs `make test`.
test-quick: $(STAMP)
	$(PY) -m pytest -q -n $(WORKERS) --dist loadfile --no-loadscope-reorder -m "not slow" $(ARGS)

train: $(STAMP)
	$(PY) -m ppo.train $(ARGS)

bench: $(STAMP)
	$(PY) -m benchmarks.env_throughput $(ARGS)

# make export CKPT=runs/<name>/checkpoints/<iteration> [OUT=dir] [ARGS=--force]
# (OUT defaults to exports/<name>-<iteration>; CKPT may be a run dir: its latest checkpoint)
export: $(STAMP)
	@test -n "$(CKPT)" || { echo "make export needs CKPT=runs/<name>/checkpoints/<iteration> (or a run dir)" >&2; exit 2; }
	$(PY) -m ppo.export $(CKPT) $(OUT) $(ARGS)

# make evaluate RUN=runs/<name> (or a checkpoint or export dir) [ARGS="--episodes 64 --video 2"]
evaluate: $(STAMP)
	@test -n "$(RUN)" || { echo "make evaluate needs RUN=runs/<name> (or a checkpoint or export dir)" >&2; exit 2; }
	$(PY) -m ppo.evaluate $(RUN) $(ARGS)

# make tensorboard RUN=runs/<name>: TensorBoard's viewer on the run's event files (the viewer is
# the optional [viz] extra, installed on first use; writing the files needs only tensorboardX).
tensorboard: $(STAMP)
	@test -n "$(RUN)" || { echo "make tensorboard needs RUN=runs/<name>" >&2; exit 2; }
	@test -d "$(RUN)" || { echo "make tensorboard: $(RUN) is not a directory" >&2; exit 2; }
	@$(PY) -c "import tensorboard" 2>/dev/null || $(PY) -m pip install --quiet -e ".[viz]"
	$(VENV)/bin/tensorboard --logdir $(RUN) $(ARGS)

# make base: scripted-expert demos with rendered frames (data/demos, ~12 min on 2 CPU cores),
# then behaviour cloning of the vision chunk policy (bases/bc, ~9 min). Each step runs only
# when its output is missing or older than its input; delete the folder to redo it.
DEMOS ?= data/demos
EPISODES ?= 320
base: bases/bc/policy.safetensors

$(DEMOS)/meta.json: | $(STAMP)
	$(PY) -m bc.demos --episodes $(EPISODES) --out $(DEMOS) --size 64 --num-envs 32

bases/bc/policy.safetensors: $(DEMOS)/meta.json | $(STAMP)
	$(PY) -m bc.train --demos $(DEMOS) --out bases/bc --force $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
