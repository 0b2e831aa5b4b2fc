"""Residual PPO in JAX for paper_return (`python -m ppo.train`), and the Brax PPO peer."""
