"""Scripted-expert demonstrations with rendered frames, for behaviour cloning (bc.train).

    python -m bc.demos --episodes 256 --out data/demos [--size 64] [--num-envs 16] [--seed 0]

The expert (mjx_env.expert, privileged state) drives the env with domain randomisation on;
the bridge's renderer (bridge.render) draws the top and wrist cameras before every step, so a
frame shows what a base policy would see when asked for the chunk starting at that step.

On-disk layout (`out/`):
  meta.json              fps 30, size, cameras, units "sim radians", joints (ARM_JOINTS order),
                         layout "paper_return", chunk 16, seed, episodes, expert (plausible)
                         success rate, per-episode lengths/success/plausible_success (succeeded
                         with no implausible step: mjx_env.plausibility), env and expert configs
  episode_00000.npz ...  one per episode, T = steps up to and including the first `done`
                         (success or failure) or the time-out (`episode_length`):
    top    (T, S, S, 3) uint8   top camera, before the step
    wrist  (T, S, S, 3) uint8   wrist camera, before the step
    state  (T, 6) float32       joint positions, sim rad (obs[:, 0:6]), before the step
    action (T, 6) float32       the expert's absolute joint target at that step, sim rad
    chunk  (T, 16, 6) float32   action[t:t+16], padded with the episode's last action
    success ()  bool            the episode ended in success
    plausible_success () bool   ... and no step was implausible (arm in the table, sheet lifted)
Files are written into a hidden `.out.tmp-<pid>/` (bridge.atomic) and renamed to `out` at the
end; meta.json is last.
"""
from __future__ import annotations

import mjx_env  # noqa: F401  (sets the XLA CPU flag before JAX starts)

import argparse
import dataclasses
import json
import time
from pathlib import Path

import jax
import numpy as np
from tqdm import tqdm

from bridge import rollout
from bridge.atomic import atomic_directory
from bridge.base import make_base
from bridge.render import Renderer
from bridge.units import CHUNK_HORIZON
from mjx_env.expert import ScriptedExpert
from mjx_env.paper_return import PaperReturn, make
from mjx_env.scene import ARM_JOINTS

CAMERAS = ("top", "wrist")
FPS = 30
SEGMENT = 50  # control steps per compiled rollout call; stop once every env is done


def chunks(action: np.ndarray, horizon: int = CHUNK_HORIZON) -> np.ndarray:
    """(T, 6) -> (T, horizon, 6): row t is action[t:t+horizon], padded with action[-1]."""
    padded = np.concatenate([action, np.repeat(action[-1:], horizon - 1, axis=0)])
    idx = np.arange(len(action))[:, None] + np.arange(horizon)[None, :]
    return padded[idx]


class Recorder:
    """Jitted expert rollouts (`bridge.rollout`, the `scripted` base: the expert, closed loop)
    of a batch of episodes (one per key) with frames at `size` px."""

    def __init__(self, env: PaperReturn, size: int = 64):
        self.env, self.size = env, size
        self.renderer = Renderer(env, CAMERAS, size)  # keep alive: owns the render buffers
        expert = make_base("scripted", env)

        def observe(before, target, after):  # the frames and joints the target was chosen from
            frames = self.renderer(before)
            return (frames["top"], frames["wrist"], before.obs[:, :6], target,
                    after.metrics["success"] > 0, after.metrics["plausible_success"] > 0)

        self.start = jax.jit(lambda keys: rollout.start(env, expert, keys))
        self.segment = jax.jit(lambda c: rollout.segment(env, expert, None, c, SEGMENT, observe))

    def episodes(self, keys: jax.Array) -> list[dict]:
        """Episodes for `keys` (batch, 2): a list of per-episode numpy dicts."""
        carry = self.start(keys)
        parts, length = [], self.env.config.episode_length
        for _ in range(-(-length // SEGMENT)):
            carry, out = self.segment(carry)
            parts.append([np.asarray(x) for x in out["observed"]])
            if not np.asarray(carry.tally.alive).any():
                break
        top, wrist, qpos, target, success, plausible = (np.concatenate([p[i] for p in parts])
                                                        for i in range(6))
        episodes = []  # each up to its first `done` (the tally's count) or the time-out
        for e, t in enumerate(np.minimum(np.asarray(carry.tally.steps), length)):
            action = target[:t, e].astype(np.float32)
            episodes.append({"top": top[:t, e], "wrist": wrist[:t, e],
                             "state": qpos[:t, e].astype(np.float32), "action": action,
                             "chunk": chunks(action), "success": np.bool_(success[:t, e].any()),
                             "plausible_success": np.bool_(plausible[:t, e].any())})
        return episodes


def generate(out: str | Path, episodes: int, size: int = 64, num_envs: int = 16, seed: int = 0,
             force: bool = False, progress: bool = True, **env_overrides) -> dict:
    """Record `episodes` expert episodes into `out` (layout: module docstring); returns meta.
    `env_overrides`: EnvConfig fields (e.g. episode_length=30). Episode i uses key i of
    `jax.random.split(PRNGKey(seed), episodes)`."""
    out = Path(out)
    if episodes < 1:
        raise ValueError(f"--episodes must be >= 1, got {episodes}")
    empty_dir = out.is_dir() and not any(out.iterdir())
    if out.exists() and not (force or empty_dir):
        raise FileExistsError(f"{out} exists and is not empty; pass --force to replace it")
    env = make(**env_overrides)
    recorder = Recorder(env, size)
    keys, rounds = rollout.round_keys(seed, episodes, num_envs), -(-episodes // num_envs)
    lengths, successes, plausible, start = [], [], [], time.perf_counter()
    with atomic_directory(out, force=True) as tmp:
        bar = tqdm(total=episodes, desc="demos", unit="ep", disable=not progress)
        for r in range(rounds):
            for ep in recorder.episodes(keys[r * num_envs:(r + 1) * num_envs]):
                i = len(lengths)
                if i >= episodes:
                    break
                np.savez_compressed(tmp / f"episode_{i:05d}.npz", **ep)
                lengths.append(len(ep["action"]))
                successes.append(bool(ep["success"]))
                plausible.append(bool(ep["plausible_success"]))
            bar.update(len(lengths) - bar.n)
            bar.set_postfix(success=f"{np.mean(successes):.2f}", steps=int(np.mean(lengths)))
        bar.close()
        meta = {
            "fps": FPS, "size": size, "cameras": list(CAMERAS), "units": "sim radians",
            "joints": list(ARM_JOINTS), "layout": "paper_return", "chunk": CHUNK_HORIZON, "seed": seed,
            "episodes": episodes, "expert_success_rate": float(np.mean(successes)),
            "expert_plausible_success_rate": float(np.mean(plausible)),
            "lengths": lengths, "success": successes, "plausible_success": plausible,
            "frames": int(sum(lengths)),
            "seconds": round(time.perf_counter() - start, 1),
            "env_config": dataclasses.asdict(env.config),
            "expert_config": dataclasses.asdict(ScriptedExpert(env).config),
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    return meta


def load_episode(path: str | Path) -> dict:
    """One episode_XXXXX.npz as a dict of numpy arrays."""
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bc.demos", description=__doc__.split("\n\n")[0])
    p.add_argument("--episodes", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--size", type=int, default=64, help="square frame side, px")
    p.add_argument("--num-envs", type=int, default=16, help="episodes recorded side by side")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--episode-length", type=int, default=None, help="control steps (default 300)")
    p.add_argument("--force", action="store_true", help="replace a non-empty --out")
    a = p.parse_args(argv)
    extra = {} if a.episode_length is None else {"episode_length": a.episode_length}
    meta = generate(a.out, a.episodes, a.size, a.num_envs, a.seed, a.force, **extra)
    print(f"{meta['episodes']} episodes, {meta['frames']} frames, expert success "
          f"{meta['expert_success_rate']:.3f}, {meta['seconds']} s -> {a.out}")


if __name__ == "__main__":
    main()
