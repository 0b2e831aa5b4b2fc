"""The simulated SO-101 with the real robot's interface (deploy.robot): one MJX env of the
project (`mjx_env.paper_return`, its physics, servo speed limit and domain randomisation),
LeRobot units in and out, top-camera frames from the project's renderer (bridge.render, MJX
on MuJoCo Warp, the env's camera/light randomisation applied) on a batch of one.

    robot = SimRobot(seed=3); robot.connect()
    obs = robot.get_observation()          # {"shoulder_pan.pos": deg, ..., "top": (224, 224, 3)}
    robot.send_action({...: deg})          # one control step (1/30 s of physics) towards it

`send_action` sets the base target of one env step (residual 0: the env's control law is then
clip(target, joint limits), rate-limited to the servo's speed, as the real servo does).
Simulation only: `true_pose()`, `done`, `result()` (success, plausible success, arm depth,
sheet lift: mjx_env.plausibility).
"""
from __future__ import annotations

import jax
import jax.numpy as jp
import numpy as np

from bridge.units import JointUnits, lerobot_degrees
from deploy.observe import Pose
from deploy.robot import action_of, joints_of
from mjx_env import task
from perception.sheet_pose import wrap_yaw


class SimRobot:
    """One simulated env behind LeRobot's Robot interface; `simulated` = True."""

    simulated = True

    def __init__(self, env=None, seed: int = 0, units: JointUnits | None = None,
                 cameras: tuple[str, ...] = ("top",), size: int = 224, render: bool = True):
        """`env`: a PaperReturn (default `make(impl="jax")`); `seed`: the episode's reset key;
        `render`: False gives observations without frames (true-pose runs need none)."""
        if env is None:
            from mjx_env.paper_return import make
            env = make(impl="jax")
        self.env, self.seed, self.units = env, seed, units or lerobot_degrees()
        self.cameras, self.size, self.render = tuple(cameras), size, render
        self._reset = jax.jit(env.reset)
        self._step = jax.jit(self._control_step)
        self._camera = None  # jitted: one env's state -> [(size, size, 3) uint8 per camera]
        self._renderer = None  # bridge.render.Renderer: owns the render buffers, keep it alive
        self.state = None
        self.is_connected = False

    def _control_step(self, state, target):
        from mjx_env.paper_return import set_base
        return self.env.step(set_base(state, target), jp.zeros(6))

    def connect(self, calibrate: bool = False) -> None:
        """Start the episode of `self.seed` (set it between episodes: compiled once)."""
        self.state = self._reset(jax.random.PRNGKey(self.seed))
        self._worst = {"arm_depth": 0.0, "paper_lift": 0.0}
        self.steps, self.is_connected, self._final = 0, True, None

    def get_observation(self) -> dict:
        q = np.asarray(self.state.obs[task.OBS_SLICES["qpos"]], np.float64)
        obs = action_of(self.units.to_robot(q))
        if self.render:
            frames = self._frames(self.state)
            obs.update({c: np.asarray(f) for c, f in zip(self.cameras, frames)})
        return obs

    def send_action(self, action: dict) -> dict:
        target = self.units.to_sim(joints_of(action))
        target = np.clip(target, np.asarray(self.env.joint_lower), np.asarray(self.env.joint_upper))
        self.state = self._step(self.state, jp.asarray(target, jp.float32))
        self.steps += 1
        if self._final is None:  # the episode's figures stop at its end (a hold may follow)
            for k in self._worst:
                self._worst[k] = max(self._worst[k], float(self.state.metrics[k]))
            if bool(self.state.done > 0):
                self._final = self.result()
        return action_of(self.units.to_robot(target))

    def _frames(self, state) -> list:
        """[(size, size, 3) uint8 per camera] of one env's state (compiled on first use)."""
        if self._camera is None:
            from bridge.render import Renderer

            self._renderer = Renderer(self.env, self.cameras, self.size)
            one = lambda s: self._renderer(jax.tree.map(lambda x: x[None], s))  # noqa: E731
            self._camera = jax.jit(lambda s: [one(s)[c][0] for c in self.cameras])
        return self._camera(state)

    def disconnect(self) -> None:
        self.is_connected = False

    # --- simulation only ------------------------------------------------------------------
    def true_pose(self) -> Pose:
        """The sheet's true pose (x, y m; yaw rad modulo pi, as perception reports it)."""
        o, s = self.state.obs, task.OBS_SLICES
        x, y = float(o[s["paper_pos"]][0]), float(o[s["paper_pos"]][1])
        yaw = float(task.yaw_of(o[s["paper_quat"]]))
        return Pose(x, y, float(wrap_yaw(yaw)))

    @property
    def done(self) -> bool:
        """The episode ended (success, sheet off the table, physics NaN)."""
        return self._final is not None

    def result(self) -> dict:
        """success / plausible_success (0|1), steps, worst arm depth and sheet lift (m), and the
        final sheet-target distance (m) and yaw error (rad), as of the episode's end (the step
        the env reported done) or, before it ends, now."""
        if self._final is not None:
            return dict(self._final)
        m = self.state.metrics
        return {"success": float(m["success"]), "plausible_success": float(m["plausible_success"]),
                "steps": self.steps, "arm_depth_max": self._worst["arm_depth"],
                "paper_lift_max": self._worst["paper_lift"],
                "goal_distance": float(m["goal_distance"]), "yaw_error": float(m["yaw_error"])}
