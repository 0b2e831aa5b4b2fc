"""The MJCF against the facts: kinematics, collision layout, a sheet at rest."""
import mujoco
import numpy as np
import pytest

from conftest import paper_at
from mjx_env.scene import ARM_JOINTS, load_mj_model, qpos_index

# Facts (../shared/so101_robot.md, paper_return_task.md), typed in independently of the MJCF.
MOUNT = ((0.050, -0.029, 0.02), (0.9239, 0.0, 0.0, 0.3827))
CHAIN = [  # (pos, quat) of shoulder, upper_arm, lower_arm, wrist, gripper in their parents
    ((0.0388353, 0, 0.0624), (3.56167e-16, 1.22818e-15, -1, -4.14635e-16)),
    ((-0.0303992, -0.0182778, -0.0542), (0.5, -0.5, -0.5, -0.5)),
    ((-0.11257, -0.028, 0), (0.707107, 0, 0, 0.707107)),
    ((-0.1349, 0.0052, 0), (0.707107, 0, 0, -0.707107)),
    ((0, -0.0611, 0.0181), (0.0172091, -0.0172091, 0.706897, 0.706897)),
]
EE_SITE = (-0.0079, -0.000218, -0.0981274)


def quat_matrix(q):
    w, x, y, z = np.asarray(q, float) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])


def facts_fk(q5):
    """End-effector position from the facts' numbers: hinges about each body's local z."""
    pos, rot = np.array(MOUNT[0], float), quat_matrix(MOUNT[1])
    for (p, quat), angle in zip(CHAIN, q5):
        pos = pos + rot @ np.array(p, float)
        c, s = np.cos(angle), np.sin(angle)
        rot = rot @ quat_matrix(quat) @ np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    return pos + rot @ np.array(EE_SITE)


@pytest.fixture(scope="module")
def model():
    return load_mj_model(1 / 240)


@pytest.mark.parametrize("q5", [
    (0.0, 0.0, 0.0, 0.0, 0.0),
    (0.0, 0.3, -0.6, 0.0, 0.0),  # home
    (0.7, -1.2, 1.4, 0.9, -2.0),
    (-1.5, 1.0, -0.5, -1.2, 2.5),
])
def test_end_effector_matches_facts_fk(model, q5):
    data = mujoco.MjData(model)
    for name, angle in zip(ARM_JOINTS, q5):
        data.qpos[qpos_index(model, name)] = angle
    mujoco.mj_kinematics(model, data)
    err = np.linalg.norm(data.site("ee").xpos - facts_fk(q5))
    assert err < 1e-3, f"ee off by {err * 1000:.3f} mm at {q5}"


def test_joint_ranges_and_servos_match_facts(model):
    ranges = {"shoulder_pan": 1.91986, "shoulder_lift": 1.74533, "elbow_flex": 1.69,
              "wrist_flex": 1.65806}
    for name, half in ranges.items():
        np.testing.assert_allclose(model.joint(name).range, [-half, half], atol=1e-6)
    assert model.nu == 6
    np.testing.assert_allclose(model.actuator_gainprm[:, 0], 17.8)
    np.testing.assert_allclose(model.actuator_forcerange, [[-3.35, 3.35]] * 6)
    np.testing.assert_allclose(model.actuator_ctrlrange, model.jnt_range[[model.joint(j).id for j in ARM_JOINTS]])


def test_collision_layout(model):
    """Only explicit pairs collide: every arm collision geom with the table and the sheet, the
    sheet with the table; visual geoms never."""
    def paired(a, b):
        ga, gb = model.geom(a).id, model.geom(b).id
        return any({int(model.pair_geom1[i]), int(model.pair_geom2[i])} == {ga, gb}
                   for i in range(model.npair))

    assert (model.geom_contype == 0).all() and (model.geom_conaffinity == 0).all()
    for tip in ("fixed_tip", "moving_tip", "fixed_pad", "moving_pad"):
        assert paired(tip, "paper") and paired(tip, "table")
    assert paired("paper", "table") and paired("lower_arm_link", "gripper_link")
    assert not paired("lower_arm_link", "wrist_link")  # parent and child: excluded
    visual = [i for i in range(model.ngeom) if model.geom_group[i] == 2]
    paired_geoms = set(model.pair_geom1) | set(model.pair_geom2)
    assert visual and not paired_geoms & set(visual)
    assert model.geom("gripper_link").type == mujoco.mjtGeom.mjGEOM_BOX  # the housing is a box
    for part in ("gripper_link", "elbow_servo", "wrist_link", "fixed_finger"):
        assert paired(part, "paper") and paired(part, "table")
    assert model.npair == 31  # 29 + the elbow servo with the table and the sheet
    # collision geoms weigh nothing: the masses are the explicit inertials of the facts
    np.testing.assert_allclose(model.body_mass[[model.body(b).id for b in (
        "upper_arm", "lower_arm", "wrist", "gripper", "moving_jaw")]], [0.103, 0.104, 0.079, 0.087, 0.012])
    assert model.body("paper").mass[0] == pytest.approx(0.005)
    np.testing.assert_allclose(model.geom("paper").size, [0.074, 0.105, 0.0005])


def test_paper_rests_without_sinking_or_drifting(jax_batch):
    """5 s (150 control steps) holding the home pose: the sheet stays put on the table."""
    start = paper_at(0.20, 0.10, 0.1)
    state = jax_batch.place(start)
    actions = np.zeros((150, jax_batch.num_envs, 6), np.float32)
    _, states = jax_batch.run(state, actions)
    z = np.array([s.obs[:, 14] for s in states])
    xy = np.array(states[-1].obs[:, 12:14])
    quat = np.array(states[-1].obs[:, 15:19])
    assert z.min() > 0.0002 and z.max() < 0.0006, (z.min(), z.max())  # centre 0.5 mm: <0.3 mm sink
    assert np.abs(xy - np.array(start[:2])).max() < 1e-3  # < 1 mm drift
    np.testing.assert_allclose(np.abs(quat), np.tile(np.abs(np.array(start[3:])), (len(quat), 1)), atol=1e-3)


def test_warp_model_silences_only_the_iteration_cap_warnings(model):
    from mujoco.mjx.third_party.mujoco_warp._src.types import OverflowType

    from mjx_env.scene import put_model

    caps = OverflowType.ITERATIONS | OverflowType.LS_ITERATIONS
    default = int(mujoco.mjx.put_model(model, impl="warp").opt._impl.warn_overflow)
    quiet = int(put_model(model, "warp").opt._impl.warn_overflow)
    assert default & caps  # MuJoCo Warp warns on them by default
    assert quiet & caps == 0
    assert quiet == default & ~caps  # every buffer-overflow warning stays on
    assert default & ~caps  # and there are some
