"""`python -m ppo.evaluate <run dir | checkpoint dir | export dir>` (and `--base <spec>`, the base
check): the command line around the evaluation of `ppo.evaluate`, which the trainer uses without
it. Loads a checkpoint or an export, builds its env and base, prints and writes the results."""
from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import time
from pathlib import Path
from typing import Callable

import jax

from bridge.base import check_bridge, make_base
from cmdline import OneLineParser
from mjx_env.paper_return import PaperReturn
from policy import exported as policy
from ppo import checkpoint, export
from ppo.evaluate import EVAL_SEED, SeededEvaluation, format_report, report, summary

CLI_DOC = """`python -m ppo.evaluate <run dir | checkpoint dir | export dir>`: fixed-seed evaluation.

    python -m ppo.evaluate runs/ppo                       # a run dir: its kept checkpoint
    python -m ppo.evaluate exports/zero_cpu-150 --video 2 --out eval.json

Runs --episodes episodes of the policy (the run's base plus the deterministic residual,
tanh of the actor's mean) on the run's env config; episode i starts from key i of
jax.random.split(PRNGKey(--seed), --episodes), so a rerun gives the same numbers. Prints success
and plausible success with 95% Wilson CIs, mean return, mean episode length and the plausibility
maxima and 95th percentiles; --out also writes them as JSON, --video N an MP4 of the first N
episodes (top camera, with step, success and plausibility flags).
"""
CPU_EVAL_ENVS = 16  # episodes side by side on a CPU (on a GPU: all of them at once)


def parse(argv=None) -> argparse.Namespace:
    """The CLI's arguments; a bad one exits 2 with a one-line message, before anything compiles.
    Adds `kind` ("export" or "checkpoint") and `source` (the export or checkpoint dir)."""
    p = OneLineParser(prog="python -m ppo.evaluate", description=CLI_DOC,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("path", help="a run dir (its kept checkpoint: selection.json, else the latest), a checkpoint dir "
                                "(<run>/checkpoints/<iteration>) or an export dir (manifest.json)")
    p.add_argument("--episodes", type=int, default=64, help="episodes (default 64)")
    p.add_argument("--seed", type=int, default=EVAL_SEED,
                   help=f"episode seed (default {EVAL_SEED}: the episodes of the run's eval.json)")
    p.add_argument("--num-envs", type=int, default=None,
                   help=f"episodes side by side (default: all on a GPU, {CPU_EVAL_ENVS} on a CPU)")
    p.add_argument("--impl", choices=("jax", "warp"), default=None,
                   help="MJX backend (default: the run's, else the faster on this device)")
    p.add_argument("--video", type=int, default=0, metavar="N",
                   help="also write an MP4 of the first N episodes (default 0: none)")
    p.add_argument("--video-out", default=None, metavar="FILE.mp4",
                   help="the MP4 (default: --out with .mp4, else eval-<name>.mp4 here)")
    p.add_argument("--out", default=None, metavar="FILE.json", help="also write the results as JSON")
    args = p.parse_args(argv)
    if args.episodes < 1:
        p.error(f"--episodes must be >= 1, got {args.episodes}")
    if args.num_envs is not None and args.num_envs < 1:
        p.error(f"--num-envs must be >= 1, got {args.num_envs}")
    if not 0 <= args.video <= args.episodes:
        p.error(f"--video must be in 0..--episodes ({args.episodes}), got {args.video}")
    try:
        args.kind, args.source = _input_kind(Path(args.path))
    except ValueError as e:
        p.error(str(e))
    return args


def _input_kind(path: Path) -> tuple[str, Path]:
    """("export", dir) for a dir with manifest.json, ("checkpoint", dir) for a run or checkpoint
    dir; ValueError (one line) otherwise."""

    if not path.exists():
        raise ValueError(f"{path} does not exist")
    if not path.is_dir():
        raise ValueError(f"{path} is not a directory: expected a run, checkpoint or export dir")
    if (path / "manifest.json").is_file():
        return "export", path.resolve()
    try:
        return "checkpoint", checkpoint.find_checkpoint(path)
    except ValueError:  # policy.exported.ExportError
        raise ValueError(f"{path} is not a run dir (checkpoints/<iteration>), a checkpoint dir or "
                         "an export dir (manifest.json)") from None


def actor_residual(hidden, base_active: float) -> Callable:
    """`residual(net, obs (B, 25), base_action (B, 6) rad) -> (B, 6)` in (-1, 1): tanh of the
    actor's mean on the normalised [obs, base_action * base_active] (the deterministic policy);
    `net`: {"actor", "stats"} (`load_policy`)."""
    def residual(net, obs, base_action):
        return policy.residual(net["actor"], net["stats"], obs, base_action * base_active,
                               hidden=tuple(hidden))

    return residual


def evaluate_net(env, base, net: dict, hidden, episodes: int, seed: int, batch: int,
                 progress: str | None = None) -> dict:
    """`evaluate_base`'s results of the base + the deterministic policy `net` (`load_policy`).
    The network is an argument of the compiled programs, not a constant in them: every
    checkpoint and export of one run evaluates through the same programs (compiled once, then
    loaded from JAX's persistent compilation cache). Clears JAX's trace caches first."""
    # Traced from cold caches, as `ppo.train` does (JAX lowers a program differently once its
    # trace caches are warm): a second evaluation in one process then finds its programs in
    # the persistent compilation cache instead of compiling them again.
    jax.clear_caches()
    residual = actor_residual(hidden, base.active)
    run = SeededEvaluation(env, base, lambda p, state, a: residual(p, state.obs, a), min(batch, episodes))
    return run(net, episodes, seed, progress=progress)


def load_policy(kind: str, source: Path) -> tuple[dict, dict, tuple[int, ...]]:
    """(training config.json, {"actor", "stats"}, hidden) of an export or a checkpoint."""
    if kind == "export":
        pol = policy.load(source)
        return pol.manifest["training_config"], {"actor": pol.actor, "stats": pol.stats}, pol.hidden
    config = json.loads(checkpoint.config_path(source).read_text())
    ppo = checkpoint.configs(config).ppo
    params, stats = checkpoint.restore_params(source, ppo)
    actor = export.saved_tree(params, stats, ppo.hidden)["actor"]  # the export's actor layers
    return config, {"actor": actor, "stats": stats}, tuple(ppo.hidden)


def build(config: dict, impl: str | None):
    """(env, base) of a run's training config: its EnvConfig with `impl` (None: the run's), and
    its base policy."""
    cfg = checkpoint.configs(config)
    run = cfg.run
    env = PaperReturn(dataclasses.replace(cfg.env, impl=impl or cfg.env.impl))
    check_bridge(run.base, cfg.bridge)  # one-line error before compiling
    return env, make_base(run.base, env, run.base_horizon, run.base_refresh, config=cfg.bridge)


def main(argv=None) -> dict:
    """The CLI (see CLI_DOC); returns the results written by --out."""
    # `python -m ppo.evaluate --base <spec> ...`: the base alone, no run (ppo.base_check).
    if any(a == "--base" or a.startswith("--base=") for a in (__import__("sys").argv[1:] if argv is None else argv)):
        from ppo.base_check import main as base_check
        return base_check(argv)
    args = parse(argv)
    start = time.monotonic()
    try:
        config, net, hidden = load_policy(args.kind, args.source)
        default_envs = args.episodes if jax.default_backend() == "gpu" else CPU_EVAL_ENVS
        batch = min(args.num_envs or default_envs, args.episodes)
        env, base = build(config, args.impl)
    except (ValueError, TypeError, OSError) as e:  # ExportError is a ValueError
        raise SystemExit(f"python -m ppo.evaluate: error: {e}") from None
    print(f"evaluating {args.source} ({args.kind}; base {base.name}, {args.episodes} episodes, "
          f"seed {args.seed}, impl {env.impl}, {batch} envs side by side)", flush=True)
    result = evaluate_net(env, base, net, hidden, args.episodes, args.seed, batch, "evaluation")
    out = {"source": str(args.source), "kind": args.kind, "base": base.name, "seed": args.seed,
           "impl": env.impl, "num_envs": batch,
           **report(result, summary(result), env.config)}
    out["wall_s"] = time.monotonic() - start
    print(format_report(out))
    print(f"  evaluated in {out['wall_s']:.1f} s (compilation included)", flush=True)
    if args.video:
        from ppo.video import record

        residual = functools.partial(actor_residual(hidden, base.active), net)
        path = Path(args.video_out or (Path(args.out).with_suffix(".mp4") if args.out
                                       else f"eval-{_name(args)}.mp4"))
        out["video"] = record(env, base, residual, args.video, path, args.seed, args.episodes,
                              progress=True)
        print(f"  video: {path} ({args.video} episodes, {out['video']['frames']} frames, "
              f"{out['video']['seconds']:.1f} s)")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(out, indent=1))
        print(f"  results: {args.out}")
    return out


def _name(args) -> str:
    """exports/<name> -> name; <run>/checkpoints/<iteration> -> <run>-<iteration>."""
    src = args.source
    return src.name if args.kind == "export" else f"{src.parent.parent.name}-{src.name}"

