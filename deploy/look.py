"""Find the sheet before the first control step: at some start poses the arm hides the sheet
from the top camera (perception refuses a sheet mostly hidden). Then the arm rises to
`LOOK_POSE`, where the camera sees the whole table, the pose is estimated there, and the arm
returns to its start pose; the loop then starts with that estimate as the last good one (the
sheet does not move while the arm is away from it).

    looked = look_for_sheet(robot, controller, config)   # steps sent (0: seen at the start)

Every move is rate-limited to the servo model's step (`controller.rate_step`, the one the loop
and training use) and checked by the loop's own safety rule (`check_step`).
"""
from __future__ import annotations

import time

import numpy as np

from deploy.robot import action_of, frame_of, joints_of
from deploy.safety import SafetyStop, check_frame, check_step
from mjx_env.control import rate_limit

# sim rad, order ARM_JOINTS: shoulder lifted back, elbow up, wrist and gripper neutral. The arm
# is then above and behind its base, out of the top camera's view of the table (rendered frames
# of seeds 3, 14 and 24, whose start poses hide the sheet: pose error 0.6-2.0 mm, 0.2-0.3 deg).
LOOK_POSE = np.array([0.0, -1.5, 0.5, 0.0, 0.0, 0.0])
SETTLED_RAD = np.radians(2.0)  # a move ends when every joint is this close to its goal
MAX_MOVE_S = 3.0  # or after this long (s of control steps)


def _move(robot, controller, goal, config, obs: dict, tick: float) -> tuple[dict, int, float]:
    """Drive the joints from those in `obs` (the robot's last observation) to `goal` (6,) sim
    rad at the loop's rate: (last observation, steps sent, next tick). The setpoint moves by
    the servo model's step and stays within half the loop's gap rule of the measured joints
    (a lagging or blocked arm is waited for, not outrun); the move ends once settled or after
    MAX_MOVE_S."""
    units, steps = controller.units, 0
    lead = config.safety.max_step_rad / 2  # the servo lags under load: wait for it
    setpoint = np.asarray(units.to_sim(joints_of(obs)), np.float64)
    for _ in range(int(MAX_MOVE_S * config.hz)):
        q = np.asarray(units.to_sim(joints_of(obs)), np.float64)
        if np.abs(q - goal).max() < SETTLED_RAD:
            break
        setpoint = np.asarray(rate_limit(goal, setpoint, controller.rate_step), np.float64)
        setpoint = np.clip(setpoint, q - lead, q + lead)
        check_step(setpoint, q, config.safety.max_step_rad)
        robot.send_action(action_of(units.to_robot(setpoint)))
        steps += 1
        if config.realtime:
            tick += config.period
            time.sleep(max(0.0, tick - time.perf_counter()))
        obs = robot.get_observation()
    return obs, steps, tick


def look_for_sheet(robot, controller, config, log=print) -> int:
    """Make sure `controller` has a sheet pose before the first step (config.pose "camera").
    Returns the control steps the look took (0 when the start frame shows the sheet); the
    controller keeps the estimate. SafetyStop when neither frame gives a pose."""
    obs = robot.get_observation()
    frame = frame_of(obs, config.camera)
    check_frame(frame, config.camera)
    pose, reason = controller.estimator(frame)
    if pose is not None:
        return 0
    start = np.asarray(controller.units.to_sim(joints_of(obs)), np.float64)
    log(f"deploy: no sheet pose at the start pose ({reason}); looking from the raised pose")
    tick = time.perf_counter()
    obs, up, tick = _move(robot, controller, LOOK_POSE, config, obs, tick)
    frame = frame_of(obs, config.camera)
    check_frame(frame, config.camera)
    try:
        controller.perceive(frame)
    except SafetyStop as e:
        raise SafetyStop(f"{e} (at the start pose: {reason})") from None
    _, down, _ = _move(robot, controller, start, config, obs, tick)
    return up + down
