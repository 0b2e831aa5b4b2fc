"""ppo.checkpoint: named subtrees, bit-exact round trip, read-back check, fallback, pruning."""
import json
import shutil

import jax
import jax.numpy as jp
import numpy as np
import pytest
from flax import struct

from ppo import checkpoint
from ppo.checkpoint import CheckpointError


@struct.dataclass
class State:
    params: dict
    empty: jax.Array  # zero-size, as MJX's `act`: not stored, taken from the template
    iteration: jax.Array


def state(i: int) -> State:
    return State({"w": jp.arange(6000.0).reshape(100, 60) * i, "b": jp.full(3, jp.nan)},
                 jp.zeros((0, 2)), jp.int32(i))


def truncate_largest_file(path):
    files = sorted((p for p in path.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    data = files[-1].read_bytes()
    files[-1].write_bytes(data[: len(data) // 2])


def test_round_trip_is_exact_and_subtrees_are_named(tmp_path):
    path = checkpoint.save(tmp_path, state(3), {"run": 1})
    assert path.name == "3" and json.loads((path / "config.json").read_text()) == {"run": 1}
    back = checkpoint.restore(path, state(0))
    for a, b in zip(jax.tree.leaves(state(3)), jax.tree.leaves(back)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    only = checkpoint.restore_fields(path, {"params": state(0).params})
    np.testing.assert_array_equal(only["params"]["w"], np.asarray(state(3).params["w"]))


def test_a_truncated_newest_checkpoint_falls_back_in_two_short_lines(tmp_path, capsys):
    for i in (1, 2):
        checkpoint.save(tmp_path, state(i), {})
    truncate_largest_file(tmp_path / "checkpoints" / "2")
    restored, path = checkpoint.restore_latest(tmp_path, state(0))
    assert path.name == "1" and int(restored.iteration) == 1
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert captured.err == ""
    assert len(lines) == 2 and all(len(line) < 400 for line in lines)
    assert "checkpoints/2 does not load, skipped" in lines[0] and "OUT_OF_RANGE" in lines[0]
    assert "resuming from" in lines[1] and "checkpoints/1 (iteration 1" in lines[1]


def test_no_loadable_checkpoint_is_one_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint under"):
        checkpoint.restore_latest(tmp_path, state(0))
    checkpoint.save(tmp_path, state(1), {})
    truncate_largest_file(tmp_path / "checkpoints" / "1")
    with pytest.raises(CheckpointError, match=r"loads: 1 \(ValueError: OUT_OF_RANGE"):
        checkpoint.restore_latest(tmp_path, state(0), log=lambda s: None)


def test_a_checkpoint_that_reads_back_wrong_is_removed(tmp_path, monkeypatch):
    checkpoint.save(tmp_path, state(1), {})
    read = checkpoint._restore_tree
    monkeypatch.setattr(checkpoint, "_restore_tree",
                        lambda path, tree: jax.tree.map(lambda x: x + 1, read(path, tree)))
    with pytest.raises(CheckpointError, match="read-back check .* differ"):
        checkpoint.save(tmp_path, state(2), {})
    assert [p.name for p in checkpoint.checkpoints(tmp_path)] == ["1"]


def test_prune_keeps_the_newest(tmp_path):
    for i in (1, 2, 10, 11):
        checkpoint.save(tmp_path, state(i), {})
    removed = checkpoint.prune(tmp_path, keep=2)
    assert sorted(p.name for p in removed) == ["1", "2"]
    assert [p.name for p in checkpoint.checkpoints(tmp_path)] == ["11", "10"]
    shutil.rmtree(tmp_path / "checkpoints")
    assert checkpoint.prune(tmp_path, keep=2) == [] and checkpoint.latest_checkpoint(tmp_path) is None


def test_prune_never_deletes_the_kept_best(tmp_path):
    for i in (1, 2, 3, 4):
        checkpoint.save(tmp_path, state(i), {})
    removed = checkpoint.prune(tmp_path, keep=1, protect=[2, None])
    assert sorted(p.name for p in removed) == ["1", "3"]
    assert [p.name for p in checkpoint.checkpoints(tmp_path)] == ["4", "2"]
