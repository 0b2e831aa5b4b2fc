"""The end of a training run (`python -m ppo.train` calls `report` after `train`): the learning
curve (learning_curve.png), the fixed-seed evaluation of the kept checkpoint (eval.json,
TensorBoard, printed), the first >= 80% crossing of the training curve, and eval.mp4."""
from __future__ import annotations

import json
from pathlib import Path

import jax

from ppo import checkpoint, selection
from ppo.agent import Agent, TrainState
from ppo.config import TrainConfig
from ppo.evaluate import EVAL_SEED, episode_window, evaluate_policy, first_reach
from ppo.summaries import EventLog


def plot(history: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    done = [h for h in history if h["episode_return"] is not None]
    steps = [h["env_steps"] for h in done]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    axes[0].plot(steps, [h["episode_return"] for h in done], marker=".")
    axes[0].set(xlabel="env steps", ylabel="episode return")
    axes[1].plot(steps, [h["success_rate"] for h in done], marker=".", label="success")
    axes[1].plot(steps, [h["plausible_success_rate"] for h in done], marker=".",
                 label="plausible success")
    axes[1].set(xlabel="env steps", ylabel="rate", ylim=(-0.02, 1.02))
    axes[1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def report(agent: Agent, ts: TrainState, history: list[dict], cfg: TrainConfig) -> dict:
    """After training: the learning curve, the fixed-seed evaluation (eval.json, TensorBoard,
    printed) and the first >= 80% crossing of the training curve."""
    run, ppo = cfg.run, cfg.ppo
    out = Path(run.out)
    # host copies: the evaluation runs on one device of this process, not on the training mesh
    ts = ts.replace(params=jax.device_get(ts.params), stats=jax.device_get(ts.stats))
    chosen = selection.read(out) if run.select_every else None
    kept = chosen["best"]["iteration"] if chosen and chosen.get("best") else int(ts.iteration)
    if kept != int(ts.iteration):  # eval.json, the video and the export take the kept checkpoint
        params, stats = checkpoint.restore_params(out / "checkpoints" / str(kept), ppo)
        ts = ts.replace(params=params, stats=stats)
    events = EventLog(out)
    if history:
        plot(history, out / "learning_curve.png")
        events.image("learning_curve", out / "learning_curve.png", int(ts.env_steps))
    # in rounds of the selection's episodes (when they fit): the selection's compiled program
    batch = run.select_episodes if run.select_every and run.select_episodes <= run.eval_episodes else None
    result = evaluate_policy(agent, ts, run.eval_episodes, batch=batch, progress=True)

    def residual(obs, base_action):
        return agent.deterministic_residual(ts.params, ts.stats, obs, base_action)
    window = episode_window(cfg.env.episode_length, ppo.unroll_length)
    result["training_first_80_plausible"] = reach = first_reach(history, window)
    result["selection"] = {"checkpoint": kept, "final_iteration": int(ts.iteration), **(
        {"kept": "the best evaluated checkpoint (selection.json)",
         "residual_helped": chosen["residual_helped"], "verdict": selection.verdict(chosen),
         **{k: chosen[k] for k in ("base_alone", "best", "episodes", "seed", "rule")},
         "evaluations": len(chosen["evaluations"])} if chosen and chosen.get("best") else
        {"kept": "the final checkpoint (selection off: --select-every 0)", "residual_helped": None})}
    if run.video:  # the first episodes of that evaluation, filmed from the top camera
        from ppo.video import record
        video = record(agent.env, agent.base, residual, run.video, out / "eval.mp4", EVAL_SEED,
                       total=run.eval_episodes, progress=True)
        result["video"] = {k: video[k] for k in ("path", "episodes", "success", "implausible")}
    (out / "eval.json").write_text(json.dumps(result, indent=1))
    events.evaluation(result, int(ts.env_steps))
    events.close()
    for name in ("base_alone", "base_plus_residual"):
        r = result[name]
        (lo, hi), (plo, phi) = r["ci95"], r["plausible_ci95"]
        print(f"{name:>20}: success {r['success_rate']:.1%} (95% CI {lo:.1%}..{hi:.1%}), "
              f"plausible success {r['plausible_success_rate']:.1%} (95% CI {plo:.1%}..{phi:.1%}) "
              f"over {r['episodes']} episodes; arm depth max {r['arm_depth_max'] * 1e3:.1f} mm, "
              f"sheet lift max {r['paper_lift_max'] * 1e3:.1f} mm")
    print(f"selection: {result['selection']['verdict']}; eval.json, eval.mp4 and `make export "
          f"CKPT={out}` use checkpoint {kept}" if chosen and chosen.get("best") else
          f"selection off: eval.json evaluates the final checkpoint {kept}")
    print("training curve (plausible success over the last episode length of iterations): "
          + (f"first >= 80% at {reach['env_steps']} env steps, {reach['wall_s']:.0f} s of training"
             if reach else "never >= 80%"))
    print(f"logs, checkpoints, plots, TensorBoard events{', eval.mp4' if run.video else ''} in "
          f"{out} (make tensorboard RUN={out}; make evaluate RUN={out})")
    return result
