"""The env's contract: batching, control law, randomisation, bad input, backends, wrappers."""
import jax
import jax.numpy as jp
import numpy as np
import pytest

from conftest import paper_at
from mjx_env import control, randomize
from mjx_env.config import EnvConfig, RandomizationConfig
from mjx_env.env_base import per_env
from mjx_env.paper_return import PaperReturn, make, set_base
from mjx_env.wrappers import wrap_for_training

T_COMPARE = 15  # control steps (0.5 s) in the jax-vs-warp comparison
# jax and warp are separate float32 solver implementations: they agree to ~1e-5 over a few
# steps and drift apart slowly with contact; the stated tolerance for 0.5 s of this rollout:
BACKEND_ATOL = 2e-3  # rad (arm joints) and m (paper position)


def fixed_actions(n, steps=T_COMPARE, seed=3):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (steps, n, 6)).astype(np.float32)


@pytest.mark.parametrize("bad, match", [
    (dict(impl="cuda"), "unknown MJX impl"),
    (dict(sim_dt=0.007), "whole number of substeps"),
    (dict(episode_length=0), "episode_length"),
    (dict(action_scale=-0.1), "action_scale"),
    (dict(hold_action_scale=0.0), "hold_action_scale"),
    (dict(paper_distance=(0.1, 0.05)), "paper_distance"),
    (dict(randomization=RandomizationConfig(kp_scale=(1.2, 0.8))), "kp_scale"),
    (dict(solver_iterations=0), "solver_iterations"),
    (dict(implausible_depth=0.0), "implausible_depth"),
    (dict(reward_implausible=-1.0), "reward_implausible"),
    (dict(base_filter=0.0), r"base_filter must be in \(0, 1\]"),
    (dict(base_filter=1.5), "base_filter"),
])
def test_bad_config_is_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        PaperReturn(EnvConfig(**bad))


def test_the_batch_size_comes_from_the_keys():
    """One env object resets and steps batches of 1 and 3 (and one unbatched env); MuJoCo
    Warp's shared contact buffer is sized for the batch it is given, and a vmapped single-key
    reset, which would size it for one env, is refused."""
    env = make(impl="warp")
    reset, step = jax.jit(env.reset), jax.jit(env.step)
    for n in (1, 3):
        state = reset(jax.random.split(jax.random.PRNGKey(0), n))
        assert state.obs.shape == (n, 25)
        assert state.data._impl.naconmax == env.config.naconmax_per_env * n
        state = step(state, jp.zeros((n, 6)))
        assert state.obs.shape == (n, 25) and np.isfinite(np.asarray(state.obs)).all()
    assert env.reset(jax.random.PRNGKey(0)).obs.shape == (25,)
    with pytest.raises(ValueError, match="not under jax.vmap"):
        jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(0), 2))
    doubled = env.vmapped(2).reset(jax.random.split(jax.random.PRNGKey(0), 3))  # 2 copies vmapped outside
    assert doubled.data._impl.naconmax == env.config.naconmax_per_env * 3 * 2


@pytest.mark.parametrize("impl", ["jax", "warp"])
def test_the_env_declares_which_leaves_are_per_env(impl):
    """`per_env` marks exactly the leaves whose first axis is the batch's (measured: it is the
    batch size at both 1 and 2 envs); MuJoCo Warp's contact buffer (`naconmax` rows) and counts
    are shared, also at 1 env, where a count's (1,) shape would pass for a batch axis."""
    wrapped = wrap_for_training(make(impl=impl))
    shapes = {n: jax.eval_shape(wrapped.reset, jax.random.split(jax.random.PRNGKey(0), n))
              for n in (1, 2)}
    leaves = {n: jax.tree_util.tree_leaves_with_path(s) for n, s in shapes.items()}
    scales = [a.ndim > 0 and a.shape[0] == 1 and b.shape[0] == 2
              for (_, a), (_, b) in zip(leaves[1], leaves[2])]
    assert jax.tree.leaves(per_env(shapes[1])) == scales
    assert jax.tree.leaves(per_env(shapes[2])) == scales
    shared = [jax.tree_util.keystr(p) for (p, _), v in zip(leaves[1], scales) if not v]
    assert (".data._impl.nacon" in shared and ".data._impl.contact__pos" in shared) == (impl == "warp")
    assert all(p.startswith(".data._impl.") for p in shared) and (impl == "warp") == bool(shared)


def test_solver_budget_defaults_to_the_scene_and_can_be_set():
    scene = make(impl="jax").mj_model.opt
    assert (scene.iterations, scene.ls_iterations) == (20, 12)
    env = make(impl="jax", solver_iterations=30, ls_iterations=20)
    assert (env.mj_model.opt.iterations, env.mj_model.opt.ls_iterations) == (30, 20)
    assert int(env.mjx_model.opt.iterations) == 30  # the device model MJX runs


def test_unknown_config_field_is_refused():
    with pytest.raises(TypeError):
        make(imlp="jax")


def test_wrong_action_shape_is_refused(jax_batch):
    state = jax_batch.reset(jax_batch.keys())
    with pytest.raises(ValueError, match=r"shape \(6,\)"):
        jax_batch.step(state, jp.zeros((jax_batch.num_envs, 5)))


def test_nan_action_counts_as_zero_and_is_flagged(jax_batch):
    state = jax_batch.reset(jax_batch.keys())
    clean = np.zeros((jax_batch.num_envs, 6), np.float32)
    dirty = clean.copy()
    dirty[0, 2] = np.nan
    dirty[1, :] = np.inf
    a = jax_batch.step(state, clean)
    b = jax_batch.step(state, dirty)
    np.testing.assert_array_equal(np.array(a.obs), np.array(b.obs))
    np.testing.assert_array_equal(np.array(b.metrics["nan_action"]), [1, 1, 0, 0])
    assert np.isfinite(np.array(b.obs)).all()


def test_batched_shapes_and_types(jax_batch):
    n = jax_batch.num_envs
    state = jax_batch.reset(jax_batch.keys())
    state = jax_batch.step(state, jp.zeros((n, 6)))
    assert state.obs.shape == (n, 25) and state.obs.dtype == jp.float32
    assert state.reward.shape == (n,) and state.done.shape == (n,)
    assert {"success", "goal_distance", "reward/progress"} <= set(state.metrics)
    assert state.info["last_target"].shape == (n, 6)


def test_reset_places_paper_outside_square_within_reach(jax_batch):
    """64 resets, made in batches of the shared fixture's size (its program, compiled once)."""
    keys = jax.random.split(jax.random.PRNGKey(7), 64).reshape(-1, jax_batch.num_envs, 2)
    states = [jax_batch.reset(k) for k in keys]
    dist = np.concatenate([np.array(s.metrics["goal_distance"]) for s in states])
    cfg = jax_batch.env.config
    assert dist.min() >= cfg.paper_distance[0] - 1e-6 and dist.max() <= cfg.paper_distance[1] + 1e-6
    assert dist.min() > 2 * cfg.success_pos_tol
    paper = np.concatenate([np.array(s.obs[:, 12:14]) for s in states])
    robot = np.array([0.050, -0.029])
    assert np.linalg.norm(paper - robot, axis=1).max() < 0.30  # well inside the arm's ~0.4 m reach


def test_control_law_base_plus_scaled_residual(jax_batch):
    """target = base + alpha * scale * action, clipped, at most max_joint_speed * ctrl_dt from the
    previous setpoint; no base = a step of alpha * hold_action_scale from the previous setpoint,
    an active base = an offset of alpha * action_scale from its target."""
    env, n = jax_batch.env, jax_batch.num_envs
    cfg = env.config
    assert cfg.action_scale != cfg.hold_action_scale  # else this test cannot tell them apart
    state = jax_batch.place(paper_at(0.2, 0.1))
    action = np.tile(np.array([1.0, -1.0, 0.5, 0.0, 3.0, -0.2], np.float32), (n, 1))
    home = np.array(cfg.home_qpos, np.float32)
    held = jax_batch.step(state, action)
    expect = home + cfg.alpha * cfg.hold_action_scale * np.clip(action[0], -1, 1)
    np.testing.assert_allclose(held.info["last_target"][0], expect, atol=1e-6)
    offset = jax_batch.step(set_base(state, np.tile(home, (n, 1))), action)
    expect = home + cfg.alpha * cfg.action_scale * np.clip(action[0], -1, 1)
    np.testing.assert_allclose(offset.info["last_target"][0], expect, atol=1e-6)

    base = np.tile(np.array([0.0, 5.0, 0.0, 0.0, 0.0, 0.0], np.float32), (n, 1))  # beyond range
    max_step = env.config.max_joint_speed * env.config.ctrl_dt  # 4.7 rad/s: 0.157 rad per step
    moved = jax_batch.step(set_base(state, base), np.zeros((n, 6), np.float32))
    np.testing.assert_allclose(moved.info["last_target"][:, 1], home[1] + max_step, atol=1e-6)
    np.testing.assert_allclose(moved.info["last_target"][:, 0], home[0], atol=1e-6)
    assert float(moved.obs[0, 1] - state.obs[0, 1]) > 0.02  # shoulder_lift moved towards it
    for _ in range(10):  # 10 x 0.157 rad: the setpoint reaches the clipped target and stops
        moved = jax_batch.step(set_base(moved, base), np.zeros((n, 6), np.float32))
    np.testing.assert_allclose(moved.info["last_target"][:, 1], float(env.joint_upper[1]), atol=1e-6)


def test_setpoint_filter_only_where_a_residual_runs():
    """An active base's target through the residual layer's filter (`filtered` 1, `base_filter`
    0.5): the setpoint moves half of the way from the last one; unfiltered (0, the default of
    every other driver) it is the base's target; a held pose (inactive base) is the same either
    way."""
    from conftest import NUM_ENVS, Batch

    n, k = NUM_ENVS, 0.5
    jax_batch = Batch(make(impl="jax", base_filter=k), n)
    env = jax_batch.env
    state = jax_batch.place(paper_at(0.2, 0.1))
    home = np.array(env.config.home_qpos, np.float32)
    base = np.tile(home + np.float32(0.04), (n, 1))
    zeros = np.zeros((n, 6), np.float32)
    plain = jax_batch.step(set_base(state, base), zeros)
    np.testing.assert_allclose(plain.info["last_target"], base, atol=1e-6)
    filtered = jax_batch.step(set_base(state, base, 1.0, 1.0), zeros)
    np.testing.assert_allclose(filtered.info["last_target"], np.tile(home + k * 0.04, (n, 1)), atol=1e-6)
    held = jax_batch.step(set_base(state, base, 0.0, 1.0), zeros)
    np.testing.assert_allclose(held.info["last_target"], np.tile(home, (n, 1)), atol=1e-6)


def test_residual_scale_follows_the_base_mode():
    """One rule for the scale: alpha x action_scale with an active base, alpha x hold_action_scale
    without; numbers give floats (the export), arrays give per-env scales (the env, traced)."""
    cfg = EnvConfig(alpha=0.5, action_scale=0.2, hold_action_scale=0.04)
    assert control.residual_scale(cfg, 1.0) == pytest.approx(0.1)
    assert control.residual_scale(cfg, np.float32(0.0)) == pytest.approx(0.02)
    per_env = jax.jit(lambda a: control.residual_scale(cfg, a))(jp.array([0.0, 1.0, 0.0]))
    np.testing.assert_allclose(np.asarray(per_env), [0.02, 0.1, 0.02], rtol=1e-6)


def test_servo_speed_cap_is_configurable():
    assert EnvConfig().max_joint_speed == pytest.approx(4.7)  # STS3215 no-load 45 RPM
    with pytest.raises(ValueError, match="max_joint_speed"):
        PaperReturn(EnvConfig(max_joint_speed=0.0))
    out = np.asarray(control.rate_limit(jp.array([1.0, -1.0, 0.05]), jp.zeros(3), 0.1))
    np.testing.assert_allclose(out, [0.1, -0.1, 0.05])


def test_plausibility_metrics_every_step(jax_batch):
    """Metrics exist at reset and after every step; an arm put 6 mm into the table is flagged
    implausible (sticky for the episode) but, by default, does not end the episode."""
    from test_contact import _below_table_targets
    env, n = jax_batch.env, jax_batch.num_envs
    state = jax_batch.place(paper_at(0.2, 0.1))
    for key in ("arm_depth", "arm_table_force", "paper_lift", "paper_speed", "implausible",
                "plausible_success"):
        assert state.metrics[key].shape == (n,)
    assert float(state.metrics["arm_depth"].max()) == 0.0
    assert float(state.metrics["arm_table_force"].max()) == 0.0
    assert float(state.metrics["paper_lift"].max()) < 1e-4
    in_table = jp.asarray(_below_table_targets(env, z=0.008 - 0.006))
    dr = state.info["dr"]
    state = jax_batch.reset_to(jax_batch.keys(), dr, jp.tile(paper_at(0.45, 0.45), (n, 1)), in_table)
    assert (np.asarray(state.metrics["arm_depth"]) > 0.004).all()
    assert (np.asarray(state.metrics["arm_table_force"]) > env.config.max_table_force).all()
    state = jax_batch.step(state, jp.zeros((n, 6)))
    assert (np.asarray(state.metrics["implausible"]) == 1).all()
    assert (np.asarray(state.info["implausible"]) == 1).all()
    assert (np.asarray(state.done) == 0).all()
    assert not env.config.terminate_implausible


def test_terminate_implausible_ends_the_episode_with_a_penalty(jax_batch):
    """The arm's targets in the table: the first step ends the episode with the penalty. (The
    state comes from the shared batch's reset: the two fields change only the step.)"""
    from test_contact import _below_table_targets
    env = make(impl="jax", terminate_implausible=True, reward_implausible=2.0)
    in_table = jp.asarray(_below_table_targets(env, z=0.008 - 0.006))
    n = jax_batch.num_envs
    dr = jax.vmap(lambda _: randomize.nominal(env.mj_model.nlight))(jp.arange(n))
    state = jax_batch.reset_to(jax_batch.keys(), dr, jp.tile(paper_at(0.45, 0.45), (n, 1)), in_table)
    state = jax.jit(env.step)(state, jp.zeros((n, 6)))
    assert (np.asarray(state.done) == 1).all()
    np.testing.assert_allclose(np.asarray(state.metrics["reward/implausible"]), -2.0)


def test_a_setpoint_deploy_would_refuse_is_penalised_and_implausible(jax_batch):
    """deploy.safety.check_step's rule in the env: the sent setpoint (after the rate limit)
    further than max_target_gap from the joints measured before the step costs
    -reward_implausible and makes the episode implausible (without ending it); just inside the
    limit nothing happens."""
    from deploy.config import SafetyConfig

    env, n = jax_batch.env, jax_batch.num_envs
    limit = env.config.max_target_gap
    assert SafetyConfig().max_step_rad == pytest.approx(limit)
    state = jax_batch.place(paper_at(0.45, 0.45))
    q = np.asarray(state.data.qpos[:, env._arm_qpos])
    offset = np.zeros((n, 6), np.float32)
    offset[:, 2] = [limit + 0.02, limit + 0.3, limit - 0.02, -(limit + 0.02)]  # elbow_flex
    held = dict(state.info, last_target=jp.asarray(q + offset))  # zero base: target = last target
    after = jax_batch.step(state.replace(info=held), jp.zeros((n, 6)))
    stop = np.array([1, 1, 0, 1], np.float32)
    np.testing.assert_allclose(np.asarray(after.metrics["target_gap"]), np.abs(offset[:, 2]), atol=1e-6)
    np.testing.assert_array_equal(np.asarray(after.metrics["deploy_stop"]), stop)
    np.testing.assert_array_equal(np.asarray(after.done), 0)
    np.testing.assert_array_equal(np.asarray(after.info["implausible"]), stop)
    np.testing.assert_allclose(np.asarray(after.metrics["reward/implausible"]),
                               -env.config.reward_implausible * stop)


def test_same_seed_same_rollout_and_seeds_differ(jax_batch):
    actions = fixed_actions(jax_batch.num_envs, steps=5)
    a, _ = jax_batch.run(jax_batch.reset(jax_batch.keys(1)), actions)
    b, _ = jax_batch.run(jax_batch.reset(jax_batch.keys(1)), actions)
    c, _ = jax_batch.run(jax_batch.reset(jax_batch.keys(2)), actions)
    np.testing.assert_array_equal(np.array(a.obs), np.array(b.obs))
    assert not np.allclose(np.array(a.obs), np.array(c.obs))


def test_randomisation_ranges_and_effect(jax_batch):
    cfg = RandomizationConfig()
    nlight = jax_batch.env.mj_model.nlight
    params = jax.vmap(lambda k: randomize.sample(k, cfg, nlight))(jax.random.split(jax.random.PRNGKey(0), 256))
    for name in ("paper_friction", "paper_mass", "tip_friction", "kp", "damping"):
        lo, hi = getattr(cfg, {"paper_friction": "paper_friction_scale", "paper_mass": "paper_mass_scale",
                               "tip_friction": "fingertip_friction_scale", "kp": "kp_scale",
                               "damping": "damping_scale"}[name])
        v = np.array(params[name])
        assert v.min() >= lo and v.max() <= hi and v.std() > 0.02, name
    off = randomize.sample(jax.random.PRNGKey(0), RandomizationConfig(enabled=False), nlight)
    assert all(np.allclose(np.array(off[k]), np.array(v)) for k, v in randomize.nominal(nlight).items())

    env = jax_batch.env
    model = env.model_for(dict(randomize.nominal(nlight), kp=jp.full(6, 1.1)))
    np.testing.assert_allclose(model.actuator_gainprm[:, 0], 17.8 * 1.1, rtol=1e-6)
    np.testing.assert_allclose(model.actuator_biasprm[:, 1], -17.8 * 1.1, rtol=1e-6)
    # Servo stiffness changes the physics: the arm sags less under gravity with a stiffer servo.
    state = jax_batch.place(paper_at(0.2, 0.1))
    dr = dict(state.info["dr"], kp=jp.array([[0.9] * 6, [1.1] * 6, [0.9] * 6, [1.1] * 6]))
    state = state.replace(info=dict(state.info, dr=dr))
    final, _ = jax_batch.run(state, np.zeros((20, jax_batch.num_envs, 6), np.float32))
    sag = np.array(final.obs[:, 1]) - jax_batch.env.config.home_qpos[1]
    assert abs(sag[0]) > abs(sag[1]) + 1e-3


def test_jax_and_warp_agree_on_a_fixed_action_sequence(jax_batch, warp_batch):
    actions = fixed_actions(jax_batch.num_envs)
    a, _ = jax_batch.run(jax_batch.reset(jax_batch.keys(5)), actions)
    b, _ = warp_batch.run(warp_batch.reset(warp_batch.keys(5)), actions)
    qa, qb = np.array(a.obs), np.array(b.obs)
    np.testing.assert_allclose(qa[:, 0:6], qb[:, 0:6], atol=BACKEND_ATOL)  # arm joints, rad
    np.testing.assert_allclose(qa[:, 12:15], qb[:, 12:15], atol=BACKEND_ATOL)  # paper, m
    assert np.abs(qa[:, 0:6] - np.array(jax_batch.env.config.home_qpos)).max() > 0.05  # it moved


def test_training_wrapper_truncates_and_resets():
    """On impl="warp", whose state mixes per-env leaves and shared buffers: the wrapper's one
    impl-dependent rule (`per_env`, tested on both impls above) takes both branches here; on
    "jax" every leaf takes the per-env one. (The jax impl's wrapped step is its own ~90 s
    program on a CPU; every training test runs it.)"""
    env = make(impl="warp", episode_length=3)
    wrapped = wrap_for_training(env)
    reset, step = jax.jit(wrapped.reset), jax.jit(wrapped.step)
    state = reset(jax.random.split(jax.random.PRNGKey(0), 2))
    first_paper = np.array(state.obs[:, 12:14])
    dones, truncs = [], []
    for _ in range(4):
        state = step(state, jp.zeros((2, 6)))
        dones.append(np.array(state.done))
        truncs.append(np.array(state.info["truncation"]))
    assert dones[2].all() and truncs[2].all()  # time limit after 3 steps, flagged as truncation
    assert not dones[0].any() and not dones[3].any()
    assert not np.allclose(np.array(state.obs[:, 12:14]), first_paper)  # a fresh random reset
    assert np.array(state.info["steps"]).tolist() == [1, 1]
