"""Base policies behind one interface: `chunk(env_state) -> (num_envs, horizon, 6)` absolute
joint targets in sim radians, computed for the whole batch at once. The trainer holds the chunk
in a `bridge.chunk_cache.ChunkCache` and consumes one entry per control step.

  zero                       no base: the env holds the previous target (`active` 0)
  scripted                   the privileged JAX expert (mjx_env.expert); closed loop, horizon 1
  scripted:<noise>           the expert plus Gaussian noise of std <noise> rad per joint and
                             step (a worse base, for the base-quality sweep)
  torch:<module>:<weights>   any torch chunk policy: `<module>.build(**config)` returns the
                             nn.Module, `<weights>` a .safetensors/.pt state dict (config from a
                             JSON file of the same stem, if any); it sees rendered frames + state
                             in the GR00T key layout (bridge.units) and returns GR00T's output
  gr00t:<hub id | dir>       a GR00T N1.5 checkpoint in its own format (Isaac-GR00T or
                             LeRobot, detected), run with LeRobot's pip model code in this
                             process (bridge.gr00t, bridge.gr00t_checkpoint); a hub id comes
                             through the Hugging Face cache. --random-weights tiny|full writes
                             an Isaac-format random checkpoint (to <dir>, or a temporary one
                             for `gr00t` alone) and loads it the same way
  gr00t-server:<host>:<port> a GR00T inference server in another process (bridge.server)

Model bases (torch, gr00t*) render frames and call torch only inside the chunk refresh, so the
model runs once per chunk; torch is imported only when one is asked for.
"""
from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import jax
import jax.numpy as jp

from bridge.units import CHUNK_HORIZON, BridgeConfig
from mjx_env.expert import ScriptedExpert

BASES = ("zero", "scripted", "scripted:<noise>", "torch:<module>:<weights>", "gr00t:<hub id | dir>",
         "gr00t (--random-weights)", "gr00t-server:<host>:<port>")
MODEL_KINDS = ("torch", "gr00t", "gr00t-server")  # bases that run a model (torch) per chunk


def is_model_base(spec: str) -> bool:
    """True for a model base (torch, gr00t, gr00t-server); `scripted:<noise>` is not one."""
    return spec.partition(":")[0] in MODEL_KINDS


@dataclass(frozen=True)
class BasePolicy:
    name: str
    horizon: int  # control steps per chunk
    active: float  # 1: the env follows the chunk; 0: it holds the previous target
    chunk: Callable  # batched env state -> (num_envs, horizon, 6) rad
    refresh: str = "per_env"  # chunk-cache rule (bridge.chunk_cache): "per_env" or "sync"
    model: object = None  # model bases: the host-side bridge.torch_base.ChunkModel (call count)


def make_base(spec: str, env, horizon: int | None = None, refresh: str | None = None,
              config: BridgeConfig = BridgeConfig()) -> BasePolicy:
    """The base named by `spec` (see the module docstring) for a batched `env`."""
    kind, _, rest = spec.partition(":")
    if kind == "zero" and not rest:
        h = horizon or CHUNK_HORIZON
        return BasePolicy("zero", h, 0.0, lambda s: jp.zeros((s.obs.shape[0], h, 6)),
                          refresh or "per_env")
    if kind == "scripted":
        h = horizon or 1
        noise = _noise_std(spec, rest)
        expert = jax.vmap(ScriptedExpert(env))

        def chunk(s):
            target = expert(s)
            if noise > 0:  # per env and control step: keyed by the env's rng and sim time
                step = jp.round(s.data.time / env.config.ctrl_dt).astype(jp.int32)
                keys = jax.vmap(jax.random.fold_in)(s.info["rng"], step)
                target = target + noise * jax.vmap(lambda k: jax.random.normal(k, (6,)))(keys)
            return jp.repeat(target[:, None, :], h, axis=1)

        return BasePolicy(spec, h, 1.0, chunk, refresh or "per_env")
    if is_model_base(spec) and (rest or kind == "gr00t"):  # gr00t alone: --random-weights
        check_bridge(spec, config)
        from bridge import torch_base  # torch only from here on
        model = torch_base.load_model(kind, rest, config)
        return torch_base.model_base(spec, env, model, config, horizon, refresh or "sync")
    raise ValueError(f"unknown base {spec!r}: expected one of {', '.join(BASES)}")


def check_spec(spec: str) -> str:
    """`spec` if `make_base` can build it, else ValueError naming the problem: the kind is known,
    its argument parses, a torch module imports and has `build`, a weights file exists (a GR00T
    checkpoint is checked by `check_bridge`, which knows --random-weights). Nothing is built or
    loaded (a torch module is imported)."""
    kind, _, rest = spec.partition(":")
    if kind == "zero" and not rest:
        return spec
    if kind == "scripted":
        _noise_std(spec, rest)
        return spec
    if kind == "torch" and rest:
        module, _, weights = rest.partition(":")
        try:
            mod = importlib.import_module(module)
        except ImportError as e:
            raise ValueError(f"--base {spec}: cannot import module {module!r} ({e})") from None
        if not callable(getattr(mod, "build", None)):
            raise ValueError(f"--base {spec}: module {module!r} has no build(**config) -> nn.Module")
        if weights and not Path(weights).is_file():
            raise ValueError(f"--base {spec}: weights file {weights} does not exist")
        return spec
    if kind == "gr00t":  # the checkpoint itself (or --random-weights) is check_bridge's
        return spec
    if kind == "gr00t-server":
        server_address(rest)
        return spec
    if kind == "lerobot-groot":
        from bridge.lerobot_groot import LEGACY_SPEC
        raise ValueError(LEGACY_SPEC)
    raise ValueError(f"unknown base {spec!r}: expected one of {', '.join(BASES)}")


def check_bridge(spec: str, config: BridgeConfig) -> BridgeConfig:
    """`config` if it fits the base `spec`, else ValueError naming the problem; run it with
    `check_spec` before anything is built or compiled. The bridge fields' own ranges
    (`BridgeConfig.validate`), --random-weights and --gr00t-fast only with gr00t, the [groot]
    extra installed, and for gr00t the checkpoint itself (bridge.gr00t.checkpoint_for: found
    or downloaded, its format's files, the requested embodiment, its keys against --layout,
    its frame resolution against --render-size) and its Eagle assets in LeRobot's cache. A
    --random-weights checkpoint is written here."""
    config.validate()
    kind, _, rest = spec.partition(":")
    if kind == "lerobot-groot":
        from bridge.lerobot_groot import LEGACY_SPEC
        raise ValueError(LEGACY_SPEC)
    if config.random_weights and kind != "gr00t":
        raise ValueError(f"--random-weights is for --base gr00t[:<dir>], not {spec}")
    if config.gr00t_fast and kind != "gr00t":
        raise ValueError(f"--gr00t-fast is for --base gr00t:<hub id | dir>, not {spec}")
    if kind == "gr00t":
        if importlib.util.find_spec("lerobot") is None or importlib.util.find_spec("transformers") is None:
            from bridge.lerobot_groot import INSTALL_HINT
            raise ValueError(INSTALL_HINT)
        from bridge.gr00t import checkpoint_for
        from bridge.gr00t_checkpoint import eagle_dir
        eagle_dir(checkpoint_for(rest, config))  # CheckpointError: a ValueError, one line
    return config


def server_address(rest: str) -> tuple[str, int]:
    """(host, port) of a `gr00t-server:<host>:<port>` spec's `<host>:<port>`."""
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--base gr00t-server:<host>:<port> needs a host and a port 1..65535, "
                         f"got {rest!r}")
    return host, int(port)


def _noise_std(spec: str, rest: str) -> float:
    try:
        noise = float(rest) if rest else 0.0
    except ValueError:
        noise = -1.0
    if not 0 <= noise < float("inf"):
        raise ValueError(f"--base {spec}: scripted:<noise> needs a finite noise std >= 0 in rad")
    return noise
