"""The trainer learns: a reach variant of paper_return (reward = the reach term only), zero base.

Only the reach term: the implausibility penalty is off too. With it on (deploy's target-gap rule
costs 1 per step over 30 deg), the same run was measured to learn reach more slowly (160
iterations at learning rate 2e-3: reach reward -0.455 -> -0.388, against -0.455 -> -0.335
without): reaching the sheet drives the target into the table. The rule has its own test in
test_paper_return.py.

Known answer: from the home pose the fingertip is ~0.29 m from the sheet (reach reward
0.5 (exp(-0.29 / 0.15) - 1) ~ -0.43 per step, 0 at the sheet); moving the arm towards the sheet
earns more.
Budget: 96 iterations x 16 envs x 16 steps (24,576 env steps; ~2.5 minutes on 2 CPU cores, ~60 s
of it compiling). Measured on a 2-core Intel Xeon, the last episode's reach reward per step:
seed 0 -0.318, seed 1 -0.328, seed 2 -0.272 (the previous budget, 160 iterations at 2e-3:
-0.335). No checkpoint selection: the assertion reads the training history, and the
selection's evaluation program (another ~45 s to compile at this batch and episode length) has
its own tests (test_selection.py).
"""
import numpy as np

from ppo.config import PPOConfig, TrainConfig, with_values
from ppo.train import train

REACH_ONLY = dict(reward_progress=0.0, reward_distance=0.0, reward_yaw=0.0,
                  reward_success=0.0, reward_action=0.0, reward_implausible=0.0)
ITERATIONS_PER_EPISODE = 4  # episode_length 64 / unroll_length 16


def test_residual_ppo_learns_to_reach_the_sheet(tmp_path):
    ppo = PPOConfig(num_envs=16, unroll_length=16, num_minibatches=4, update_epochs=4,
                    hidden=(64, 64), learning_rate=3e-3)
    cfg = with_values(TrainConfig(ppo=ppo), iterations=96, episode_length=64, checkpoint_every=1000,
                      select_every=0, seed=0, out=str(tmp_path), **REACH_ONLY)
    _, _, history = train(cfg, progress=False)
    reach = np.array([h["reward/reach"] for h in history])
    first = reach[:ITERATIONS_PER_EPISODE].mean()
    last = reach[-ITERATIONS_PER_EPISODE:].mean()
    print(f"\nreach reward per step: first episode {first:.3f}, last episode {last:.3f}")
    assert last - first >= 0.08 and last >= -0.37  # mean fingertip distance ~0.29 -> < 0.2 m
