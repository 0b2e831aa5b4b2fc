"""JAX forward/inverse kinematics against MuJoCo."""
import jax
import jax.numpy as jp
import mujoco
import numpy as np

from mjx_env import kinematics
from mjx_env.scene import ARM_JOINTS, load_mj_model, qpos_index


def test_forward_matches_mujoco_and_ik_reaches_table_points():
    model = load_mj_model(1 / 240)
    chain = kinematics.chain_from_model(model)
    data = mujoco.MjData(model)
    rng = np.random.default_rng(0)
    for _ in range(3):
        q = rng.uniform(-1, 1, 5)
        for name, angle in zip(ARM_JOINTS, q):
            data.qpos[qpos_index(model, name)] = angle
        mujoco.mj_kinematics(model, data)
        pos, rot = kinematics.forward(chain, jp.asarray(q))
        np.testing.assert_allclose(pos, data.site("ee").xpos, atol=1e-5)
        np.testing.assert_allclose(rot, data.body("gripper").xmat.reshape(3, 3), atol=1e-5)

    solve = jax.jit(lambda p: kinematics.solve_ik(chain, jp.array([0.0, 0.3, -0.6, 0.0, 0.0]), p,
                                                  jp.array([0.0, 0.0, -1.0]), iterations=50))
    for target in [(0.2, 0.1, 0.01), (0.15, 0.05, 0.02), (0.25, 0.15, 0.05)]:
        q = solve(jp.array(target))
        pos, rot = kinematics.forward(chain, q)
        assert np.linalg.norm(np.array(pos) - target) < 2e-3
        assert float(kinematics.approach_axis(rot)[2]) < -0.95  # jaws point down
        assert np.all(np.array(q) >= np.array(chain.lower)) and np.all(np.array(q) <= np.array(chain.upper))
