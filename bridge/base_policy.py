"""What a base is: a chunk function of the batched env state and how the env follows it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class BasePolicy:
    name: str
    horizon: int  # control steps per chunk
    active: float  # 1: the env follows the chunk; 0: it holds the previous target
    chunk: Callable  # batched env state -> (num_envs, horizon, 6) rad
    refresh: str = "per_env"  # chunk-cache rule (bridge.chunk_cache): "per_env" or "sync"
    model: object = None  # model bases: the host-side bridge.torch_base.ChunkModel (call count)
