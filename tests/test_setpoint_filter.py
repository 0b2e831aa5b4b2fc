"""The setpoint filter benchmark's residual: through the env's control law it sends
`last + k (base - last)`, clipped to the residual's reach."""
from types import SimpleNamespace

import jax.numpy as jp
import numpy as np

from benchmarks.setpoint_filter import filter_residual
from mjx_env import control

SCALE = 0.07  # rad per unit residual


def setpoint(k, last, base):
    state = SimpleNamespace(info={"last_target": jp.asarray(last, jp.float32)})
    base = jp.asarray(base, jp.float32)
    action = filter_residual(SCALE)(jp.float32(k), state, base)
    return np.asarray(control.joint_target(base, action, SCALE, -np.pi, np.pi))


def test_the_filter_sends_the_weighted_setpoint():
    last = np.zeros((2, 6), np.float32)
    base = np.tile(np.float32([0.04, -0.02, 0.0, 0.1, -0.1, 0.06]), (2, 1))
    np.testing.assert_allclose(setpoint(1.0, last, base), base, atol=1e-7)  # k = 1: the base alone
    np.testing.assert_allclose(setpoint(0.5, last, base), 0.5 * base, atol=1e-6)
    np.testing.assert_allclose(setpoint(0.3, last, base), 0.3 * base, atol=1e-6)


def test_the_filter_is_clipped_to_the_reach():
    base = np.full((1, 6), 0.5, np.float32)  # 0.25 rad from the filtered setpoint: beyond 0.07
    np.testing.assert_allclose(setpoint(0.5, np.zeros((1, 6)), base), base - SCALE, atol=1e-6)
