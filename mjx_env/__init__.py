"""SO-101 paper_return environment on MuJoCo MJX (impl "jax" or "warp")."""
import os as _os

# XLA's CPU fusion emitters make batched MJX kinematics ~30x slower on CPU (measured: 64 envs,
# one physics step 0.20 s with them, 0.006 s without; benchmarks/env_throughput.py). The flag
# only affects the CPU backend and must be set before JAX starts its backends.
_FLAG = "--xla_cpu_use_fusion_emitters=false"
if _FLAG.split("=")[0] not in _os.environ.get("XLA_FLAGS", ""):
    _os.environ["XLA_FLAGS"] = f"{_os.environ.get('XLA_FLAGS', '')} {_FLAG}".strip()
