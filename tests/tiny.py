"""The tiny training run the trainer, export and evaluation tests share: every one has the same
budget (3 iterations; the learning-rate schedule is compiled in), so they compile one program
and the later ones hit JAX's compilation cache. No checkpoint selection (it compiles an
evaluation program of its own) unless a test asks (test_selection, test_train's resume test).

On MuJoCo Warp (impl="warp", the GPU default): the trainer does not depend on the impl, and a
Warp program compiles ~3x faster on a CPU (its physics is one FFI call into kernels Warp has
compiled once, not XLA code: a tiny run from an empty JAX cache 15 s against 51 s on the jax
impl, measured with Warp's kernels already built), while stepping slower (a few dozen steps
here). The jax impl, the CPU default, is trained in test_ppo_learning, test_sharding and
test_distributed: GSPMD splits the jax impl's XLA code over devices, while Warp's FFI call it
cannot split (it gathers every env onto each device: measured, docs/scaling.md), so those tests
would not test the split."""
from ppo.config import PPOConfig, TrainConfig, with_values

TINY = PPOConfig(num_envs=4, unroll_length=4, num_minibatches=2, update_epochs=2, hidden=(32, 32))


def tiny_run(out, **kw) -> TrainConfig:
    """The tiny run writing to `out`; `kw`: any config field by name (`ppo.config.with_values`)."""
    return with_values(TrainConfig(ppo=TINY), **{"iterations": 3, "episode_length": 20,
                                                 "checkpoint_every": 1, "eval_episodes": 4,
                                                 "select_every": 0, "impl": "warp",
                                                 "out": str(out), **kw})
