"""The residual policy, defined once: its network (`policy.networks`: the actor-critic the
trainer learns, observation statistics, the squash) and its export format with the trainer-free,
tamper-checked loaders (`policy.exported`: JAX, jax.export, torch). Deploy imports this package,
never the trainer (`ppo`)."""
