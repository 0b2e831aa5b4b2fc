"""The tiny training run the trainer, export and evaluation tests share: every one has the same
budget (3 iterations; the learning-rate schedule is compiled in), so they compile one program
and the later ones hit JAX's compilation cache. No checkpoint selection (it compiles an
evaluation program of its own) unless a test asks (test_selection, test_train's resume test)."""
from ppo.config import PPOConfig, TrainConfig, with_values

TINY = PPOConfig(num_envs=4, unroll_length=4, num_minibatches=2, update_epochs=2, hidden=(32, 32))


def tiny_run(out, **kw) -> TrainConfig:
    """The tiny run writing to `out`; `kw`: any config field by name (`ppo.config.with_values`)."""
    return with_values(TrainConfig(ppo=TINY), **{"iterations": 3, "episode_length": 20,
                                                 "checkpoint_every": 1, "eval_episodes": 4,
                                                 "select_every": 0,
                                                 "out": str(out), **kw})
