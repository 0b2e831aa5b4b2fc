"""Every GPU claim in one command with a time budget: `python -m benchmarks.gpu_suite`.

Items run in order of value; each writes its own JSON as soon as it finishes
(`<out-dir>/gpu_suite_<item>_<device>.json`: device, versions, this command, env count, solver
settings, the item's settings, its numbers), an item whose estimated cost does not fit in the
time left is skipped (said in the summary), and at the budget the process stops at once: the
running item is recorded as stopped, finished items' files are never touched again. At the end
(or at the budget) `gpu_suite_summary_<device>.json` and a table:

  a  GR00T N1.5-3B (random weights, the checkpoint format of bridge.gr00t_checkpoint) in the
     bridge at batch 64 / 256 / 1024: ms per chunk for render, hand-off, preprocessing, model;
     the bridge's share of the model's time (render + hand-off + preprocessing) / model.
  c  the defaults, zero base, 3 seeds side by side (benchmarks/seeds.py; re-check of
     learning_gpu.json)
  d  scripted:0.05 + residual, 3 seeds (seeds.py); the BC vision base + residual when
     bases/bc/policy.safetensors exists
  b  residual PPO with the GR00T base at 1024 and 4096 envs: env steps/s and where an
     iteration's time goes (env, render, model, the rest = policy, update, resets, hand-off)
  e  Brax's PPO with Playground's manipulation settings vs ours, same env and env-step budget
     (benchmarks/ppo_vs_brax.py): env steps and seconds to 80% plausible success, ratios
  f  env throughput (benchmarks/env_throughput.py's timed scan) and one training run's
     iteration throughput (zero base, the defaults) at 4096 and 8192 envs

On one GPU (the results land in --out-dir; copy them into benchmarks/results/):
    python -m benchmarks.gpu_suite --out-dir "$OUT" [--budget-min 9] [--cache-dir /tmp/suite_cache]
    python -m benchmarks.gpu_suite --only a,c --set c.iterations=150
    python -m benchmarks.gpu_suite --plan          # sizes and cost estimates, runs nothing
On a CPU: python -m benchmarks.gpu_suite --smoke   (every item at toy size, into a temp dir)
          python -m benchmarks.gpu_suite --param-count   (GR00T N1.5 full config on torch's meta
          device: parameter count vs the published N1.5-3B, no memory)

Sizes: `SIZES` (GPU) and `SMOKE` (CPU toy), each overridable with --set item.key=value; the cost
model `estimate` is sized from benchmarks/results/{learning,bridge,env_throughput}_gpu.json and
is printed before anything runs (--plan), and each item's estimate sits beside its real wall
time in the summary, to recalibrate. JAX shares the GPU with torch (GR00T):
XLA_PYTHON_CLIENT_MEM_FRACTION defaults to 0.5 here. --cache-dir keeps JAX's compilation cache,
Warp's kernel cache and the random GR00T checkpoint between runs on one machine.
"""
from __future__ import annotations

import time

T0 = time.monotonic()  # the budget counts from here (imports included)

import argparse  # noqa: E402
import contextlib  # noqa: E402
import dataclasses  # noqa: E402
import datetime  # noqa: E402
import importlib.metadata  # noqa: E402
import importlib.util  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import shlex  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

ORDER = ("a", "c", "d", "b", "e", "f")  # by value: GR00T, the learning targets, the rest
TITLES = {
    "a": "GR00T N1.5-3B (random weights) in the bridge: ms per chunk and the bridge's share",
    "b": "residual PPO with the GR00T base: env steps/s and where the iteration's time goes",
    "c": "the defaults, zero base, 3 seeds (re-check of learning_gpu.json)",
    "d": "scripted:0.05 + residual (and the BC vision base + residual), 3 seeds",
    "e": "Brax PPO (Playground manipulation settings) vs ours: steps and seconds to 80%",
    "f": "env and training throughput at 4096 and 8192 envs",
}
PACKAGES = ("jax", "jaxlib", "mujoco", "mujoco-mjx", "warp-lang", "torch", "flax", "optax", "brax",
            "lerobot", "transformers", "numpy")
BC_WEIGHTS = ROOT / "bases" / "bc" / "policy.safetensors"
# The published size of GR00T N1.5 (compared with the meta-device count of our full config).
PUBLISHED_N15 = {
    "model": "nvidia/GR00T-N1.5-3B", "parameters": 3.0e9, "as_published": "3B",
    "source": "https://huggingface.co/nvidia/GR00T-N1.5-3B (model id and card: 'Isaac GR00T "
              "N1.5-3B'; the Hub's safetensors summary of N1.5 checkpoints reads 'Model size 3B "
              "params', a rounded figure)",
    "note": "NVIDIA publishes no exact count. The checkpoint's weights are ~5.45 GB in bf16 "
            "(third-party listing), i.e. ~2.72e9 stored values; our config ties the Qwen3 LM "
            "head to its 151680 x 2048 embedding (0.31e9 parameters counted once).",
}

# Sizes on a GPU, chosen so that a, c, d, b fit ~7 minutes of one H100 (estimate below).
SIZES = {
    "a": {"gr00t": "full", "batches": [64, 256, 1024], "repeats": 3, "repeats_from_1024": 2,
          "stock_batches": [64], "render_size": 224},
    "b": {"gr00t": "full", "num_envs": [1024, 4096], "timed_iterations": [2, 1], "render_size": 224},
    "c": {"base": "zero", "seeds": 3, "num_envs": 4096, "iterations": 100, "chunk": 10,
          "eval_episodes": 128},
    "d": {"base": "scripted:0.05", "seeds": 3, "num_envs": 4096, "iterations": 100, "chunk": 10,
          "eval_episodes": 128, "bc": True},
    "e": {"env_steps": 4_000_000, "evals": 4, "num_envs": 4096, "brax_num_envs": 2048,
          "eval_episodes": 128},
    "f": {"env_num_envs": [4096, 8192], "env_steps": 100, "env_repeats": 2,
          "train_num_envs": [4096, 8192], "timed_iterations": 2},
}
# Toy sizes for --smoke on a CPU (every code path once; numbers meaningless). One seed: with
# MuJoCo Warp on a CPU, seeds.py's side-by-side runs (2 copies) hang in execution (seen with
# jaxlib 0.10.2, warp 1.18.0); on a GPU 6 copies ran (learning_gpu.json).
SMOKE = {
    "a": {"gr00t": "tiny", "batches": [2], "repeats": 1, "repeats_from_1024": 1,
          "stock_batches": [2], "render_size": 224},
    "b": {"gr00t": "tiny", "num_envs": [4], "timed_iterations": [1], "render_size": 224},
    "c": {"base": "zero", "seeds": 1, "num_envs": 4, "iterations": 2, "chunk": 2, "eval_episodes": 2,
          "episode_length": 16},
    "d": {"base": "scripted:0.05", "seeds": 1, "num_envs": 4, "iterations": 2, "chunk": 2,
          "eval_episodes": 2, "bc": False, "episode_length": 16},
    "e": {"env_steps": 128, "evals": 1, "num_envs": 4, "brax_num_envs": 4, "eval_episodes": 2,
          "episode_length": 16},
    "f": {"env_num_envs": [4], "env_steps": 5, "env_repeats": 1, "train_num_envs": [4],
          "timed_iterations": 1},
}
SMOKE_PPO = {"num_minibatches": 2, "update_epochs": 1}  # b and f's training at toy size

# Cost model on an H100 (seconds). Measured: env 315k env steps/s at 4096 envs, 565k at 8192
# (env_throughput_gpu.json); one training run at 4096 envs ~170k env steps/s (issue 28), 6 runs
# side by side 422k (learning_gpu.json, compile 26 s); rendering 2 x 224 px 57k frames/s at
# 1024 envs (bridge_gpu.json). Guessed (never measured, the reason for this suite): GR00T
# N1.5-3B ~3 ms per sample per chunk in bf16 (Isaac-GR00T: 47.9 ms at batch 1), writing and
# loading its random checkpoint ~60 s, Brax's rate and compilation, Warp's first kernel build.
COST = {"warp_first": 30.0, "gr00t_build": 45.0, "gr00t_ms_per_sample": 3.0, "ppo_compile": 20.0,
        "small_compile": 3.0, "env_rate_4096": 315e3, "train_rate_1run": 170e3,
        "train_rate_3runs": 300e3, "render_frames_per_s": 57e3, "eval": 6.0, "brax_compile": 40.0,
        "brax_rate": 150e3, "update_s_4096": 0.2}
SMOKE_COST = {"a": 25.0, "b": 25.0, "c": 30.0, "d": 30.0, "e": 60.0, "f": 20.0}


def estimate(item: str, s: dict, gpu: bool, state: dict | None = None) -> float:
    """Seconds `item` at sizes `s` should take (H100 figures; CPU smoke: fixed small values).
    `state`: what is already in memory ({"gr00t": built, "warp": used})."""
    if not gpu:
        return SMOKE_COST[item]
    state, c = state or {}, COST
    warp = 0.0 if state.get("warp") else c["warp_first"]
    build = 0.0 if state.get("gr00t") else c["gr00t_build"]
    chunk = lambda n: c["gr00t_ms_per_sample"] * 1e-3 * n  # noqa: E731  GR00T model, one chunk
    render = lambda n: 2 * n / c["render_frames_per_s"]  # noqa: E731
    env = lambda n, steps: n * steps / (c["env_rate_4096"] * (n / 4096) ** 0.85)  # noqa: E731
    if item == "a":
        total = warp + build
        for b in s["batches"]:
            r = s["repeats_from_1024"] if b >= 1024 else s["repeats"]
            total += 3 * c["small_compile"] + (r + 1) * (2 * chunk(b) + 2 * render(b))
            total += (r + 1) * 2 * b * 2e-3 if b in s["stock_batches"] else 0.0
        return total
    if item == "b":
        total = warp + build
        for n, t in zip(s["num_envs"], s["timed_iterations"]):
            it = chunk(n) + render(n) + env(n, 16) + c["update_s_4096"] * n / 4096
            total += c["ppo_compile"] + 2 * c["small_compile"] + (1 + t) * it + 3 * render(n)
        return total
    if item in ("c", "d"):
        steps = s["seeds"] * s["iterations"] * s["num_envs"] * 16
        rate = c["train_rate_3runs"] * s["seeds"] / 3 if s["seeds"] < 3 else c["train_rate_3runs"]
        extra = 0.2 if s.get("base", "zero").startswith("scripted") else 0.0  # the expert per step
        one = warp + c["ppo_compile"] + steps / rate * (1 + extra) + (1 + s["seeds"]) * c["eval"]
        return one
    if item == "e":
        ours = c["ppo_compile"] + s["env_steps"] / c["train_rate_1run"] + s["evals"] * c["eval"]
        brax = (c["brax_compile"] + s["env_steps"] / c["brax_rate"] + (s["evals"] + 1) * c["eval"]
                + s["evals"] * c["eval"])
        return warp + ours + brax
    if item == "f":
        total = warp
        for n in s["env_num_envs"]:
            total += c["small_compile"] + (1 + s["env_repeats"]) * env(n, s["env_steps"])
        for n in s["train_num_envs"]:
            it = env(n, 16) + c["update_s_4096"] * n / 4096
            total += c["ppo_compile"] + (1 + s["timed_iterations"]) * it
        return total
    raise KeyError(item)


# ---------------------------------------------------------------------------------------------
# The published-size check: GR00T N1.5's full config on torch's meta device

def gr00t_param_count() -> dict:
    """Build the full-size GR00T N1.5 (the N1.5-3B shapes bridge.gr00t_checkpoint writes) on
    torch's meta device, so no memory is allocated, and count its parameters (tied ones once)
    against the published N1.5-3B."""
    import torch
    tick = time.perf_counter()
    validate = torch.distributions.Distribution._validate_args
    torch.distributions.Distribution.set_default_validate_args(False)  # the action head's Beta
    try:
        with quiet():  # LeRobot prints every trainable tensor
            model, how = _meta_gr00t()
    finally:
        torch.distributions.Distribution.set_default_validate_args(validate)
    params = list(model.parameters())
    if not all(p.is_meta for p in params):
        raise RuntimeError("the GR00T config was not built on the meta device")
    total = sum(p.numel() for p in params)
    parts: dict[str, int] = {}
    for name, p in model.named_parameters():
        parts[_part(name)] = parts.get(_part(name), 0) + p.numel()
    llm = model.backbone.eagle_model.language_model
    return {"parameters": total, "parameters_b": round(total / 1e9, 4), "by_part": parts,
            "dtype": str(params[0].dtype), "device": "meta", "built_with": how,
            "llm_layers_kept": len(llm.model.layers),
            "tied_lm_head": bool(getattr(llm.config, "tie_word_embeddings", False)),
            "build_s": time.perf_counter() - tick, "published": PUBLISHED_N15,
            "ratio_to_published": total / PUBLISHED_N15["parameters"]}


@contextlib.contextmanager
def quiet(keep: list | None = None):
    """Python-level stdout swallowed (LeRobot prints a line per trainable tensor: it would bury
    the progress lines); its last 20 lines kept in `keep`."""
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            yield
    finally:
        if keep is not None:
            keep.extend(buf.getvalue().splitlines()[-20:])


def _meta_gr00t():
    import torch
    try:
        from bridge import gr00t_checkpoint as gc
        build = gc.random_model
    except (ImportError, AttributeError):
        build = None
    if build is not None:
        return build("full", device="meta"), "bridge.gr00t_checkpoint.random_model('full', device='meta')"
    from bridge import lerobot_groot as lg  # the loader before the checkpoint-format rewrite
    from bridge.torch_base import default_stats
    from bridge.units import BridgeConfig
    path = lg.write_random_dir(tempfile.mkdtemp(prefix="gr00t_meta_"), "full", default_stats(BridgeConfig()))
    with torch.device("meta"):
        return lg.build_model(path, "meta", weights=False), "bridge.lerobot_groot.build_model on meta"


def _part(name: str) -> str:
    for key, label in (("vision_model", "vision tower (SigLIP)"), ("language_model", "LLM (Qwen3, cut)"),
                       ("mlp1", "vision-language connector"), ("vl_self_attention", "VL self-attention"),
                       ("action_head.model.", "DiT"), ("action_head", "action head encoders/decoder")):
        if key in name:
            return label
    return "other"


# ---------------------------------------------------------------------------------------------
# The run's context: device, sizes, budget, shared objects, files

class Suite:
    def __init__(self, args, sizes: dict):
        import jax
        self.args, self.sizes, self.smoke = args, sizes, args.smoke
        self.gpu = jax.default_backend() == "gpu"
        self.impl = "warp" if args.smoke else args.impl  # None: the device's default (GPU: warp)
        dev = jax.devices()[0]
        self.device = {"device_kind": dev.device_kind, "platform": dev.platform,
                       "device_count": jax.device_count(), "cpu_model": _cpu_model(),
                       "cpu_count": os.cpu_count()}
        self.slug = re.sub(r"[^a-z0-9]+", "-", dev.device_kind.lower()).strip("-") or dev.platform
        self.out_dir = Path(args.out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.deadline = T0 + args.budget_min * 60.0
        self.command = shlex.join(["python", "-m", "benchmarks.gpu_suite", *args.argv])
        self.rows: list[dict] = []
        self.lock = threading.Lock()
        self.done = False
        self.running: tuple[str, float] | None = None
        self.memo: dict = {}
        self.state = {"gr00t": False, "warp": False}
        self.workdir = Path(args.cache_dir) if args.cache_dir else Path(tempfile.mkdtemp(prefix="gpu_suite_"))
        self.workdir.mkdir(parents=True, exist_ok=True)

    # -- time ------------------------------------------------------------------------------
    def elapsed(self) -> float:
        return time.monotonic() - T0

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def fits(self, seconds: float) -> bool:
        return seconds <= self.remaining()

    # -- files -----------------------------------------------------------------------------
    def path(self, item: str) -> Path:
        return self.out_dir / f"gpu_suite_{item}_{self.slug}.json"

    def write(self, path: Path, record: dict) -> None:
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps(record, indent=1, default=_json_default) + "\n")
        os.replace(tmp, path)

    def header(self, item: str, s: dict) -> dict:
        return {"item": item, "title": TITLES[item], "command": self.command,
                "smoke": self.smoke, "device": self.device, "versions": versions(),
                "torch": torch_info(), "env": self.env_settings(), "settings": s,
                "budget_min": self.args.budget_min,
                "xla_python_client_mem_fraction": os.environ.get("XLA_PYTHON_CLIENT_MEM_FRACTION"),
                "jax_compilation_cache_dir": _jax_cache_dir(),
                "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}

    def env_settings(self) -> dict:
        if "env_settings" not in self.memo:
            from benchmarks.env_throughput import scene_settings
            from mjx_env.config import EnvConfig
            from mjx_env.scene import default_impl
            cfg = EnvConfig()
            self.memo["env_settings"] = {
                "impl": self.impl or default_impl(), "sim_dt": cfg.sim_dt, "ctrl_dt": cfg.ctrl_dt,
                "n_substeps": int(round(cfg.ctrl_dt / cfg.sim_dt)), "episode_length": cfg.episode_length,
                "alpha": cfg.alpha, "solver": scene_settings()}
        return self.memo["env_settings"]

    # -- shared objects --------------------------------------------------------------------
    def env(self):
        if "env" not in self.memo:
            from mjx_env.paper_return import make
            self.memo["env"] = make(impl=self.impl) if self.impl else make()
        return self.memo["env"]

    def bench_bridge(self):
        """The benchmarks.bridge module (imported on first use)."""
        from benchmarks import bridge as bench_bridge
        return bench_bridge

    def reset(self, n: int):
        import jax
        env = self.env()
        if "reset" not in self.memo:
            self.memo["reset"] = jax.jit(env.reset)
        return self.memo["reset"](jax.random.split(jax.random.PRNGKey(0), n))

    def gr00t(self, size: str, render_size: int) -> dict:
        """The GR00T base (built once per run: a and b share it)."""
        key = ("gr00t", size, render_size)
        if key not in self.memo:
            tick = time.perf_counter()
            printed: list[str] = []
            with quiet(printed):
                base, info = _gr00t_base(self.env(), size, render_size, self.workdir)
            info["build_stdout_tail"] = printed
            host = base.model
            fast = host.model
            info.update(build_s=time.perf_counter() - tick, fast_path=hasattr(fast, "prepare"),
                        parameters=sum(p.numel() for p in fast.model.parameters()),
                        dtype=str(next(fast.model.parameters()).dtype),
                        device=str(next(fast.model.parameters()).device),
                        attention=_attention(fast.model),
                        denoising_steps=getattr(fast.model.action_head, "num_inference_timesteps", None),
                        model_image_size=getattr(fast, "image_size", None))
            print(f"[gr00t] {size}: {info['parameters'] / 1e6:.1f}M parameters, {info['dtype']} on "
                  f"{info['device']}, built in {info['build_s']:.1f} s ({info['loader']})", flush=True)
            self.memo[key] = {"base": base, "host": host, "fast": fast, "info": info}
            self.state["gr00t"] = True
        return self.memo[key]

    def ppo(self, n: int):
        from ppo.config import PPOConfig
        return PPOConfig(num_envs=n, **(SMOKE_PPO if self.smoke else {}))

    def zero_iteration(self, n: int, timed: int) -> dict:
        """One training run's iteration (zero base, the defaults at n envs), compiled once per
        run, timed `timed` times after a warm-up call."""
        import jax
        from ppo.config import TrainConfig, with_values
        from ppo.train import build
        key = ("zero_iteration", n)
        if key not in self.memo:
            values = {"iterations": 10, **({"impl": self.impl} if self.impl else {})}
            cfg = with_values(TrainConfig(ppo=self.ppo(n)), **values)
            tick = time.perf_counter()
            _, agent = build(cfg)
            ts = jax.jit(agent.init)(jax.random.PRNGKey(0))
            step = jax.jit(agent.iteration).lower(ts).compile()
            compile_s = time.perf_counter() - tick
            tick = time.perf_counter()
            ts, m = step(ts)
            jax.block_until_ready(m)
            self.memo[key] = {"step": step, "ts": ts, "compile_s": compile_s,
                              "first_call_s": time.perf_counter() - tick, "cfg": cfg}
        entry = self.memo[key]
        times = []
        for _ in range(timed):
            tick = time.perf_counter()
            entry["ts"], m = entry["step"](entry["ts"])
            jax.block_until_ready(m)
            times.append(time.perf_counter() - tick)
        cfg = entry["cfg"]
        sec = statistics.median(times)
        return {"num_envs": n, "unroll_length": cfg.ppo.unroll_length,
                "num_minibatches": cfg.ppo.num_minibatches, "update_epochs": cfg.ppo.update_epochs,
                "iteration_s": sec, "iteration_s_all": times,
                "env_steps_per_s": n * cfg.ppo.unroll_length / sec, "compile_s": entry["compile_s"],
                "first_call_s": entry["first_call_s"]}


# ---------------------------------------------------------------------------------------------
# GR00T: the one place that knows how the bridge loads it

def _gr00t_base(env, size: str, render_size: int, workdir: Path):
    """(BasePolicy, info) of GR00T N1.5 with random weights at `size` through the bridge's fast
    path: an Isaac-format checkpoint written by `bridge.gr00t_checkpoint.write_random_checkpoint`
    and loaded by `make_base("gr00t:<dir>")` like a real one; where that module is absent (the
    code before the checkpoint-format rewrite), `lerobot-groot --random-weights`."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from bridge.base import make_base
    from bridge.units import BridgeConfig
    try:
        from bridge import gr00t_checkpoint as gc
        write = gc.write_random_checkpoint
    except (ImportError, AttributeError):
        write = None
    if write is not None:
        path = workdir / f"gr00t_random_{size}_{render_size}"
        mark = path / getattr(gc, "RANDOM_MARK", "bridge_random.json")
        tick = time.perf_counter()
        reused = mark.is_file() and json.loads(mark.read_text()).get("size") == size
        if not reused:
            shutil.rmtree(path, ignore_errors=True)
            write(path, size, resolution=render_size)
        write_s = time.perf_counter() - tick
        info = {"loader": "bridge.gr00t_checkpoint.write_random_checkpoint + make_base('gr00t:<dir>')",
                "checkpoint": str(path), "checkpoint_reused": reused, "write_s": write_s,
                "checkpoint_bytes": sum(f.stat().st_size for f in path.rglob("*") if f.is_file())}
        spec = f"gr00t:{path}"
    else:
        info = {"loader": "bridge.torch_base.load_lerobot_groot (--base lerobot-groot --random-weights)"}
        spec = "lerobot-groot"
    for fast in (True, False):  # the GPU-resident fast path where this bridge has it
        fields = {"gr00t_fast": fast, "render_size": render_size,
                  **({} if write is not None else {"random_weights": size})}
        try:
            config = BridgeConfig(**fields)
            tick = time.perf_counter()
            base = make_base(spec, env, config=config)
            info.update(load_s=time.perf_counter() - tick, bridge_config=dataclasses.asdict(config))
            return base, info
        except (ValueError, TypeError) as e:
            if not fast:
                raise
            info["fast_path_refused"] = str(e)[:500]
    raise AssertionError("unreachable")


class TimedModel:
    """Wraps the bridge's host model (a GR00T-layout callable): seconds and calls inside the
    rollout's callback, CUDA-synchronised on both sides."""

    def __init__(self, inner):
        self.inner, self.seconds, self.calls = inner, 0.0, 0

    def __call__(self, obs):
        import torch
        sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
        sync()
        tick = time.perf_counter()
        out = self.inner(obs)
        sync()
        self.seconds += time.perf_counter() - tick
        self.calls += 1
        return out

    def __getattr__(self, name):
        return getattr(self.inner, name)


# ---------------------------------------------------------------------------------------------
# Items

def item_a(suite: Suite, s: dict) -> dict:
    import jax
    import torch
    from bridge.render import Renderer
    if suite.gpu and "param_count" not in suite.memo:  # the published-size check (a CPU test too)
        try:
            suite.memo["param_count"] = gr00t_param_count()
        except Exception as e:  # noqa: BLE001  (a side check: recorded, item a goes on)
            suite.memo["param_count"] = {"error": f"{type(e).__name__}: {e}"[:500]}
    g = suite.gr00t(s["gr00t"], s["render_size"])
    suite.state["warp"] = True
    host, fast = g["host"], g["fast"]
    env = suite.env()
    cams = tuple(dict.fromkeys(host.layout.cameras))
    renderer = Renderer(env, cams, s["render_size"])
    render = jax.jit(renderer)
    device = next(fast.model.parameters()).device
    stock_cls = _stock_class(fast)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    rows, skipped, failed = [], [], []
    for b in s["batches"]:
        r = s["repeats_from_1024"] if b >= 1024 else s["repeats"]
        need = estimate("a", {**s, "batches": [b]}, suite.gpu, {"gr00t": True, "warp": True})
        if not suite.fits(need):
            skipped.append({"batch": b, "reason": f"estimated {need:.0f} s > {suite.remaining():.0f} s left"})
            print(f"[a] batch {b} skipped: estimated {need:.0f} s, {suite.remaining():.0f} s left", flush=True)
            continue
        try:
            rows.append(_chunk_row(suite, s, g, render, renderer, stock_cls, b, r))
        except Exception as e:  # noqa: BLE001  (e.g. out of memory at one batch: the others stay)
            failed.append(_failure({"batch": b}, e))
            print(f"[a] batch {b} FAILED: {failed[-1]['error'][:300]}", flush=True)
        _free_torch()
    last = rows[-1] if rows else None
    result = {"gr00t": g["info"], "per_chunk": rows, "skipped_batches": skipped, "failed_batches": failed,
              "fast_vs_stock_max_abs": getattr(fast, "worst", None),
              "param_count_meta": suite.memo.get("param_count"),
              "targets": {"bridge_share_at_1024_le_0.10": _target(rows, 1024, "bridge_share_of_model",
                                                                   lambda v: v <= 0.10),
                          "isaac_gr00t_reference_ms_batch1_h100": 47.9}}
    if device.type == "cuda":
        result["torch_peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2 ** 30
    headline = (f"batch {last['batch']}: model {last['model_s'] * 1e3:.0f} ms, bridge/model "
                f"{last['bridge_share_of_model']:.3f}") if last else "no batch measured"
    if failed:
        headline += f"; failed at batch {', '.join(str(f['batch']) for f in failed)}"
    return {"result": result, "headline": headline}


def _chunk_row(suite: Suite, s: dict, g: dict, render, renderer, stock_cls, b: int, r: int) -> dict:
    """One batch of item a: render, hand-off, preprocessing, model, the whole bridged chunk."""
    import jax
    from bridge.dlpack import to_torch
    from bridge.torch_base import model_base
    from bridge.units import BridgeConfig
    bb, env = suite.bench_bridge(), suite.env()
    host, fast = g["host"], g["fast"]
    device = next(fast.model.parameters()).device
    state = suite.reset(b)
    row = {"batch": b, "repeats": r, "render_s": bb.timed(render, state, repeats=r)}
    null = model_base("null", env, bb.null_model, BridgeConfig(units="sim", render_size=s["render_size"]),
                      renderer=renderer, probe=False)
    row["render_handoff_null_s"] = bb.timed(jax.jit(null.chunk), state, repeats=r)
    row["handoff_s"] = max(0.0, row["render_handoff_null_s"] - row["render_s"])
    frames = {c: to_torch(v).to(device) for c, v in render(state).items()}
    sim = to_torch(state.obs[:, :6]).float().to(device)
    obs = host.layout.observation(frames, host.units.to_robot(sim), host.task)
    if hasattr(fast, "prepare"):
        row["preprocess_s"] = bb.torch_timed(fast.prepare, obs, repeats=r)
        inputs = fast.prepare(obs)
        row["model_s"] = bb.torch_timed(fast.model.get_action, inputs, repeats=r)
        if b in s["stock_batches"] and stock_cls is not None:
            stock = stock_cls.__new__(stock_cls)
            stock.__dict__.update(fast.__dict__)
            row["preprocess_stock_s"] = bb.torch_timed(stock.prepare, obs, repeats=1)
    else:  # no split: the whole model call counts as the model
        row["preprocess_s"] = 0.0
        row["model_s"] = bb.torch_timed(fast, obs, repeats=r)
    row["bridged_chunk_s"] = bb.timed(jax.jit(g["base"].chunk), state, repeats=r)
    row["bridge_s"] = row["render_s"] + row["handoff_s"] + row["preprocess_s"]
    row["bridge_share_of_model"] = row["bridge_s"] / row["model_s"]
    row["ms_per_chunk"] = {k: row[f"{k}_s"] * 1e3 for k in ("render", "handoff", "preprocess", "model",
                                                           "bridged_chunk")}
    row["model_ms_per_sample"] = row["model_s"] * 1e3 / b
    ms = row["ms_per_chunk"]
    print(f"[a] batch {b:>5}: render {ms['render']:8.1f} ms, hand-off {ms['handoff']:7.1f} ms, "
          f"preprocess {ms['preprocess']:7.1f} ms, model {ms['model']:8.1f} ms, bridged chunk "
          f"{ms['bridged_chunk']:8.1f} ms; bridge/model {row['bridge_share_of_model']:.3f}", flush=True)
    return row


def item_b(suite: Suite, s: dict) -> dict:
    import jax
    from bridge.render import Renderer
    g = suite.gr00t(s["gr00t"], s["render_size"])
    suite.state["warp"] = True
    env, host = suite.env(), g["host"]
    cams = tuple(dict.fromkeys(host.layout.cameras))
    render = jax.jit(Renderer(env, cams, s["render_size"]))
    rows, skipped, failed = [], [], []
    for n, timed in zip(s["num_envs"], s["timed_iterations"]):
        need = estimate("b", {**s, "num_envs": [n], "timed_iterations": [timed]}, suite.gpu,
                        {"gr00t": True, "warp": True})
        if not suite.fits(need):
            skipped.append({"num_envs": n, "reason": f"estimated {need:.0f} s > {suite.remaining():.0f} s left"})
            print(f"[b] {n} envs skipped: estimated {need:.0f} s, {suite.remaining():.0f} s left", flush=True)
            continue
        try:
            rows.append(_train_row(suite, g, render, n, timed))
        except Exception as e:  # noqa: BLE001  (e.g. out of memory at 4096 envs: 1024 stays)
            failed.append(_failure({"num_envs": n}, e))
            print(f"[b] {n} envs FAILED: {failed[-1]['error'][:300]}", flush=True)
        _free_torch()
    last = rows[-1] if rows else None
    result = {"gr00t": g["info"], "rows": rows, "skipped_num_envs": skipped, "failed_num_envs": failed,
              "breakdown": "env_s: the env alone (env_throughput.bench_mjx: a scan of unroll_length "
                           "steps, no policy, no resets); render_s: the renderer alone at num_envs, "
                           "x model calls per iteration; model_s: the host model (preprocessing, "
                           "GR00T get_action, un-normalisation) timed inside the rollout's "
                           "callback; rest_s = iteration - the three (policy, PPO update, resets, "
                           "chunk cache, DLPack hand-off)",
              "targets": {"model_share_ge_0.85": {str(r["num_envs"]): r["shares"]["model"] >= 0.85
                                                  for r in rows}}}
    headline = (f"{last['num_envs']} envs: {last['env_steps_per_s']:.0f} env steps/s, model "
                f"{last['shares']['model']:.0%} of the iteration") if last else "no env count measured"
    if failed:
        headline += f"; failed at {', '.join(str(f['num_envs']) for f in failed)} envs"
    return {"result": result, "headline": headline}


def _train_row(suite: Suite, g: dict, render, n: int, timed: int) -> dict:
    """One env count of item b: the GR00T-base training iteration and where its time goes."""
    import jax
    from benchmarks.env_throughput import bench_mjx
    from mjx_env.wrappers import wrap_for_training
    from ppo.agent import Agent
    bb, env, host = suite.bench_bridge(), suite.env(), g["host"]
    ppo = suite.ppo(n)
    agent = Agent(env, wrap_for_training(env), g["base"], ppo, num_iterations=10)
    tick = time.perf_counter()
    ts = jax.jit(agent.init)(jax.random.PRNGKey(0))
    step = jax.jit(agent.iteration).lower(ts).compile()
    row = {"num_envs": n, "unroll_length": ppo.unroll_length, "num_minibatches": ppo.num_minibatches,
           "update_epochs": ppo.update_epochs, "compile_s": time.perf_counter() - tick}
    timer = TimedModel(host.model)
    host.model = timer
    try:
        tick = time.perf_counter()
        ts, m = step(ts)
        jax.block_until_ready(m)
        row["first_call_s"] = time.perf_counter() - tick
        times, model_s, calls = [], [], []
        for _ in range(timed):
            timer.seconds, timer.calls = 0.0, 0
            tick = time.perf_counter()
            ts, m = step(ts)
            jax.block_until_ready(m)
            times.append(time.perf_counter() - tick)
            model_s.append(timer.seconds)
            calls.append(timer.calls)
    finally:
        host.model = timer.inner
    it = statistics.median(times)
    calls_per_it = statistics.median(calls)
    render_call = bb.timed(render, suite.reset(n), repeats=max(1, timed))
    env_row = bench_mjx(env.impl, n, ppo.unroll_length, max(1, timed))
    env_s = env_row.get("seconds_median", float("nan"))
    parts = {"env_s": env_s, "render_s": render_call * calls_per_it, "model_s": statistics.median(model_s)}
    parts["rest_s"] = it - sum(parts.values())
    row.update(iteration_s=it, iteration_s_all=times, env_steps_per_s=n * ppo.unroll_length / it,
               model_calls_per_iteration=calls_per_it, render_s_per_call=render_call,
               env_alone=env_row, **parts,
               shares={k[:-2]: v / it for k, v in parts.items()})
    sh = row["shares"]
    print(f"[b] {n:>5} envs: iteration {it:.2f} s = {row['env_steps_per_s']:.0f} env steps/s; env "
          f"{sh['env']:.0%}, render {sh['render']:.0%}, model {sh['model']:.0%}, rest (policy, "
          f"update, resets, hand-off) {sh['rest']:.0%}", flush=True)
    return row


def _seeds_run(suite: Suite, item: str, label: str, s: dict, base: str, bridge=None) -> dict:
    """benchmarks/seeds.py in this process, its JSON and plot as gpu_suite_<item>_<label>_<dev>."""
    from benchmarks import seeds
    name = f"gpu_suite_{item}_{label}_{suite.slug}"
    argv = ["--seeds", str(s["seeds"]), "--base", base, "--iterations", str(s["iterations"]),
            "--num-envs", str(s["num_envs"]), "--chunk", str(s["chunk"]),
            "--eval-episodes", str(s["eval_episodes"]), "--name", name, "--out-dir", str(suite.out_dir)]
    if s.get("episode_length"):
        argv += ["--episode-length", str(s["episode_length"])]
    if suite.impl:
        argv += ["--impl", suite.impl]
    if importlib.util.find_spec("matplotlib") is None:
        argv.append("--no-plot")
    result = seeds.main(argv, bridge=bridge)
    suite.state["warp"] = True
    raw = suite.out_dir / f"{name}.json"
    raw.unlink(missing_ok=True)  # its content is embedded in the item's JSON
    png = suite.out_dir / f"{name}.png"
    result["item_command"] = shlex.join(["python", "-m", "benchmarks.seeds", *argv])
    result["plot"] = png.name if png.exists() else None
    return result


def _seeds_headline(result: dict) -> str:
    g = next(iter(result["groups"].values()))
    steps, wall = g["env_steps_to_80"]["mean"], g["wall_s_to_80"]["mean"]
    reach = (f"training curve at 80% after {steps / 1e6:.2f}M env steps, {wall:.0f} s (mean of "
             f"{g['runs_whose_training_curve_reached_80']})" if steps is not None else "training curve never at 80%")
    return (f"{g['runs_with_eval_plausible_ge_80']}/{g['runs']} runs >= 80% plausible in evaluation "
            f"(mean {g['plausible_success']['mean']:.1%}); {reach}")


def item_c(suite: Suite, s: dict) -> dict:
    result = _seeds_run(suite, "c", "zero", s, s["base"])
    reference = ROOT / "benchmarks" / "results" / "learning_gpu.json"
    out = {"result": result, "headline": _seeds_headline(result)}
    if reference.exists():
        ref = json.loads(reference.read_text())
        out["result"]["reference"] = {"file": "benchmarks/results/learning_gpu.json",
                                      "answer": ref.get("answer"), "settings": ref.get("settings")}
    return out


def item_d(suite: Suite, s: dict) -> dict:
    result = {"scripted": _seeds_run(suite, "d", re.sub(r"[^a-z0-9.]+", "", s["base"]), s, s["base"])}
    headline = f"{s['base']}: {_seeds_headline(result['scripted'])}"
    if not s.get("bc"):
        result["bc"] = {"skipped": "not asked (--set d.bc=false)"}
    elif not BC_WEIGHTS.exists():
        result["bc"] = {"skipped": f"not present: {BC_WEIGHTS.relative_to(ROOT)} (make base)"}
    else:
        need = estimate("d", s, suite.gpu, suite.state) * 1.5  # renders and a CNN per chunk
        if not suite.fits(need):
            result["bc"] = {"skipped": f"budget: estimated {need:.0f} s > {suite.remaining():.0f} s left"}
        else:
            from base_vs_residual import bc_bridge
            spec = f"torch:bridge.bc_policy:{BC_WEIGHTS}"
            result["bc"] = _seeds_run(suite, "d", "bc", s, spec, bridge=bc_bridge(str(BC_WEIGHTS)))
            headline += f"; bc: {_seeds_headline(result['bc'])}"
    if "skipped" in result["bc"]:
        print(f"[d] BC base skipped: {result['bc']['skipped']}", flush=True)
    return {"result": result, "headline": headline}


def item_e(suite: Suite, s: dict) -> dict:
    from benchmarks import ppo_vs_brax
    raw = suite.out_dir / f".gpu_suite_e_raw_{suite.slug}.json"
    argv = ["--env-steps", str(s["env_steps"]), "--evals", str(s["evals"]), "--num-envs", str(s["num_envs"]),
            "--brax-num-envs", str(s["brax_num_envs"]), "--eval-episodes", str(s["eval_episodes"]),
            "--out", str(raw)]
    if s.get("episode_length"):
        argv += ["--episode-length", str(s["episode_length"])]
    if suite.impl:
        argv += ["--impl", suite.impl]
    record = ppo_vs_brax.main(argv)
    suite.state["warp"] = True
    raw.unlink(missing_ok=True)
    record["item_command"] = shlex.join(["python", "-m", "benchmarks.ppo_vs_brax",
                                         *[a for a in argv if a not in ("--out", str(raw))]])
    o, b = record["results"]["ours"], record["results"]["brax"]
    reach = lambda r: (f"{r['reached_80']['env_steps'] / 1e6:.2f}M steps / {r['reached_80']['wall_s']:.0f} s"  # noqa: E731
                       if r["reached_80"] else "not reached")
    headline = (f"ours {o['env_steps_per_s']:.0f} env steps/s, 80%: {reach(o)}; brax "
                f"{b['env_steps_per_s']:.0f} env steps/s, 80%: {reach(b)}")
    return {"result": record, "headline": headline}


def item_f(suite: Suite, s: dict) -> dict:
    from benchmarks.env_throughput import bench_mjx
    impl = suite.env().impl
    env_rows, train_rows, skipped = [], [], []
    for n in s["env_num_envs"]:
        row = bench_mjx(impl, n, s["env_steps"], s["env_repeats"])
        suite.state["warp"] = True
        env_rows.append(row)
        print(f"[f] env alone, {n:>5} envs: {row.get('env_steps_per_s', float('nan')):.0f} env steps/s "
              f"{row.get('error', '')}", flush=True)
    for n in s["train_num_envs"]:
        need = estimate("f", {**s, "env_num_envs": [], "train_num_envs": [n]}, suite.gpu, suite.state)
        if not suite.fits(need):
            skipped.append({"num_envs": n, "reason": f"estimated {need:.0f} s > {suite.remaining():.0f} s left"})
            continue
        try:
            row = suite.zero_iteration(n, s["timed_iterations"])
        except Exception as e:  # noqa: BLE001
            skipped.append(_failure({"num_envs": n}, e))
            print(f"[f] training at {n} envs FAILED: {skipped[-1]['error'][:300]}", flush=True)
            continue
        env_alone = next((r for r in env_rows if r["num_envs"] == n and "env_steps_per_s" in r), None)
        if env_alone:
            row["training_over_env_alone"] = row["env_steps_per_s"] / env_alone["env_steps_per_s"]
        train_rows.append(row)
        print(f"[f] training, {n:>5} envs: {row['env_steps_per_s']:.0f} env steps/s (iteration "
              f"{row['iteration_s']:.3f} s, compile {row['compile_s']:.0f} s)", flush=True)
    at4096 = next((r for r in train_rows if r["num_envs"] == 4096), None)
    result = {"env_alone": env_rows, "training": train_rows, "skipped_or_failed_training": skipped,
              "targets": {"training_4096_ge_250k_env_steps_per_s":
                          None if at4096 is None else at4096["env_steps_per_s"] >= 250e3}}
    headline = "; ".join([f"env {r['num_envs']}: {r.get('env_steps_per_s', float('nan')):.0f}/s" for r in env_rows]
                         + [f"train {r['num_envs']}: {r['env_steps_per_s']:.0f}/s" for r in train_rows])
    return {"result": result, "headline": headline}


ITEMS = {"a": item_a, "b": item_b, "c": item_c, "d": item_d, "e": item_e, "f": item_f}


# ---------------------------------------------------------------------------------------------
# Running, the budget, the summary

def run_suite(suite: Suite, items: list[str]) -> None:
    watchdog = threading.Thread(target=_watchdog, args=(suite,), daemon=True)
    watchdog.start()
    print(f"gpu_suite: {suite.device['device_kind']}, budget {suite.args.budget_min:g} min "
          f"({suite.remaining():.0f} s left after imports), items {','.join(items)}, out {suite.out_dir}",
          flush=True)
    for item in items:
        s = suite.sizes[item]
        est = estimate(item, s, suite.gpu, suite.state)
        row = {"item": item, "title": TITLES[item], "estimate_s": round(est, 1), "file": None}
        if not suite.fits(est):
            row.update(status="skipped", reason=f"estimated {est:.0f} s > {suite.remaining():.0f} s left")
            print(f"[{item}] skipped: {row['reason']}", flush=True)
            _add_row(suite, row)
            continue
        print(f"[{item}] start: {TITLES[item]} (estimate {est:.0f} s, {suite.remaining():.0f} s left)", flush=True)
        tick = time.monotonic()
        with suite.lock:
            suite.running = (item, tick)
        try:
            out = ITEMS[item](suite, s)
            record = {**suite.header(item, s), "wall_s": time.monotonic() - tick, "estimate_s": est,
                      "result": out["result"]}
            with suite.lock:
                suite.write(suite.path(item), record)
                suite.running = None
            row.update(status="done", wall_s=round(record["wall_s"], 1), headline=out["headline"],
                       file=suite.path(item).name)
            print(f"[{item}] done in {record['wall_s']:.0f} s: {out['headline']} -> {suite.path(item)}", flush=True)
        except Exception as e:  # noqa: BLE001  (an item that fails is recorded; the others go on)
            with suite.lock:
                suite.running = None
            tb = traceback.format_exc()
            record = {**suite.header(item, s), "wall_s": time.monotonic() - tick, "estimate_s": est,
                      "error": f"{type(e).__name__}: {e}"[:2000], "traceback": tb[-6000:]}
            with suite.lock:
                suite.write(suite.path(item), record)
            row.update(status="failed", wall_s=round(record["wall_s"], 1), error=record["error"][:300],
                       file=suite.path(item).name)
            print(f"[{item}] FAILED after {record['wall_s']:.0f} s: {record['error'][:300]}\n{tb[-3000:]}",
                  flush=True)
        _add_row(suite, row)
    with suite.lock:
        suite.done = True
        finish(suite, stopped=False)


def _add_row(suite: Suite, row: dict) -> None:
    with suite.lock:
        suite.rows.append(row)
        write_summary(suite, stopped=False)


def _watchdog(suite: Suite) -> None:
    """Past the budget, an item still running is stopped: recorded as such in the summary, the
    table printed, the process ended at once (exit code 3); finished items' files stay as they
    are. Between items nothing is stopped: the main loop skips what no longer fits."""
    while True:
        time.sleep(min(max(suite.remaining(), 0.2), 1.0))
        if suite.remaining() > 0:
            continue
        with suite.lock:
            if suite.done:
                return
            if suite.running is None:
                continue
            item, start = suite.running
            suite.rows.append({"item": item, "title": TITLES[item], "status": "stopped at the budget",
                               "wall_s": round(time.monotonic() - start, 1),
                               "estimate_s": round(estimate(item, suite.sizes[item], suite.gpu), 1),
                               "file": None})
            finish(suite, stopped=True)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(3)


def write_summary(suite: Suite, stopped: bool) -> Path:
    done = {r["item"] for r in suite.rows}
    path = suite.out_dir / f"gpu_suite_summary_{suite.slug}.json"
    suite.write(path, {
        "command": suite.command, "smoke": suite.smoke, "device": suite.device, "versions": versions(),
        "torch": torch_info(), "budget_min": suite.args.budget_min, "elapsed_s": round(suite.elapsed(), 1),
        "stopped_at_budget": stopped, "order": list(ORDER), "sizes": suite.sizes,
        "items": suite.rows + [{"item": i, "status": "not reached"} for i in suite.args.items
                               if i not in done and (stopped or suite.done)],
        "param_count_meta": suite.memo.get("param_count"),
        "cost_model": COST if suite.gpu else SMOKE_COST})
    return path


def finish(suite: Suite, stopped: bool) -> None:
    path = write_summary(suite, stopped)
    print(f"\n{'item':<5}{'status':<22}{'estimate s':>11}{'wall s':>8}  result", flush=True)
    for r in suite.rows:
        what = r.get("headline") or r.get("reason") or r.get("error") or ""
        wall = f"{r['wall_s']:.0f}" if r.get("wall_s") is not None else "-"
        print(f"{r['item']:<5}{r['status']:<22}{r.get('estimate_s', 0):>11.0f}{wall:>8}  {what}")
    print(f"elapsed {suite.elapsed():.0f} s of {suite.args.budget_min * 60:.0f} s"
          f"{' (stopped at the budget)' if stopped else ''}; summary {path}", flush=True)
    if not suite.args.cache_dir:
        shutil.rmtree(suite.workdir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Helpers

def versions() -> dict:
    def version(pkg: str) -> str | None:
        try:
            return importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            return None
    return {p: version(p) for p in PACKAGES} | {"python": platform.python_version()}


def torch_info() -> dict | None:
    """torch's build and device (only once torch is imported: items a and b import it)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    cuda = torch.cuda.is_available()
    info = {"version": torch.__version__, "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version() if cuda else None, "device": "cuda" if cuda else "cpu"}
    if cuda:
        info.update(gpu=torch.cuda.get_device_name(), bf16=torch.cuda.is_bf16_supported(),
                    sdpa_flash=torch.backends.cuda.flash_sdp_enabled(),
                    sdpa_mem_efficient=torch.backends.cuda.mem_efficient_sdp_enabled())
    return info


def _attention(model) -> dict:
    """The attention implementation of each transformers sub-config of the model."""
    out = {}
    for name, mod in model.named_modules():
        cfg = getattr(mod, "config", None)
        impl = getattr(cfg, "_attn_implementation", None) if cfg is not None else None
        if impl and type(cfg).__name__ not in out:
            out[type(cfg).__name__] = impl
    return out


def _failure(row: dict, e: Exception) -> dict:
    return {**row, "error": f"{type(e).__name__}: {e}"[:2000], "traceback": traceback.format_exc()[-4000:]}


def _free_torch() -> None:
    """Give torch's cached blocks back between batches (JAX, Warp and torch share the GPU)."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _stock_class(fast):
    mod = sys.modules.get(type(fast).__module__)
    for name in ("StockGr00t", "StockLeRobotGr00t"):
        if mod is not None and hasattr(mod, name):
            return getattr(mod, name)
    return None


def _target(rows, batch, key, ok) -> bool | None:
    row = next((r for r in rows if r["batch"] == batch), None)
    return None if row is None else bool(ok(row[key]))


def _cpu_model() -> str:
    try:
        return next(ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                    if ln.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor()


def _jax_cache_dir():
    import jax
    return jax.config.jax_compilation_cache_dir


def _json_default(x):
    try:
        import numpy as np
        if isinstance(x, np.generic):
            return x.item()
        if isinstance(x, np.ndarray):
            return x.tolist()
    except ImportError:
        pass
    return str(x)


def _parse_sets(pairs: list[str], sizes: dict) -> dict:
    """--set item.key=value (value typed like the default: int, float, bool, str, int list)."""
    sizes = json.loads(json.dumps(sizes))
    for pair in pairs:
        name, _, value = pair.partition("=")
        item, _, key = name.partition(".")
        if item not in sizes or key not in sizes[item] or not value:
            raise SystemExit(f"--set {pair!r}: expected item.key=value with item.key one of "
                             f"{[f'{i}.{k}' for i in sizes for k in sizes[i]]}")
        old = sizes[item][key]
        if isinstance(old, bool):
            new = value.lower() in ("1", "true", "yes")
        elif isinstance(old, list):
            new = [int(v) for v in value.split(",")]
        else:
            new = type(old)(value)
        sizes[item][key] = new
    return sizes


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget-min", type=float, default=None,
                   help="minutes for the whole run, imports included (default 9; --smoke 20)")
    p.add_argument("--only", default=None, help=f"comma-separated items, run in the order {','.join(ORDER)}")
    p.add_argument("--smoke", action="store_true", help="every item at toy size (a CPU test)")
    p.add_argument("--out-dir", default=None,
                   help="where the JSONs go (default benchmarks/results; --smoke: a temp dir)")
    p.add_argument("--cache-dir", default=None,
                   help="JAX compilation cache, Warp kernel cache and the random GR00T checkpoint")
    p.add_argument("--set", action="append", default=[], metavar="ITEM.KEY=VALUE",
                   help="override a size, e.g. --set c.iterations=150 --set a.batches=64,256")
    p.add_argument("--impl", choices=("jax", "warp"), default=None, help="MJX impl (default: the device's)")
    p.add_argument("--plan", action="store_true", help="print sizes and estimates, run nothing")
    p.add_argument("--param-count", action="store_true",
                   help="GR00T N1.5 full config on the meta device: parameters vs the published 3B")
    args = p.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    args.items = [i for i in ORDER if args.only is None or i in args.only.split(",")]
    unknown = set((args.only or "").split(",")) - set(ORDER) - {""}
    if unknown:
        p.error(f"--only: unknown item(s) {sorted(unknown)}; items are {','.join(ORDER)}")
    if args.budget_min is None:
        args.budget_min = 20.0 if args.smoke else 9.0
    if args.out_dir is None:
        args.out_dir = (tempfile.mkdtemp(prefix="gpu_suite_smoke_") if args.smoke
                        else str(HERE / "results"))
    return p, args


def _environment(args) -> None:
    """Before JAX, Warp or torch start: memory split, caches, no network for the hub."""
    if not args.smoke:
        os.environ.setdefault("XLA_PYTHON_CLIENT_MEM_FRACTION", "0.5")  # torch (GR00T) gets the rest
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.cache_dir:
        Path(args.cache_dir).mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("WARP_CACHE_PATH", str(Path(args.cache_dir) / "warp"))
        os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(Path(args.cache_dir) / "jax"))
    import mjx_env  # noqa: F401  (its XLA CPU flag before JAX starts)
    import jax
    try:  # no line per Warp kernel module loaded
        import warp
        warp.config.quiet = True
    except ImportError:
        pass
    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)


def main(argv=None) -> int:
    p, args = parse(argv)
    _environment(args)
    if args.param_count:
        count = gr00t_param_count()
        out = Path(args.out_dir) / "gpu_suite_param_count.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(count, indent=1) + "\n")
        print(f"GR00T N1.5 full config on the meta device: {count['parameters']:,} parameters "
              f"({count['parameters_b']:.3f}B, {count['dtype']}, LLM cut at {count['llm_layers_kept']} "
              f"layers, LM head tied: {count['tied_lm_head']}); published {PUBLISHED_N15['as_published']} "
              f"({PUBLISHED_N15['model']}): ratio {count['ratio_to_published']:.3f}")
        for part, n in sorted(count["by_part"].items(), key=lambda kv: -kv[1]):
            print(f"  {part:<32}{n / 1e6:10.1f}M")
        print(f"wrote {out}")
        return 0
    sizes = _parse_sets(args.set, SMOKE if args.smoke else SIZES)
    suite = Suite(args, sizes)
    if args.plan or not (suite.gpu or args.smoke):
        if not args.plan:
            print("no GPU: the full sizes need one (--smoke runs the toy sizes here); the plan:")
        state, total = {"gr00t": False, "warp": False}, 0.0
        for item in args.items:
            est = estimate(item, sizes[item], True, state)
            state.update(warp=True, gr00t=state["gr00t"] or item in ("a", "b"))
            total += est
            print(f"{item}  {est:6.0f} s  (cumulative {total:5.0f} s)  {TITLES[item]}  {sizes[item]}")
        print(f"budget {args.budget_min * 60:.0f} s; items past it are skipped at run time")
        return 0
    run_suite(suite, args.items)
    return 0


if __name__ == "__main__":
    sys.exit(main())
