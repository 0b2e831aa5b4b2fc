"""The bridge's costs: batched rendering, the render -> DLPack -> torch hand-off, and the chunk cache.

What it measures (medians of --repeats timed calls after a warm-up; everything jitted):
  1. render: frames/s of `bridge.render.Renderer` (top + wrist, --size px) vs batch size.
  2. per chunk, at --chunk-envs envs: render alone; render + hand-off to a torch model that does
     nothing (hand-off = the difference); render + hand-off + a ResNet-18-sized CNN chunk policy
     (two cameras, 16 x 6 head; a realistic cost for a vision policy, far below GR00T's 3B).
  3. model calls per env step over a --steps rollout with time-out resets (episode length
     --episode-length): per-step querying (horizon 1) vs the chunk cache (horizon 16, rules
     per_env and sync). Counts are exact (the cache's counter), not timings.
  4. one full residual-PPO training iteration (rollout + update) with the CNN base: per-step
     querying vs the chunk cache (sync); the speed-up is their time ratio in the same run.

GR00T N1.5 (`--base gr00t --random-weights tiny|full`): LeRobot's real architecture with random
weights, written as an Isaac-format checkpoint (bridge.gr00t_checkpoint.write_random_checkpoint)
and loaded like a real one (bridge.gr00t), per chunk at each of --batches: render, hand-off
(render + DLPack + a null model, minus render), preprocessing (fast path on the device; stock
path on the host), the model's get_action, and the whole bridged chunk with the fast path;
the bridge's share = (render + hand-off + fast preprocessing) / model. Writes
benchmarks/results/bridge_gr00t_<cpu|gpu>.json. On one GPU (bf16, the N1.5-3B shapes):
  XLA_PYTHON_CLIENT_MEM_FRACTION=0.3 python -m benchmarks.bridge --base gr00t \
      --random-weights full --batches 64 256 1024
On this CPU: python -m benchmarks.bridge --base gr00t --random-weights tiny

Run: `python -m benchmarks.bridge` (CPU defaults are small), e.g. on a GPU
  python -m benchmarks.bridge --batches 256 1024 4096 --chunk-envs 1024 --train-envs 1024
Writes benchmarks/results/bridge_<cpu|gpu>.json (override with --out) and prints tables.
"""
from __future__ import annotations

from pathlib import Path

import mjx_env  # noqa: E402,F401  (XLA CPU flag before JAX starts)

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jp  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from bridge import chunk_cache  # noqa: E402
from bridge.base import BasePolicy  # noqa: E402
from bridge.render import Renderer  # noqa: E402
from bridge.torch_base import model_base  # noqa: E402
from bridge.units import BridgeConfig  # noqa: E402
from benchmarks.env_throughput import metadata  # noqa: E402
from mjx_env.paper_return import make, set_base  # noqa: E402
from mjx_env.wrappers import wrap_for_training  # noqa: E402
from ppo.agent import Agent  # noqa: E402
from ppo.config import PPOConfig  # noqa: E402

CAMERAS = ("top", "wrist")


def timed(fn, *args, repeats: int) -> float:
    """Median seconds of `fn(*args)` (blocked until ready) after one warm-up call."""
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


class Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.a = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.na, self.nb = nn.BatchNorm2d(cout), nn.BatchNorm2d(cout)
        self.skip = nn.Conv2d(cin, cout, 1, stride, bias=False) if stride != 1 or cin != cout else nn.Identity()

    def forward(self, x):
        return torch.relu(self.nb(self.b(torch.relu(self.na(self.a(x))))) + self.skip(x))


class CnnChunkPolicy(nn.Module):
    """ResNet-18-sized encoder per camera + MLP -> GR00T-layout `action.arm_0` (B, 16, 6)."""

    def __init__(self, cameras=("video.image_cam_0", "video.image_cam_1")):
        super().__init__()
        self.cameras = cameras
        layers, cin = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)], 64
        for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            layers += [Block(cin, cout, stride), Block(cout, cout, 1)]
            cin = cout
        self.encoder = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Sequential(nn.Linear(512 * len(cameras) + 6, 256), nn.ReLU(), nn.Linear(256, 16 * 6))

    def forward(self, obs: dict) -> dict:
        feats = [self.encoder(obs[k][:, 0].permute(0, 3, 1, 2).float() / 255.0) for k in self.cameras]
        state = obs["state.arm_0"][:, 0].float()
        chunk = state[:, None, :] + 0.01 * self.head(torch.cat(feats + [state], -1)).view(-1, 16, 6)
        return {"action.arm_0": chunk}


def null_model(obs: dict) -> dict:
    state = obs["state.arm_0"][:, 0]
    return {"action.arm_0": state[:, None, :].expand(-1, 16, -1)}


def reset_batch(env, n: int):
    return jax.jit(env.reset)(jax.random.split(jax.random.PRNGKey(0), n))


def bench_render(batches, size, repeats) -> list[dict]:
    rows = []
    for b in batches:
        env = make()
        renderer = Renderer(env, CAMERAS, size)
        seconds = timed(jax.jit(renderer), reset_batch(env, b), repeats=repeats)
        rows.append({"num_envs": b, "size": size, "cameras": len(CAMERAS), "seconds": seconds,
                     "frames_per_s": b * len(CAMERAS) / seconds})
        print(f"render {b:>6} envs x {len(CAMERAS)} cameras at {size}px: {seconds * 1e3:9.1f} ms "
              f"= {rows[-1]['frames_per_s']:9.0f} frames/s", flush=True)
    return rows


def bench_chunk(num_envs, size, repeats, cnn) -> dict:
    env = make()
    state = reset_batch(env, num_envs)
    config = BridgeConfig(units="sim", render_size=size)
    renderer = Renderer(env, CAMERAS, size)
    out = {"num_envs": num_envs, "size": size,
           "render_s": timed(jax.jit(renderer), state, repeats=repeats)}
    for name, model in (("null", null_model), ("cnn", cnn)):
        base = model_base(name, env, model, config, renderer=renderer)
        out[f"render_handoff_{name}_s"] = timed(jax.jit(base.chunk), state, repeats=repeats)
    out["handoff_s"] = max(0.0, out["render_handoff_null_s"] - out["render_s"])
    out["model_s"] = out["render_handoff_cnn_s"] - out["render_handoff_null_s"]
    print(f"per chunk at {num_envs} envs: render {out['render_s'] * 1e3:.1f} ms, hand-off "
          f"{out['handoff_s'] * 1e3:.1f} ms, CNN {out['model_s'] * 1e3:.1f} ms, total "
          f"{out['render_handoff_cnn_s'] * 1e3:.1f} ms", flush=True)
    return out


def count_calls(num_envs, steps, episode_length) -> list[dict]:
    """Batched base calls per env step under each rule (a JAX stand-in base: counts only)."""
    env = make(episode_length=episode_length)
    wrapped = wrap_for_training(env)
    rows = []
    for rule, horizon in (("per_step", 1), ("per_env", 16), ("sync", 16)):
        base = BasePolicy(rule, horizon, 1.0, lambda s, h=horizon: jp.repeat(s.obs[:, None, :6], h, 1),
                          "sync" if rule == "sync" else "per_env")

        def step(carry, _, base=base):
            state, cache = carry
            cache, action = chunk_cache.next_action(cache, base, state)
            nxt = wrapped.step(set_base(state, action), jp.zeros((num_envs, 6)))
            return (nxt, chunk_cache.after_step(cache, nxt.done, base.refresh)), None

        @jax.jit
        def run(key, base=base, step=step):
            state = wrapped.reset(jax.random.split(key, num_envs))
            (_, cache), _ = jax.lax.scan(step, (state, chunk_cache.init(num_envs, base.horizon)), None, steps)
            return cache.calls

        calls = int(run(jax.random.PRNGKey(0)))
        rows.append({"rule": rule, "horizon": horizon, "steps": steps, "calls": calls,
                     "calls_per_env_step": calls / steps})
        print(f"{rule:>9} (horizon {horizon:>2}): {calls} batched calls in {steps} steps = "
              f"{calls / steps:.4f} per env step", flush=True)
    return rows


def bench_training(num_envs, size, cnn, repeats) -> dict:
    env = make()
    renderer = Renderer(env, CAMERAS, size)
    config = BridgeConfig(units="sim", render_size=size)
    ppo = PPOConfig(num_envs=num_envs)
    out = {"num_envs": num_envs, "unroll_length": ppo.unroll_length}
    for label, horizon, rule in (("per_step", 1, "per_env"), ("chunk_cache", 16, "sync")):
        base = model_base("cnn", env, cnn, config, horizon=horizon, refresh=rule, renderer=renderer)
        agent = Agent(env, wrap_for_training(env), base, ppo, num_iterations=10)
        ts = jax.jit(agent.init)(jax.random.PRNGKey(0))
        iteration = jax.jit(agent.iteration)
        out[f"{label}_s"] = timed(lambda t: iteration(t)[1], ts, repeats=repeats)
        print(f"training iteration, {label}: {out[f'{label}_s']:.2f} s", flush=True)
    out["speedup"] = out["per_step_s"] / out["chunk_cache_s"]
    print(f"chunk cache speed-up of a training iteration: {out['speedup']:.1f}x", flush=True)
    return out


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def torch_timed(fn, *args, repeats: int) -> float:
    """Median seconds of a torch call (CUDA synchronised) after one warm-up call."""
    with torch.inference_mode():
        fn(*args)
        _sync()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn(*args)
            _sync()
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_groot(size_name: str, batches, size: int, repeats: int, train_envs: int) -> dict:
    """Per-chunk costs of GR00T N1.5 (random weights, Isaac format) through the bridge."""
    import os
    import tempfile
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from bridge import gr00t
    from bridge.dlpack import to_torch
    from mjx_env.config import EnvConfig
    from mjx_env.paper_return import PaperReturn
    config = BridgeConfig(render_size=size, random_weights=size_name, gr00t_fast=True)
    tick = time.perf_counter()
    fast = gr00t.load(tempfile.mkdtemp(prefix="gr00t_bench_"), config)
    build_s = time.perf_counter() - tick
    model = fast.model
    stock = gr00t.StockGr00t(fast.ckpt, model, fast.tokenizer)
    params = sum(p.numel() for p in model.parameters())
    print(f"gr00t {size_name}: {params / 1e6:.2f}M parameters, built in {build_s:.1f} s, "
          f"{next(model.parameters()).dtype}", flush=True)
    layout, units = config.key_layout(), config.joint_units()
    env = PaperReturn(EnvConfig())
    renderer = Renderer(env, CAMERAS, size)
    rows = []
    for b in batches:
        state = jax.jit(env.reset)(jax.random.split(jax.random.PRNGKey(0), b))
        row = {"batch": b, "render_s": timed(jax.jit(renderer), state, repeats=repeats)}
        null = model_base("null", env, null_model, BridgeConfig(units="sim", render_size=size),
                          renderer=renderer, probe=False)
        row["handoff_s"] = max(0.0, timed(jax.jit(null.chunk), state, repeats=repeats) - row["render_s"])
        frames = {c: to_torch(v) for c, v in jax.jit(renderer)(state).items()}
        sim = to_torch(state.obs[:, :6]).float()
        device = next(model.parameters()).device
        frames = {c: f.to(device) for c, f in frames.items()}
        obs = layout.observation(frames, units.to_robot(sim.to(device)), config.task)
        row["preprocess_fast_s"] = torch_timed(fast.prepare, obs, repeats=repeats)
        row["preprocess_stock_s"] = torch_timed(stock.prepare, obs, repeats=repeats)
        inputs = fast.prepare(obs)
        row["model_s"] = torch_timed(model.get_action, inputs, repeats=repeats)
        base = model_base("gr00t", env, fast, config, renderer=renderer, probe=b == batches[0])
        row["bridged_chunk_fast_s"] = timed(jax.jit(base.chunk), state, repeats=repeats)
        row["bridge_share_of_model"] = (row["render_s"] + row["handoff_s"] + row["preprocess_fast_s"]) / row["model_s"]
        rows.append(row)
        print(f"batch {b:>5}: render {row['render_s'] * 1e3:8.1f} ms, hand-off {row['handoff_s'] * 1e3:7.1f} ms, "
              f"preprocess fast {row['preprocess_fast_s'] * 1e3:7.1f} ms (stock {row['preprocess_stock_s'] * 1e3:7.1f}), "
              f"model {row['model_s'] * 1e3:8.1f} ms, bridged chunk {row['bridged_chunk_fast_s'] * 1e3:8.1f} ms, "
              f"bridge/model {row['bridge_share_of_model']:.2f}", flush=True)
    return {"size": size_name, "parameters": params, "build_s": build_s, "fast_vs_stock_max_abs": fast.worst,
            "training_iteration": groot_training(fast, config, train_envs, size, max(1, repeats - 1)),
            "dtype": str(next(model.parameters()).dtype), "denoising_steps": config.denoising_steps,
            "render_size": size, "per_chunk": rows}


def groot_training(fast, config: BridgeConfig, num_envs: int, size: int, repeats: int) -> dict:
    """Env steps/s of one residual-PPO training iteration (rollout + update, jitted) with the
    GR00T base through the bridge (fast path, chunk cache sync: one model call per 16 steps)."""
    env = make()
    base = model_base("gr00t", env, fast, config, renderer=Renderer(env, CAMERAS, size),
                      probe=False)
    ppo = PPOConfig(num_envs=num_envs, num_minibatches=4, update_epochs=4)
    agent = Agent(env, wrap_for_training(env), base, ppo, num_iterations=10)
    ts = jax.jit(agent.init)(jax.random.PRNGKey(0))
    iteration = jax.jit(agent.iteration)
    seconds = timed(lambda t: iteration(t)[1], ts, repeats=repeats)
    out = {"num_envs": num_envs, "unroll_length": ppo.unroll_length, "iteration_s": seconds,
           "env_steps_per_s": num_envs * ppo.unroll_length / seconds}
    print(f"training iteration with the GR00T base, {num_envs} envs: {seconds:.2f} s = "
          f"{out['env_steps_per_s']:.0f} env steps/s", flush=True)
    return out


def main() -> None:
    gpu = jax.default_backend() == "gpu"
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batches", type=int, nargs="+", default=[256, 1024, 4096] if gpu else [4, 16, 64])
    p.add_argument("--size", type=int, default=224, help="px per square frame")
    p.add_argument("--chunk-envs", type=int, default=1024 if gpu else 16)
    p.add_argument("--train-envs", type=int, default=1024 if gpu else 16)
    p.add_argument("--steps", type=int, default=320)
    p.add_argument("--episode-length", type=int, default=100)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", type=Path)
    p.add_argument("--base", choices=("cnn", "gr00t"), default="cnn",
                   help="cnn: the CNN chunk policy study (default); gr00t: GR00T N1.5 (random weights)")
    p.add_argument("--random-weights", choices=("tiny", "full"), default="tiny")
    args = p.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.base == "gr00t":
        import importlib.metadata
        import transformers
        result = {**metadata(), "torch": {"version": torch.__version__, "device": device,
                                          "gpu": torch.cuda.get_device_name() if device == "cuda" else None},
                  "transformers": transformers.__version__,
                  "lerobot": importlib.metadata.version("lerobot"),
                  "gr00t": bench_groot(args.random_weights, args.batches, args.size, args.repeats,
                                       args.train_envs)}
        out = args.out or Path(__file__).parent / "results" / f"bridge_gr00t_{jax.default_backend()}.json"
        out.write_text(json.dumps(result, indent=1))
        print(f"wrote {out}")
        return
    cnn = CnnChunkPolicy().to(device).eval()
    result = {**metadata(), "torch": {"version": torch.__version__, "device": device},
              "render": bench_render(args.batches, args.size, args.repeats),
              "per_chunk": bench_chunk(args.chunk_envs, args.size, args.repeats, cnn),
              "calls": count_calls(args.chunk_envs, args.steps, args.episode_length),
              "training_iteration": bench_training(args.train_envs, args.size, cnn, max(1, args.repeats - 1))}
    out = args.out or Path(__file__).parent / "results" / f"bridge_{jax.default_backend()}.json"
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
