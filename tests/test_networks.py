"""The tanh-squashed Gaussian: log-density and entropy against numpy references."""
import jax
import jax.numpy as jp
import numpy as np

from policy import networks


def _numpy_squashed_log_prob(mean, log_std, u):
    """log N(u; mean, std) - log|d tanh/du| summed over dims, written from the definition."""
    std = np.exp(log_std)
    log_normal = -0.5 * ((u - mean) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)
    return (log_normal - np.log(1.0 - np.tanh(u) ** 2)).sum(-1)


def test_squashed_log_prob_matches_the_change_of_variables():
    rng = np.random.default_rng(0)
    mean = rng.normal(size=(256, 6)).astype(np.float32)
    log_std = rng.uniform(-2, 0.5, size=6).astype(np.float32)
    u = (mean + np.exp(log_std) * rng.normal(size=(256, 6))).astype(np.float32)
    u = np.clip(u, -4, 4)  # numpy's log(1 - tanh^2) loses precision beyond this
    got = np.asarray(networks.squashed_log_prob(jp.asarray(mean), jp.asarray(log_std), jp.asarray(u)))
    np.testing.assert_allclose(got, _numpy_squashed_log_prob(mean, log_std, u), rtol=1e-4, atol=1e-4)


def test_squashed_log_prob_is_a_density_in_action_space():
    """1-D: the density of a = tanh(u) integrates to 1 over (-1, 1)."""
    a = np.linspace(-1 + 1e-6, 1 - 1e-6, 200_001)
    u = np.arctanh(a)[:, None]
    logp = networks.squashed_log_prob(jp.float32([[0.7]]), jp.float32([-0.3]), jp.asarray(u, jp.float32))
    assert abs(np.trapezoid(np.exp(np.asarray(logp, np.float64)), a) - 1.0) < 1e-3


def test_squashed_entropy_estimate_matches_quadrature():
    """E over u ~ N(mean, std) of the one-sample estimate = H[tanh(U)], computed by numpy
    quadrature per dimension: H[U] + E[log(1 - tanh(U)^2)]."""
    mean, log_std = np.float32([0.0, 1.2, -0.5]), np.float32([-1.0, 0.0, 0.8])
    z = np.linspace(-8, 8, 40_001)
    pdf = np.exp(-0.5 * z**2) / np.sqrt(2 * np.pi)
    want = 0.0
    for m, s in zip(mean, np.exp(log_std)):
        u = m + s * z
        log_jac = np.log(np.maximum(1.0 - np.tanh(u) ** 2, 1e-300))
        want += 0.5 * np.log(2 * np.pi * np.e * s**2) + np.trapezoid(pdf * log_jac, z)
    u = mean + np.exp(log_std) * jax.random.normal(jax.random.PRNGKey(0), (400_000, 3))
    got = float(networks.squashed_entropy(jp.asarray(log_std), u).mean())
    assert abs(got - want) < 0.01, (got, want)
    # bounded: a wider Gaussian does not raise the squashed entropy without limit
    wide = networks.squashed_entropy(jp.full(3, 3.0), 20.0 * jax.random.normal(jax.random.PRNGKey(1), (100_000, 3)))
    assert float(wide.mean()) < 3 * np.log(2.0)  # uniform on (-1, 1): log 2 per dim


def test_deterministic_residual_is_bounded():
    assert float(jp.abs(networks.squash(jp.float32([-50.0, 8.0, 0.0]))).max()) <= 1.0
