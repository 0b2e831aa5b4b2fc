"""The run's settings (`RunConfig`): what `python -m ppo.train` trains and how it keeps it.

Apart from the trainer so that the export and the evaluation read a run's config.json without
importing it. PPO's settings are `ppo.agent.PPOConfig`, the env's `mjx_env.config.EnvConfig`.
"""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class RunConfig:
    base: str = "zero"
    base_horizon: int | None = None  # control steps per base chunk (default: scripted 1, else 16)
    base_refresh: str | None = None  # chunk cache rule: per_env | sync (default: models sync)
    alpha: float = 0.7
    terminate_implausible: bool = False  # end an episode on an implausible state, with a penalty
    iterations: int = 100
    episode_length: int = 300
    impl: str | None = None
    seed: int = 0
    devices: int | None = None  # devices the envs are split over (None: all, every process's)
    checkpoint_every: int = 10
    keep: int = 3  # checkpoints kept: the newest ones (the final one included)
    eval_episodes: int = 64
    video: int = 2  # episodes of the evaluation filmed into eval.mp4 at the end (0: none)
    out: str = "runs/ppo"
