"""The tiny training run the trainer, export and evaluation tests share: every one has the same
budget (3 iterations; the learning-rate schedule is compiled in), so they compile one program
and the later ones hit JAX's compilation cache."""
from ppo.agent import PPOConfig
from ppo.train import RunConfig

TINY = PPOConfig(num_envs=4, unroll_length=4, num_minibatches=2, update_epochs=2, hidden=(32, 32))


def tiny_run(out, **kw) -> RunConfig:
    return RunConfig(**{"iterations": 3, "episode_length": 20, "checkpoint_every": 1,
                        "eval_episodes": 4, "out": str(out), **kw})
