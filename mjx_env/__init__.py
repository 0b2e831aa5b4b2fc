"""SO-101 paper_return environment on MuJoCo MJX (impl "jax" or "warp")."""
import os as _os

# XLA's CPU fusion emitters make batched MJX ~60x slower on CPU (64 envs: 32 vs 1950 env steps/s,
# benchmarks/results/env_throughput_cpu.json). The flag
# only affects the CPU backend and must be set before JAX starts its backends.
_FLAG = "--xla_cpu_use_fusion_emitters=false"
if _FLAG.split("=")[0] not in _os.environ.get("XLA_FLAGS", ""):
    _os.environ["XLA_FLAGS"] = f"{_os.environ.get('XLA_FLAGS', '')} {_FLAG}".strip()
