"""The control law and the servo model: the one place that turns actions into joint targets.

    base = last + k * (base - last)   with a residual on an active base (k: base_filter)  (filter)
    target = clip(base + scale * clip(action, -1, 1), joint ranges)                   (policy)
    setpoint = previous + clip(target - previous, -max_step, max_step)               (servo)
    stop if max_j |setpoint_j - measured_j| > max_target_gap                   (deploy's rule)

`scale` (`residual_scale`) is alpha x action_scale when a base is active (the residual is an
offset from the base's target) and alpha x hold_action_scale when none is (zero base: `base` is
the previous target, so the action is a step from it).
`joint_target` is the policy's law (the env, the export and the trainer-free loader use it);
`rate_limit` models the servo's speed limit in the env (a real STS3215 caps it in hardware:
no-load 45 RPM ~ 4.7 rad/s), so a deployed policy sends `joint_target` unchanged.
Shapes: anything broadcastable to (..., 6); radians.
"""
from __future__ import annotations

import jax
import jax.numpy as jp


def mode_action_scale(config, base_active):
    """`config.action_scale` where a base is active, else `config.hold_action_scale` (rad per unit
    action). `base_active`: a JAX array of 0/1 flags (-> array, traceable) or a number (-> float)."""
    if isinstance(base_active, jax.Array):
        return jp.where(base_active > 0, config.action_scale, config.hold_action_scale)
    return config.action_scale if float(base_active) > 0 else config.hold_action_scale


def residual_scale(config, base_active):
    """Rad per unit residual action: alpha x `mode_action_scale(config, base_active)`."""
    return config.alpha * mode_action_scale(config, base_active)


def filtered_base(base, last, k):
    """The residual layer's view of a base target (..., 6) rad: `last + k (base - last)`, a
    first-order low-pass from the previous setpoint `last` (..., 6) rad; `k` in (0, 1] (1: the
    base itself). On per-step independent jitter of std s it leaves s sqrt(k / (2 - k)); on a
    steady motion of v rad per step it lags v (1 - k) / k rad. A Python `k` of 1 returns `base`
    itself (bit for bit: the law without the filter). Works on JAX, NumPy and torch arrays."""
    if isinstance(k, (int, float)) and k == 1:
        return base
    return last + k * (base - last)


def joint_target(base, action, scale, lower, upper):
    """Absolute joint target (..., 6) rad for a base target (..., 6) rad and a residual action
    (..., 6) in [-1, 1] (clipped here); `scale` rad per unit action (`residual_scale`)."""
    return jp.clip(base + scale * jp.clip(action, -1.0, 1.0), lower, upper)


def rate_limit(target, previous, max_step):
    """The servo's setpoint (..., 6) rad: `target` approached from `previous` by at most
    `max_step` rad (max joint speed x control period) per control step."""
    return previous + jp.clip(target - previous, -max_step, max_step)


def target_gap(setpoint, measured):
    """(...,) rad: the largest joint distance of the sent setpoint (..., 6) from the measured
    joints (..., 6); above `EnvConfig.max_target_gap` the deploy loop stops the robot."""
    return jp.max(jp.abs(setpoint - measured), axis=-1)
