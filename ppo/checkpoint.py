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
import numpy as np
import orbax.checkpoint as ocp


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
