"""A training run's settings as one nested config, `TrainConfig(run, ppo, env, bridge)`, and
the rules that read and write it (the CLI, config.json).

Every leaf field has a name unique across the four sections, so the command line is generated
from it (`--<field-name>`, e.g. `--alpha` is `env.alpha`, `--num-envs` is `ppo.num_envs`) and
`with_values(cfg, alpha=0.5, iterations=3)` routes each value to its section. Apart from the
trainer so that the export and the evaluation read a run's config.json without importing it.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from bridge.units import BridgeConfig
from mjx_env.config import EnvConfig, RandomizationConfig, check_finite_fields


@dataclass(frozen=True)
class RunConfig:
    """What is trained on (the base) and how the run is kept: budget, devices, outputs."""

    base: str = "zero"
    base_horizon: int | None = None  # control steps per base chunk (default: scripted 1, else 16)
    base_refresh: str | None = None  # chunk cache rule: per_env | sync (default: models sync)
    iterations: int = 100
    seed: int = 0
    devices: int | None = None  # devices the envs are split over (None: all, every process's)
    checkpoint_every: int = 10
    keep: int = 3  # checkpoints kept: the newest ones (the final one included)
    eval_episodes: int = 64
    # best-checkpoint selection (ppo.selection): every select_every iterations and at the last,
    # select_episodes fixed-seed episodes of the deterministic policy (0: off); the base alone
    # once on the same episodes. eval.json and the export of the run dir take the best. These
    # defaults are a CPU's (cheap); `ppo.train` uses GPU_SELECT on a GPU.
    select_every: int = 50
    select_episodes: int = 16
    video: int = 2  # episodes of the evaluation filmed into eval.mp4 at the end (0: none)
    out: str = "runs/ppo"


@dataclass(frozen=True)
class PPOConfig:
    """PPO settings. The defaults are the one-GPU defaults chosen by the sweep recorded in
    `benchmarks/results/learning_gpu.json`; `ppo.train` lowers num_envs / num_minibatches on a
    CPU (`CPU_DEFAULTS`)."""

    num_envs: int = 4096
    unroll_length: int = 16  # control steps per env per iteration
    learning_rate: float = 3e-4
    lr_final_fraction: float = 0.1  # linear decay to this fraction over the run's iterations
    gamma: float = 0.97
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    vf_coef: float = 0.5
    ent_coef: float = 1e-2
    max_grad_norm: float = 0.5
    update_epochs: int = 8
    num_minibatches: int = 32
    hidden: tuple[int, ...] = (256, 256)
    init_log_std: float = -0.5  # pre-squash std 0.61 at the start
    # iterations at the start in which only the critic learns (the actor's loss terms weigh 0):
    # the value of the base's own behaviour is learnt before the residual moves
    critic_warmup: int = 0


# What a CPU can run in minutes (it shows learning; the task needs a GPU's batch).
CPU_DEFAULTS = {"num_envs": 32, "num_minibatches": 8}
# The selection on one GPU (`ppo.train`'s defaults there): 15 evaluations of 150 iterations.
GPU_SELECT = {"select_every": 10, "select_episodes": 64}


@dataclass(frozen=True)
class TrainConfig:
    """The whole run: `run` (RunConfig), `ppo` (PPOConfig), `env` (mjx_env EnvConfig: the scene,
    the control law's alpha, episode length, MJX impl), `bridge` (BridgeConfig: model bases)."""

    run: RunConfig = field(default_factory=RunConfig)
    ppo: PPOConfig = field(default_factory=PPOConfig)
    env: EnvConfig = field(default_factory=EnvConfig)
    bridge: BridgeConfig = field(default_factory=BridgeConfig)


SECTIONS = ("run", "ppo", "env", "bridge")


def section_of() -> dict[str, str]:
    """{leaf field name: section} over the four sections (names are unique; `randomization`,
    EnvConfig's nested RandomizationConfig, is one leaf)."""
    out: dict[str, str] = {}
    for section in SECTIONS:
        for f in dataclasses.fields(TrainConfig.__dataclass_fields__[section].default_factory):
            if f.name in out:
                raise TypeError(f"field {f.name!r} is in both {out[f.name]} and {section}")
            out[f.name] = section
    return out


def with_values(cfg: TrainConfig, **values) -> TrainConfig:
    """`cfg` with each value set in its section (`with_values(cfg, alpha=0.5, iterations=3)`);
    an unknown name is a TypeError."""
    where, by_section = section_of(), {}
    for name, value in values.items():
        if name not in where:
            raise TypeError(f"no config field {name!r}")
        by_section.setdefault(where[name], {})[name] = value
    return dataclasses.replace(cfg, **{s: dataclasses.replace(getattr(cfg, s), **v)
                                       for s, v in by_section.items()})


def to_json(cfg: TrainConfig) -> dict:
    """The nested dict written to config.json (tuples as lists)."""
    return dataclasses.asdict(cfg)


# Fields an older config.json kept in "run" that now live in "env" only (same values there).
_MOVED_TO_ENV = ("alpha", "impl", "episode_length", "terminate_implausible")


def from_json(config: dict) -> TrainConfig:
    """The TrainConfig of a config.json (JSON lists back to tuples); TypeError/KeyError if it
    does not fit this code's dataclasses."""
    tup = lambda d: {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}  # noqa: E731
    run = {k: v for k, v in config["run"].items() if k not in _MOVED_TO_ENV}
    env = {"base_filter": 1.0, **config["env"]}  # written before the filter existed: none
    rnd = RandomizationConfig(**tup(env.pop("randomization")))
    return TrainConfig(RunConfig(**run), PPOConfig(**tup(config["ppo"])),
                       EnvConfig(**tup(env), randomization=rnd),
                       BridgeConfig(**tup(config.get("bridge", {}))))


def validate_ppo(cfg: PPOConfig) -> PPOConfig:
    """`cfg`, or ValueError naming the first bad field (before anything compiles)."""
    check_finite_fields(cfg)
    rules = [("num_envs", cfg.num_envs >= 1, ">= 1"), ("unroll_length", cfg.unroll_length >= 1, ">= 1"),
             ("learning_rate", cfg.learning_rate > 0, "> 0"),
             ("lr_final_fraction", 0 <= cfg.lr_final_fraction <= 1, "in [0, 1]"),
             ("gamma", 0 < cfg.gamma <= 1, "in (0, 1]"), ("gae_lambda", 0 <= cfg.gae_lambda <= 1, "in [0, 1]"),
             ("clip_eps", cfg.clip_eps > 0, "> 0"), ("vf_coef", cfg.vf_coef >= 0, ">= 0"),
             ("ent_coef", cfg.ent_coef >= 0, ">= 0"), ("max_grad_norm", cfg.max_grad_norm > 0, "> 0"),
             ("update_epochs", cfg.update_epochs >= 1, ">= 1"),
             ("critic_warmup", cfg.critic_warmup >= 0, ">= 0"),
             ("num_minibatches", cfg.num_minibatches >= 1
              and cfg.num_envs * cfg.unroll_length % cfg.num_minibatches == 0,
              f"in 1..num_envs x unroll_length ({cfg.num_envs * cfg.unroll_length}) and divide it "
              "(no sample dropped)"),
             ("hidden", len(cfg.hidden) >= 1 and all(w >= 1 for w in cfg.hidden), "widths >= 1")]
    for name, ok, what in rules:
        if not ok:
            raise ValueError(f"{name} must be {what}, got {getattr(cfg, name)!r}")
    return cfg
