"""Training checkpoints: orbax, one named subtree per `TrainState` field, verified, pruned.

    <run>/checkpoints/<iteration>/   orbax (StandardCheckpointer) + config.json of the run

On disk a checkpoint is `{field: {leaf index: array}}` for the fields of `ppo.agent.TrainState`
(params, opt_state, stats, env_state, cache, rng, iteration, env_steps, hp), so a reader that
needs only some fields (the export: params and stats) restores those by name. Zero-size leaves
(MJX's empty `act`) are not stored: orbax refuses them; `restore` takes them from the template.
"""
from __future__ import annotations

import contextlib
import dataclasses
import gc
import json
import shutil
import sys
from pathlib import Path

import jax
import jax.numpy as jp
import numpy as np
import orbax.checkpoint as ocp

from policy import exported as pol
from policy.networks import ActorCritic, RunningStats, init_stats
from ppo import selection
from ppo.config import PPOConfig, TrainConfig, from_json


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be written, read back or restored; the message names it."""


def named_tree(state) -> dict:
    """{field: {str(leaf index): array}} of a `TrainState` (or any flax struct dataclass)."""
    return {f.name: {str(i): x for i, x in enumerate(jax.tree.leaves(getattr(state, f.name)))
                     if np.size(x) > 0}
            for f in dataclasses.fields(state)}


def checkpoints(out: Path) -> list[Path]:
    """The run's checkpoint directories, newest (highest iteration) first."""
    root = Path(out) / "checkpoints"
    steps = sorted((int(p.name) for p in root.glob("*") if p.name.isdigit()), reverse=True) \
        if root.is_dir() else []
    return [(root / str(s)).resolve() for s in steps]


def latest_checkpoint(out: Path) -> Path | None:
    found = checkpoints(out)
    return found[0] if found else None


def _restore_tree(path: Path, template: dict) -> dict:
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
    return ocp.StandardCheckpointer().restore(Path(path).resolve(), abstract)  # orbax: absolute only


def restore(path: Path, template):
    """Load a `save`d state into the structure of `template` (a TrainState of the same config)."""
    stored = _restore_tree(path, named_tree(template))
    fields = {}
    for f in dataclasses.fields(template):
        leaves, treedef = jax.tree.flatten(getattr(template, f.name))
        fields[f.name] = jax.tree.unflatten(
            treedef, [stored[f.name].get(str(i), x) for i, x in enumerate(leaves)])
    return template.replace(**fields)


def restore_fields(path: Path, templates: dict) -> dict:
    """{field: pytree} of only the named fields, each restored into its template's structure
    (shape/dtype structs or arrays), as numpy; the other fields are never read."""
    item = {name: {str(i): jax.ShapeDtypeStruct(np.shape(x), x.dtype)
                   for i, x in enumerate(jax.tree.leaves(t)) if np.size(x) > 0}
            for name, t in templates.items()}
    stored = ocp.PyTreeCheckpointer().restore(Path(path).resolve(), args=ocp.args.PyTreeRestore(  # absolute
        item, restore_args=ocp.checkpoint_utils.construct_restore_args(item), partial_restore=True))
    out = {}
    for name, t in templates.items():
        leaves, treedef = jax.tree.flatten(t)
        out[name] = jax.tree.unflatten(treedef, [
            stored[name].get(str(i), np.zeros(np.shape(x), x.dtype)) for i, x in enumerate(leaves)])
    return out


def _local(x) -> list[np.ndarray]:
    """This process's data of an array (all of it on one process; its shards on several)."""
    if isinstance(x, jax.Array):
        return [np.asarray(s.data) for s in sorted(x.addressable_shards, key=lambda s: s.device.id)]
    return [np.asarray(x)]


def _same(a: dict, b: dict) -> bool:
    return all(np.array_equal(p, q, equal_nan=True)
               for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b))
               for p, q in zip(_local(x), _local(y)))


def save(out: Path, state, config: dict) -> Path:
    """Write out/checkpoints/<iteration> (orbax, atomic) with the run's config.json, then read
    it back and compare every array bit for bit: CheckpointError (and the bad checkpoint
    removed) if it differs or cannot be read. Sharded states keep their shardings; in a
    multi-process run every process calls this and compares its own shards."""
    path = (Path(out) / "checkpoints" / str(int(state.iteration))).resolve()
    tree = named_tree(state)
    ckpt = ocp.StandardCheckpointer()
    ckpt.save(path, tree, force=True)
    ckpt.wait_until_finished()
    main = jax.process_index() == 0  # every process writes its shards; process 0 the rest
    if main:
        (path / "config.json").write_text(json.dumps(config, indent=1))
    try:
        ok = _same(tree, _restore_tree(path, tree))
    except Exception as e:  # noqa: BLE001  (orbax raises many kinds)
        ok, why = False, reason(e)
    else:
        why = "the arrays read back differ from those written"
    if not ok:
        if main:
            shutil.rmtree(path, ignore_errors=True)
        raise CheckpointError(f"checkpoint {path} failed its read-back check ({why}); it was "
                              "removed, the earlier checkpoints are untouched")
    return path


def prune(out: Path, keep: int, protect=()) -> list[Path]:
    """Delete all but the `keep` newest checkpoints and those of the iterations in `protect`
    (the kept best, `ppo.selection`); returns the deleted paths."""
    protected = {str(int(i)) for i in protect if i is not None}
    old = [p for p in checkpoints(out)[keep:] if p.name not in protected]
    for path in old:
        shutil.rmtree(path)
    return old


def reason(e: BaseException) -> str:
    """One line of why a restore failed: the innermost cause's first line (orbax and
    TensorStore wrap errors several levels deep), at most 160 characters."""
    while e.__cause__ is not None or e.__context__ is not None:
        e = e.__cause__ or e.__context__
    first = (str(e).strip().splitlines() or [""])[0]
    text = f"{type(e).__name__}: {first}" if first else type(e).__name__
    return text if len(text) <= 160 else text[:157] + "..."


@contextlib.contextmanager
def _quiet_unraisable():
    """Orbax leaves failed read coroutines behind; Python would print each one's traceback
    ("Exception ignored in: <coroutine ...>", ~60 lines) when it is collected. The failure is
    reported once, in one line, by `restore_latest` instead."""
    hook, sys.unraisablehook = sys.unraisablehook, lambda unraisable: None
    try:
        yield
    finally:
        gc.collect()
        sys.unraisablehook = hook


def restore_latest(out: Path, template, log=print):
    """(state, path) of the newest checkpoint under `out` that restores into `template`; each
    one skipped is named with its reason, in one line. CheckpointError if none restores."""
    found = checkpoints(out)
    if not found:
        raise CheckpointError(f"no checkpoint under {Path(out) / 'checkpoints'}")
    skipped = []
    for path in found:
        try:
            with _quiet_unraisable():
                state = restore(path, template)
        except Exception as e:  # noqa: BLE001
            skipped.append(f"{path.name} ({reason(e)})")
            log(f"checkpoint {path} does not load, skipped: {reason(e)}")
            continue
        log(f"resuming from {path} (iteration {int(state.iteration)}"
            + (f"; {len(skipped)} newer checkpoint(s) skipped)" if skipped else ")"))
        return state, path
    raise CheckpointError(f"no checkpoint under {Path(out) / 'checkpoints'} loads: "
                          + "; ".join(skipped))


# --- a run's checkpoints read back: the kept one, its config, its policy params ---------------
def find_checkpoint(path) -> Path:
    """A checkpoint dir (<run>/checkpoints/<iteration>), or a run dir's kept checkpoint: the
    best evaluated one of its selection.json (`ppo.selection`), else (selection off, an older
    run) its latest."""
    path = Path(path)
    if (path / "checkpoints").is_dir() and (latest := latest_checkpoint(path)) is not None:
        kept = selection.kept_iteration(path)
        path = latest if kept is None else path / "checkpoints" / str(kept)
    if (path / "_CHECKPOINT_METADATA").is_file() and config_path(path).is_file():
        return path.resolve()
    raise pol.ExportError(f"{path} is neither a checkpoint (<run>/checkpoints/<iteration>, with "
                          "config.json in it or in <run>) nor a run directory that holds one")


def config_path(checkpoint: Path) -> Path:
    """The checkpoint's config.json; runs from before checkpoints carried one: the run's (which
    `--resume` keeps unchanged)."""
    own = checkpoint / "config.json"
    return own if own.is_file() else checkpoint.parent.parent / "config.json"


def configs(config: dict) -> TrainConfig:
    """The run's TrainConfig from a checkpoint's config.json (`ppo.config.from_json`)."""
    try:
        return from_json(config)
    except (KeyError, TypeError) as e:
        raise pol.ExportError(f"the checkpoint's config.json does not fit this code's TrainConfig "
                              f"(run, ppo, env, bridge): {e}") from None


def restore_params(checkpoint: Path, ppo: PPOConfig) -> tuple[dict, RunningStats]:
    """(Flax params of the whole ActorCritic, normaliser) of a checkpoint, as numpy: only its
    `params` and `stats` subtrees are read (`restore_fields`), so the env state (whose structure
    depends on the MJX impl it was trained with) is never needed."""
    net = ActorCritic(hidden=ppo.hidden, init_log_std=ppo.init_log_std)
    templates = {"params": jax.eval_shape(net.init, jax.random.PRNGKey(0), jp.zeros((1, pol.POLICY_INPUT))),
                 "stats": jax.eval_shape(lambda: init_stats(pol.POLICY_INPUT))}
    try:
        stored = restore_fields(checkpoint, templates)
    except Exception as e:  # noqa: BLE001  (orbax raises many kinds)
        raise pol.ExportError(f"{checkpoint}: could not read the params with its config's network "
                              f"({list(ppo.hidden)}): {reason(e)}") from e
    params, stats = stored["params"], stored["stats"]
    if not all(np.isfinite(x).all() for x in jax.tree.leaves((params, stats))):
        raise pol.ExportError(f"{checkpoint}: non-finite params or normaliser")
    return params, stats
