"""Export of a trained residual (ppo.export) and its trainer-free loaders (policy.exported).

One tiny run (3 iterations, the shapes of tests/test_ppo.py, so JAX's compilation cache hits)
trained once and exported once per module."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jp
import numpy as np
import pytest

import ppo.export as export_mod
from mjx_env import control
from ppo.checkpoint import latest_checkpoint, restore_params
from ppo.export import export, jax_exported, main
from policy.exported import ExportError, integrity_record, load, load_exported, to_torch
from ppo.train import train
from tiny import TINY, tiny_run



@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """(agent, final state, run dir) of the tiny default run (zero base)."""
    out = tmp_path_factory.mktemp("run")
    agent, ts, _ = train(tiny_run(out), progress=False)
    return agent, ts, out


@pytest.fixture(scope="module")
def exported(run, tmp_path_factory):
    return export(latest_checkpoint(run[2]), tmp_path_factory.mktemp("exports") / "tiny", log=lambda s: None)


@pytest.fixture(scope="module")
def policy(exported):
    return load(exported)


def inputs(agent, ts, n_random=60, seed=0):
    """Real observations of the run's envs plus random ones (B, 25), base actions (B, 6) rad."""
    k1, k2 = jax.random.split(jax.random.PRNGKey(seed))
    obs = jp.concatenate([ts.env_state.obs, 0.5 * jax.random.normal(k1, (n_random, 25))])
    env = agent.env
    base = jax.random.uniform(k2, (obs.shape[0], 6), minval=env.joint_lower, maxval=env.joint_upper)
    return obs, base


def trainer_target(agent, ts):
    """The env's control law on the trainer's deterministic residual, jitted like the policy
    (params as arguments, not constants that XLA may fold at compile time)."""
    cfg, env = agent.env.config, agent.env

    @jax.jit
    def target(params, stats, obs, base):
        residual = agent.deterministic_residual(params, stats, obs, base * agent.base.active)
        return jp.clip(base + control.residual_scale(cfg, agent.base.active) * residual,
                       env.joint_lower, env.joint_upper)
    return lambda obs, base: target(ts.params, ts.stats, obs, base)


def test_params_restore_from_a_relative_checkpoint_path(run, monkeypatch):
    """`make train ARGS="--out runs/x"` keeps an earlier checkpoint and restores it by a path
    relative to the working directory (orbax itself accepts absolute paths only)."""
    agent, ts, out = run
    monkeypatch.chdir(out.parent)
    params, stats = restore_params(Path(out.name) / "checkpoints" / "3", TINY)
    for a, b in zip(jax.tree.leaves(ts.params), jax.tree.leaves(params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_policy_gives_the_trainers_deterministic_actions_exactly(run, policy):
    agent, ts, _ = run
    obs, base = inputs(agent, ts)
    want = trainer_target(agent, ts)
    got = policy(obs, base)
    assert got.shape == (obs.shape[0], 6) and got.dtype == jp.float32
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want(obs, base)))
    np.testing.assert_array_equal(np.asarray(policy(obs[0], base[0])), np.asarray(want(obs[0], base[0])))
    np.testing.assert_array_equal(np.asarray(policy(np.asarray(obs, np.float64), base)), np.asarray(got))


def test_zero_base_holds_the_given_target_and_ignores_it_as_input(run, policy):
    agent, ts, _ = run
    assert agent.base.name == "zero" and policy.base_active == 0.0
    obs = ts.env_state.obs
    home = jp.broadcast_to(jp.asarray(agent.env.config.home_qpos), (obs.shape[0], 6))
    step = policy(obs, home) - home  # the residual step, the same whatever target is held
    moved = policy(obs, home + 0.1) - (home + 0.1)
    np.testing.assert_allclose(np.asarray(moved), np.asarray(step), atol=1e-6)
    assert np.abs(np.asarray(step)).max() <= policy.scale + 1e-7
    assert np.abs(np.asarray(step)).max() > 0  # a trained residual, not zeros


def test_manifest_describes_the_policy(run, exported):
    agent, _, run_dir = run
    m = json.loads((exported / "manifest.json").read_text())
    ckpt = latest_checkpoint(run_dir)
    assert m["training_config"] == json.loads((ckpt / "config.json").read_text())
    assert (m["obs_size"], m["policy_input_size"], m["joint_order"][0]) == (25, 31, "shoulder_pan")
    assert [o["unit"] for o in m["observation"]] == ["rad", "rad/s", "m", "unitless", "m", "m"]
    assert m["action"]["joint_lower"] == [float(x) for x in agent.env.joint_lower]
    assert (m["action"]["alpha"], m["action"]["action_scale"]) == (0.7, 0.05)
    assert m["base_policy"] == {**m["base_policy"], "name": "zero", "horizon": 16, "active": 0.0}
    assert m["network"]["hidden"] == [32, 32] and m["network"]["activation"] == "swish"
    assert {"jax", "flax", "orbax-checkpoint", "mujoco", "numpy", "python"} <= set(m["versions"])
    assert m["source"]["iteration"] == 3 and len(m["params"]["sha256"]) == 64
    assert [o["description"] for o in m["observation"]][4].startswith("goal vector")


@pytest.mark.parametrize("spec, identity", [
    ("scripted:0.05", {"name": "scripted:0.05", "horizon": 1, "active": 1.0}),  # built, not a model
    ("gr00t:some/checkpoint", {"name": "gr00t:some/checkpoint", "horizon": None, "active": 1.0}),
])
def test_manifest_base_identity(run, spec, identity):
    from ppo.config import RunConfig
    agent, _, _ = run
    assert export_mod.base_identity(RunConfig(base=spec), agent.env) == identity


def test_jax_export_matches_the_policy(run, policy):
    obs, base = inputs(*run[:2])
    exp = jax_exported(policy)
    np.testing.assert_allclose(np.asarray(exp.call(obs[:7], base[:7], base[:7])), np.asarray(policy(obs[:7], base[:7])),
                               rtol=0, atol=1e-6)


def test_serialized_jax_export_loads_and_matches(run, exported, policy):
    pytest.importorskip("flatbuffers", reason="jax.export serialization needs flatbuffers")
    obs, base = inputs(*run[:2])
    restored = load_exported(exported)
    for o, b in ((obs, base), (obs[3], base[3])):
        np.testing.assert_allclose(np.asarray(restored(o, b)), np.asarray(policy(o, b)), atol=1e-6)


def test_torch_module_matches(run, exported, policy):
    torch = pytest.importorskip("torch")
    obs, base = inputs(*run[:2], n_random=200, seed=1)
    module = to_torch(exported)
    with torch.no_grad():
        got = module(torch.from_numpy(np.array(obs)), torch.from_numpy(np.array(base))).numpy()
        one = module(torch.from_numpy(np.array(obs[0])), torch.from_numpy(np.array(base[0]))).numpy()
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, np.asarray(policy(obs, base)), rtol=0, atol=1e-5)
    np.testing.assert_allclose(one, np.asarray(policy(obs[0], base[0])), rtol=0, atol=1e-5)


def test_policy_module_needs_no_trainer_and_no_torch():
    code = ("import sys, policy.exported; bad = sorted(m for m in sys.modules if m.split('.')[0] == 'torch' "
            "or m in ('ppo.train', 'ppo.agent', 'ppo.losses', 'ppo.brax_baseline')); print(bad); "
            "sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parent.parent,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_export_module_does_not_import_the_trainer():
    code = "import sys, ppo.export; sys.exit(1 if 'ppo.train' in sys.modules else 0)"
    r = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parent.parent,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_bad_input_shapes_are_refused(policy):
    with pytest.raises(ValueError, match=r"got \(24,\), \(6,\) and \(6,\)"):
        policy(np.zeros(24), np.zeros(6))
    with pytest.raises(ValueError, match=r"got \(3, 25\), \(2, 6\) and \(2, 6\)"):
        policy(np.zeros((3, 25)), np.zeros((2, 6)))
    with pytest.raises(ValueError, match=r"got \(2, 25\), \(2, 6\) and \(6,\)"):
        policy(np.zeros((2, 25)), np.zeros((2, 6)), np.zeros(6))


def _tamper(key, value):
    def edit(m):
        section, _, field = key.partition(".")
        (m[section] if field else m)[field or section] = value
    return edit


@pytest.mark.parametrize("edit, message", [
    (_tamper("obs_size", 24), "manifest obs_size 24 != 25"),
    (_tamper("joint_order", ["shoulder_lift", "shoulder_pan", "elbow_flex", "wrist_flex",
                             "wrist_roll", "gripper"]), "manifest joint_order"),
    (_tamper("format_version", 1), "manifest format_version 1 != 3"),
    (_tamper("params.sha256", "0" * 64), "params hash mismatch"),
    (_tamper("network.activation", "relu"), "activation 'relu' != 'swish'"),
])
def test_tampered_manifest_is_refused(exported, tmp_path, edit, message):
    bad = shutil.copytree(exported, tmp_path / "bad")
    m = json.loads((bad / "manifest.json").read_text())
    edit(m)
    (bad / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ExportError, match=message):
        load(bad)
    with pytest.raises(ExportError):
        to_torch(bad)


LOADERS = (load, load_exported, to_torch)


def _tamper_value(key, change):
    def edit(m):
        section, field = key.split(".")
        m[section][field] = change(m[section][field])
    return edit


def _shift_upper_0(limits):
    return [limits[0] + 0.3] + limits[1:]


@pytest.mark.parametrize("edit, message", [
    (_tamper_value("action.alpha", lambda a: 0.9), r"action.alpha x action.action_scale is 0.9"),
    (_tamper_value("action.action_scale", lambda s: 2 * s), r"action.alpha x action.action_scale is 0.7 x 0.1"),
    (_tamper_value("action.joint_upper", _shift_upper_0), r"action.joint_upper\[0\] is"),
    (_tamper_value("base_policy.active", lambda a: 1.0 - a), "base_policy.active is 1"),
    (_tamper_value("action.base_filter", lambda k: 0.5), r"action.base_filter is 0.5, "
                                                         r"policy.jax_export filters the base with k = 1"),
    (_tamper_value("network.hidden", lambda h: [16] + h[1:]), r"network.hidden \[16, 32\]"),
])
@pytest.mark.parametrize("rehash", [False, True], ids=["manifest-only", "integrity-rehashed"])
def test_every_value_that_reaches_the_robot_is_bound(exported, tmp_path, edit, message, rehash):
    """A manifest edit that would change the robot's command is refused by every loader, naming
    the field, even when integrity.json is recomputed to match the edited manifest."""
    bad = shutil.copytree(exported, tmp_path / "bad")
    m = json.loads((bad / "manifest.json").read_text())
    edit(m)
    (bad / "manifest.json").write_text(json.dumps(m))
    if rehash:
        (bad / "integrity.json").write_text(json.dumps(integrity_record(m)))
    for loader in LOADERS:
        with pytest.raises(ExportError, match=message):
            loader(bad)


def test_any_other_manifest_edit_or_a_missing_integrity_record_is_refused(exported, tmp_path):
    bad = shutil.copytree(exported, tmp_path / "bad")
    m = json.loads((bad / "manifest.json").read_text())
    m["training_config"]["run"]["seed"] += 1
    (bad / "manifest.json").write_text(json.dumps(m))
    for loader in LOADERS:
        with pytest.raises(ExportError, match="manifest.json does not match integrity.json"):
            loader(bad)
    shutil.copy(exported / "manifest.json", bad / "manifest.json")
    load(bad)  # the original manifest loads again
    (bad / "integrity.json").unlink()
    with pytest.raises(ExportError, match="integrity.json missing"):
        load(bad)


def test_truncated_or_missing_params_are_refused(exported, tmp_path):
    bad = shutil.copytree(exported, tmp_path / "bad")
    files = sorted((p for p in (bad / "params").rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    data = files[-1].read_bytes()
    files[-1].write_bytes(data[: len(data) // 2])
    with pytest.raises(ExportError, match=r"bytes, manifest says .* \(truncated or modified\?\)"):
        load(bad)
    files[-1].write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # same size, one bit flipped
    with pytest.raises(ExportError, match=r"params hash mismatch: .*\(file truncated or modified\?\)"):
        load(bad)
    files[-1].unlink()
    with pytest.raises(ExportError, match="missing"):
        load(bad)
    (bad / "manifest.json").unlink()
    with pytest.raises(ExportError, match="manifest.json missing"):
        load(bad)


def test_interrupted_export_leaves_nothing_that_loads(run, tmp_path, monkeypatch):
    def fail(*args):
        raise KeyboardInterrupt  # as if interrupted just before the manifest

    monkeypatch.setattr(export_mod, "write_json", fail)
    with pytest.raises(KeyboardInterrupt):
        export(latest_checkpoint(run[2]), tmp_path / "out", log=lambda s: None)
    assert list(tmp_path.iterdir()) == []  # no out, no temporary directory
    monkeypatch.setattr(shutil, "rmtree", lambda *a, **k: None)  # as if killed: no clean-up
    with pytest.raises(KeyboardInterrupt):
        export(latest_checkpoint(run[2]), tmp_path / "out", log=lambda s: None)
    (left,) = tmp_path.iterdir()
    assert left.name.startswith(".out.tmp-")
    with pytest.raises(ExportError, match="manifest.json missing"):
        load(left)


def test_existing_export_is_kept_unless_forced(run, exported, tmp_path):
    out = shutil.copytree(exported, tmp_path / "out")
    before = (out / "manifest.json").read_text()
    with pytest.raises(FileExistsError, match="--force"):
        export(run[2], out, log=lambda s: None)
    assert (out / "manifest.json").read_text() == before
    main([str(run[2]), str(out), "--force"])  # the CLI, on a run dir: its latest checkpoint
    assert (out / "manifest.json").read_text() != before and load(out).manifest["source"]["iteration"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_cli_default_out_and_bad_checkpoint(run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ckpt = latest_checkpoint(run[2])
    out = main([str(ckpt)])
    assert out == (tmp_path / "exports" / f"{run[2].name}-3").resolve()
    load(out)
    with pytest.raises(SystemExit, match="neither a checkpoint"):
        main([str(tmp_path), "elsewhere"])


def test_the_setpoint_filter_is_the_law_of_every_loader(run, exported, policy, monkeypatch):
    """An active base through the residual layer's filter (k = 0.5): the JAX policy, the
    jax.export artefact and the torch module send clip(last + k (base - last) + scale x
    residual); the artefact's k is read back off its outputs; leaving out `last_target` is
    refused where k < 1."""
    import dataclasses

    import policy.exported as pol
    torch = pytest.importorskip("torch")
    filtered = dataclasses.replace(policy, base_active=1.0, base_filter=0.5)
    obs, base = inputs(*run[:2])
    last = base - 0.03 * jp.sign(jax.random.normal(jax.random.PRNGKey(3), base.shape))
    r = pol.residual(filtered.actor, filtered.stats, obs, base, hidden=filtered.hidden)
    want = jp.clip(last + 0.5 * (base - last) + filtered.scale * r, filtered.joint_lower, filtered.joint_upper)
    np.testing.assert_allclose(np.asarray(filtered(obs, base, last)), np.asarray(want), atol=1e-6)
    assert np.abs(np.asarray(filtered(obs, base, last) - filtered(obs, base, base))).max() > 0.01
    exp = jax_exported(filtered)
    np.testing.assert_allclose(np.asarray(exp.call(obs, base, last)), np.asarray(want), atol=1e-6)
    m = {**filtered.manifest, "action": {**filtered.manifest["action"], "base_filter": 0.5}}
    assert pol.baked_control(filtered, pol.ExportedPolicy(exp, m))["base_filter"] == pytest.approx(0.5, abs=1e-3)
    with pytest.raises(ValueError, match="pass last_target"):
        filtered(obs, base)
    monkeypatch.setattr(pol, "load", lambda out_dir: filtered)
    module = to_torch(exported)
    with torch.no_grad():
        got = module(*(torch.from_numpy(np.array(x)) for x in (obs, base, last))).numpy()
    np.testing.assert_allclose(got, np.asarray(want), atol=1e-5)
