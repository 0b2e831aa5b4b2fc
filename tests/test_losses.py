"""GAE against a hand computation, the PPO loss against a numpy reference, the critic warm-up."""
import jax
import jax.numpy as jp
import numpy as np
import pytest

from ppo.losses import gae, ppo_loss


def test_gae_hand_example_with_success_and_timeout():
    gamma, lam = 0.9, 0.5
    # One env, 4 steps: step 1 ends by success (terminal), step 3 by the time limit.
    r = np.array([1.0, 2.0, 0.5, 1.0])
    v = np.array([0.5, 1.0, 0.2, 0.4])
    nv = np.array([1.0, 3.0, 0.4, 2.0])  # V(s_{t+1}) before any reset
    done = np.array([0.0, 1.0, 0.0, 1.0])
    trunc = np.array([0.0, 0.0, 0.0, 1.0])
    # By hand: deltas, then A_t = d_t + gamma*lam*(1-done_t)*A_{t+1}.
    d3 = 1.0 + 0.9 * 2.0 - 0.4  # time-out: bootstrap
    d2 = 0.5 + 0.9 * 0.4 - 0.2
    d1 = 2.0 + 0.0 - 1.0  # success: no bootstrap
    d0 = 1.0 + 0.9 * 1.0 - 0.5
    a3 = d3
    a2 = d2 + 0.45 * a3
    a1 = d1
    a0 = d0 + 0.45 * a1
    adv, target = gae(*(jp.asarray(x, jp.float32)[:, None] for x in (r, v, nv, done, trunc)), gamma, lam)
    np.testing.assert_allclose(adv[:, 0], [a0, a1, a2, a3], rtol=1e-6)
    np.testing.assert_allclose(target[:, 0], np.array([a0, a1, a2, a3]) + v, rtol=1e-6)


def numpy_ppo_loss(lp, olp, adv, v, tgt, ent, eps, vf, ec):
    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    ratio = np.exp(lp - olp)
    pg = -np.mean(np.minimum(ratio * adv, np.clip(ratio, 1 - eps, 1 + eps) * adv))
    vl = 0.5 * np.mean((v - tgt) ** 2)
    return pg + vf * vl - ec * ent.mean(), pg, vl


@pytest.mark.parametrize("seed", [0, 1])
def test_ppo_loss_matches_numpy(seed):
    rng = np.random.default_rng(seed)
    n = 64
    lp, olp = rng.normal(size=n) * 0.3, rng.normal(size=n) * 0.3  # ratios both sides of the clip
    adv, v, tgt, ent = rng.normal(size=n), rng.normal(size=n), rng.normal(size=n), rng.uniform(size=n)
    parts = ppo_loss(*(jp.asarray(x, jp.float32) for x in (lp, olp, adv, v, tgt, ent)),
                     clip_eps=0.2, vf_coef=0.5, ent_coef=0.01)
    total, pg, vl = numpy_ppo_loss(lp, olp, adv, v, tgt, ent, 0.2, 0.5, 0.01)
    np.testing.assert_allclose(float(parts.total), total, rtol=1e-5)
    np.testing.assert_allclose(float(parts.policy), pg, rtol=1e-5)
    np.testing.assert_allclose(float(parts.value), vl, rtol=1e-5)
    assert 0.0 < float(parts.clip_fraction) < 1.0


def test_actor_weight_zero_trains_the_critic_alone():
    """The critic warm-up: actor_weight 0 leaves the value loss only, so no gradient reaches the
    log-probabilities or the entropy (the residual's mean and std); 1 is the plain loss."""
    rng = np.random.default_rng(0)
    lp, olp, adv, v, tgt, ent = (jp.asarray(rng.normal(size=32) * 0.3, jp.float32) for _ in range(6))

    def total(lp, v, ent, w):
        return ppo_loss(lp, olp, adv, v, tgt, ent, clip_eps=0.2, vf_coef=0.5, ent_coef=0.01,
                        actor_weight=w).total

    g_lp, g_v, g_ent = jax.grad(total, argnums=(0, 1, 2))(lp, v, ent, 0.0)
    assert not np.any(np.array(g_lp)) and not np.any(np.array(g_ent))
    assert np.abs(np.array(g_v)).max() > 1e-3
    np.testing.assert_allclose(float(total(lp, v, ent, 0.0)), 0.25 * np.mean((np.array(v) - np.array(tgt)) ** 2),
                               rtol=1e-5)
    plain = ppo_loss(lp, olp, adv, v, tgt, ent, clip_eps=0.2, vf_coef=0.5, ent_coef=0.01).total
    assert float(total(lp, v, ent, 1.0)) == float(plain)
