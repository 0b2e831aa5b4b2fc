"""PPO on the paper_return env (a Brax PPO baseline now; the project's residual PPO follows)."""
