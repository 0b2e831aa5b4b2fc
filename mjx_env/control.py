"""The control law and the servo model: the one place that turns actions into joint targets.

    target = clip(base + alpha * action_scale * clip(action, -1, 1), joint ranges)   (policy)
    setpoint = previous + clip(target - previous, -max_step, max_step)               (servo)

`joint_target` is the policy's law (the env, the export and the trainer-free loader use it);
`rate_limit` models the servo's speed limit in the env (a real STS3215 caps it in hardware:
no-load 45 RPM ~ 4.7 rad/s), so a deployed policy sends `joint_target` unchanged.
Shapes: anything broadcastable to (..., 6); radians.
"""
from __future__ import annotations

import jax.numpy as jp


def joint_target(base, action, alpha: float, action_scale: float, lower, upper):
    """Absolute joint target (..., 6) rad for a base target (..., 6) rad and a residual action
    (..., 6) in [-1, 1] (clipped here)."""
    return jp.clip(base + alpha * action_scale * jp.clip(action, -1.0, 1.0), lower, upper)


def rate_limit(target, previous, max_step):
    """The servo's setpoint (..., 6) rad: `target` approached from `previous` by at most
    `max_step` rad (max joint speed x control period) per control step."""
    return previous + jp.clip(target - previous, -max_step, max_step)
