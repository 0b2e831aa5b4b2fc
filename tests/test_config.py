"""ppo.config: one nested TrainConfig (run, ppo, env, bridge), its unique field names, routing
by name, and config.json round trips (older files included)."""
import dataclasses
import json

import pytest

from bridge.units import BridgeConfig
from mjx_env.config import EnvConfig
from ppo.config import (PPOConfig, RunConfig, SECTIONS, TrainConfig, from_json, section_of,
                        to_json, with_values)


def test_every_leaf_name_is_unique_and_routed_to_its_section():
    where = section_of()
    for section, cls in zip(SECTIONS, (RunConfig, PPOConfig, EnvConfig, BridgeConfig)):
        assert {f.name for f in dataclasses.fields(cls)} == {k for k, s in where.items() if s == section}
    cfg = with_values(TrainConfig(), alpha=0.5, iterations=7, num_envs=8, layout="so100")
    assert (cfg.env.alpha, cfg.run.iterations, cfg.ppo.num_envs, cfg.bridge.layout) == (0.5, 7, 8, "so100")
    assert cfg.run.base == "zero" and cfg.env.episode_length == 300  # the rest untouched
    with pytest.raises(TypeError, match="no config field 'alpah'"):
        with_values(TrainConfig(), alpah=0.5)


def test_alpha_and_the_env_fields_live_in_the_env_only():
    assert not {"alpha", "impl", "episode_length", "terminate_implausible"} & {
        f.name for f in dataclasses.fields(RunConfig)}


def test_config_json_round_trip_and_an_older_file():
    cfg = with_values(TrainConfig(), hidden=(64, 32), paper_distance=(0.06, 0.1), seed=3,
                      base_filter=0.5)
    text = json.dumps({**to_json(cfg), "schedule": {"lr_decay_iterations": 3}})
    assert from_json(json.loads(text)) == cfg  # lists back to tuples, nested randomisation
    old = json.loads(text)
    old["run"].update(alpha=0.7, impl=None, episode_length=300, terminate_implausible=False)
    del old["bridge"], old["run"]["select_every"], old["run"]["select_episodes"]  # before selection
    del old["env"]["base_filter"]  # before the setpoint filter: the law it trained with, none
    assert from_json(old) == with_values(dataclasses.replace(cfg, bridge=BridgeConfig()), base_filter=1.0)
    assert TrainConfig().env.base_filter == 1.0  # off unless asked for


def test_selection_settings_are_run_fields_cheap_by_default_and_larger_on_a_gpu():
    from ppo.config import GPU_SELECT
    run = RunConfig()
    assert (run.select_every, run.select_episodes) == (50, 16)  # a CPU's: 2 evaluations of 100
    assert GPU_SELECT == {"select_every": 10, "select_episodes": 64}  # 15 evaluations of 150
    assert with_values(TrainConfig(), select_every=0).run.select_every == 0  # 0: off
