"""SO-101 paper_return environment on MuJoCo MJX (impl "jax" or "warp")."""
import os as _os

# XLA's CPU fusion emitters make batched MJX ~60x slower on CPU (64 envs: 32 vs 1950 env steps/s,
# benchmarks/results/env_throughput_cpu.json). The flag
# only affects the CPU backend and must be set before JAX starts its backends.
# jaxlib >= 0.11 no longer knows the flag and aborts at backend start ("Unknown flag in
# XLA_FLAGS", seen on a GPU with jaxlib 0.11.2), so it is set for older jaxlib only.
_FLAG = "--xla_cpu_use_fusion_emitters=false"


def _jaxlib_knows_flag() -> bool:
    from importlib.metadata import PackageNotFoundError, version
    try:
        major, minor = (int(p) for p in version("jaxlib").split(".")[:2])
    except (PackageNotFoundError, ValueError):
        return True
    return (major, minor) < (0, 11)


if _FLAG.split("=")[0] not in _os.environ.get("XLA_FLAGS", "") and _jaxlib_knows_flag():
    _os.environ["XLA_FLAGS"] = f"{_os.environ.get('XLA_FLAGS', '')} {_FLAG}".strip()
