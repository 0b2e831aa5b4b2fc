"""Base policies for the residual trainer: the chunk cache, the batched renderer, JAX <-> torch
hand-off (DLPack), robot units and GR00T key layouts, the GR00T adapters and server client.

Only the torch-facing modules (`dlpack`, `torch_base`, `gr00t`, `server`) import torch, and
only when a torch/gr00t base is asked for: a state-only training run never loads it.
"""
