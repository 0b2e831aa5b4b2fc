"""Shared fixtures: one small jitted env batch per MJX impl, compiled once per test session."""
from __future__ import annotations

import mjx_env  # noqa: F401  (sets the XLA CPU flag before JAX starts)

import functools
from dataclasses import dataclass

import jax
import jax.numpy as jp
import pytest

from mjx_env import randomize
from mjx_env.paper_return import PaperReturn, make

NUM_ENVS = 4


@dataclass
class Batch:
    """Jitted batched entry points of one env instance (compiled on first use); `num_envs`:
    the batch the helpers make (the env takes its batch from the arrays)."""

    env: PaperReturn
    num_envs: int

    def __post_init__(self):
        self.reset = jax.jit(self.env.reset)
        self.step = jax.jit(self.env.step)

        def reset_to(keys, dr, paper, arm):
            one = functools.partial(self.env.reset_to, batch=keys.shape[0])
            return jax.vmap(one)(keys, dr, paper, arm)
        self.reset_to = jax.jit(reset_to)

    def keys(self, seed: int = 0):
        return jax.random.split(jax.random.PRNGKey(seed), self.num_envs)

    def place(self, paper_qpos, arm_qpos=None, seed: int = 0):
        """Batch with every env's paper at `paper_qpos` (7,) and the arm at home, nominal DR."""
        n = self.num_envs
        arm = jp.asarray(self.env.config.home_qpos if arm_qpos is None else arm_qpos)
        dr = jax.vmap(lambda _: randomize.nominal(self.env.mj_model.nlight))(jp.arange(n))
        return self.reset_to(self.keys(seed), dr, jp.tile(jp.asarray(paper_qpos), (n, 1)),
                             jp.tile(arm, (n, 1)))

    def run(self, state, actions):
        """Step through `actions` (T, num_envs, 6); returns the final state and the states list."""
        states = []
        for a in actions:
            state = self.step(state, a)
            states.append(state)
        return state, states


@pytest.fixture(scope="session")
def jax_batch() -> Batch:
    return Batch(make(impl="jax"), NUM_ENVS)


@pytest.fixture(scope="session")
def warp_batch() -> Batch:
    return Batch(make(impl="warp"), NUM_ENVS)


def paper_at(x: float, y: float, yaw: float = 0.0) -> jax.Array:
    """Free-joint qpos (7,) of the sheet lying flat at (x, y) m with yaw rad."""
    return jp.array([x, y, 0.0005, jp.cos(yaw / 2), 0.0, 0.0, jp.sin(yaw / 2)])


# The files that take minutes (whole trainings, compilations in subprocesses), longest first.
# `make test` runs files on 2 xdist workers in collection order (--dist loadfile
# --no-loadscope-reorder): starting the long ones first lets both workers end together
# instead of one waiting on the other's long tail. The rest keep their order.
LONG_FIRST = ("test_distributed.py", "test_expert.py", "test_sharding.py", "test_paper_return.py",
              "test_ppo_learning.py", "test_contact.py", "test_train.py", "test_gr00t.py",
              "test_gpu_suite.py", "test_ppo.py", "test_brax_compat.py")


# The tests that stay long with a warm compilation cache (measured there on 2 workers: ~30 s or
# more each; whole trainings, long rollouts, subprocesses, programs with host callbacks, which
# JAX never caches), as `<file>::<test name prefix>`: marked `slow`; `make test-quick` runs the
# rest (`pytest -m "not slow"`). CI runs them all.
SLOW = (
    "test_distributed.py::test_two_processes", "test_ppo_learning.py::test_",
    "test_sharding.py::test_one_two_and_four", "test_brax_compat.py::test_", "test_expert.py::test_",
    "test_train.py::test_resume_with_the_printed_command", "test_train.py::test_a_nan_base",
    "test_train.py::test_a_larger_budget", "test_ppo.py::test_vmapped_seeds",
    "test_ppo.py::test_residual_is_exactly_zero_at_alpha_zero", "test_selection.py::test_every_evaluation",
    "test_selection.py::test_the_best_checkpoint", "test_gpu_suite.py::test_smoke_items",
    "test_gr00t.py::test_base_check_reports", "test_gr00t.py::test_random_weights_rollout",
    "test_evaluate_cli.py::test_reports_rates", "test_evaluate_cli.py::test_checkpoint_and_its_export",
    "test_contact.py::test_arm_driven_into_table", "test_bc.py::test_",
    "test_video.py::test_one_frame_per_step", "test_deploy.py::test_sim_robot_loop",
    "test_chunk_cache.py::test_torch_model",
)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long even with a warm compilation cache "
                                       "(tests/conftest.py SLOW; make test-quick leaves it out)")


@pytest.hookimpl(tryfirst=True)  # before -m deselects by markers
def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONG_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
    for item in items:
        if f"{item.path.name}::{item.name}".startswith(SLOW):
            item.add_marker(pytest.mark.slow)
