"""CheckpointStore: atomic save, keep-last-k, exact round trip, corrupt/foreign files, no unpickling."""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

from base_dist.errors import UserError
from base_dist.track.checkpoint import (
    CheckpointCorrupt,
    CheckpointError,
    CheckpointMismatch,
    CheckpointStore,
    load_checkpoint,
    tensor_signature,
)


def _tree(seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    W = OrderedDict()
    W["cell.1.mu"] = torch.randn(3, 4, generator=g)  # deliberately not sorted by name
    W["arch.normal"] = torch.randn(14, 8, generator=g)
    W["cell.0.rho"] = torch.randn(5, generator=g)
    return {
        "W": W,
        "opt": {"exp_avg": {"cell.1.mu": torch.randn(3, 4, generator=g).to(torch.bfloat16)},
                "step": torch.tensor(7, dtype=torch.int64), "empty": {}},
        "rng": {"torch_cpu": torch.get_rng_state()},
        "ints": torch.arange(-5, 5, dtype=torch.int64),
        "scalar": torch.tensor(1e-30, dtype=torch.float32),
    }


def _assert_same(a: dict, b: dict) -> None:
    assert list(a) == list(b)
    for k in a:
        if isinstance(a[k], dict):
            _assert_same(a[k], b[k])
        else:
            assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape
            assert torch.equal(a[k].view(torch.uint8) if a[k].dim() else a[k], b[k].view(torch.uint8) if b[k].dim() else b[k])


def test_exact_round_trip_fp32_bf16_int64(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    tree = _tree()
    tree["W"]["cell.0.rho"][0] = -0.0  # bit-exact includes the sign of zero and subnormals
    tree["W"]["cell.0.rho"][1] = 1e-45
    meta = {"signature": "sig-a", "config": {"meta": {"rounds": 3}}, "py_rng": [3, [1, 2, 2**32 - 1], None]}
    path = store.save(4, tree, meta)
    ck = store.load(path, expect_signature="sig-a")
    assert ck.round == 4 and ck.meta == meta and ck.signature == "sig-a"
    _assert_same(tree, ck.tensors)
    assert list(ck.tensors["W"]) == ["cell.1.mu", "arch.normal", "cell.0.rho"]  # writer's order kept
    assert ck.tensors["opt"]["exp_avg"]["cell.1.mu"].dtype == torch.bfloat16


def test_save_is_atomic_and_keeps_last_k(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = CheckpointStore(tmp_path / "ck", keep=2)
    for r in range(1, 5):
        store.save(r, _tree(r), {"signature": "s"})
    assert [p.name for p in store.list()] == ["ckpt-000003.safetensors", "ckpt-000004.safetensors"]

    # A crash between writing the temp file and the rename leaves the old file intact and no debris.
    def boom(src: str, dst: str) -> None:
        raise OSError("disk full")

    before = store.path_for(4).read_bytes()
    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        store.save(4, _tree(99), {"signature": "s"})
    monkeypatch.undo()
    assert store.path_for(4).read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == ["ckpt-000003.safetensors", "ckpt-000004.safetensors"]


def test_keep_every_keeps_its_multiples_beside_the_last_k(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, keep=2, keep_every=3)
    for r in range(1, 9):
        store.save(r, _tree(r), {"signature": "s"})
    assert [int(p.name[5:11]) for p in store.list()] == [3, 6, 7, 8]
    assert store.load(store.path_for(3), "s").round == 3  # a kept early round is whole


def test_truncated_file_is_clear_error_and_latest_good_falls_back(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = CheckpointStore(tmp_path, keep=3)
    store.save(1, _tree(1), {"signature": "s"})
    newest = store.save(2, _tree(2), {"signature": "s"})
    data = newest.read_bytes()
    newest.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointCorrupt, match=r"ckpt-000002\.safetensors.*truncated"):
        store.load(newest)
    with caplog.at_level(logging.WARNING):
        ck = store.latest_good(expect_signature="s")
    assert ck is not None and ck.round == 1
    _assert_same(ck.tensors, _tree(1))
    assert "falling back" in caplog.text and "ckpt-000002" in caplog.text


def test_flipped_byte_is_detected(tmp_path: Path) -> None:
    path = CheckpointStore(tmp_path).save(1, _tree(), {})
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF  # inside the last tensor's bytes: offsets stay valid, contents do not
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointCorrupt, match="digest"):
        load_checkpoint(path)


def test_all_corrupt_and_empty_and_missing(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    assert store.latest_good() is None
    store.save(1, _tree(), {}).write_bytes(b"\x00\x01")
    with pytest.raises(CheckpointCorrupt, match="no usable checkpoint"):
        store.latest_good()
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope.safetensors")


def test_foreign_signature_and_key_set_mismatch(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    tree = _tree()
    path = store.save(1, tree, {"signature": tensor_signature({"W": tree["W"]})})
    with pytest.raises(CheckpointMismatch, match=r"ckpt-000001.*another search space") as info:
        store.latest_good(expect_signature="other-space")
    assert isinstance(info.value, UserError) and "\n" not in str(info.value)
    other_W = {"cell.1.mu": torch.zeros(3, 4), "cell.9.mu": torch.zeros(2), "arch.normal": torch.zeros(14, 7)}
    with pytest.raises(CheckpointMismatch, match=r"missing: W/cell\.9\.mu; unexpected: W/cell\.0\.rho; shape/dtype: W/arch\.normal"):
        load_checkpoint(path, expect_tensors={"W": other_W})
    assert load_checkpoint(path, expect_tensors={"W": tree["W"]}).round == 1


class _Evil:
    """Unpickling this would create a marker file: the test proves it never happens."""

    marker: Path | None = None

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.marker,))


def test_pickled_files_are_refused_without_unpickling(tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    _Evil.marker = marker
    for i, kwargs in enumerate([{}, {"_use_new_zipfile_serialization": False}]):
        path = tmp_path / f"ckpt-00000{i}.safetensors"
        torch.save({"W": torch.zeros(2), "evil": _Evil()}, path, **kwargs)
        with pytest.raises(CheckpointCorrupt, match="never loaded"):
            load_checkpoint(path)
    assert not marker.exists()


def test_directory_and_run_dir_resolve_to_latest(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "checkpoints")
    store.save(5, _tree(), {})
    store.save(6, _tree(), {})
    assert load_checkpoint(tmp_path).round == 6
    assert load_checkpoint(tmp_path / "checkpoints").round == 6


def test_bad_inputs_are_programming_errors(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    with pytest.raises(ValueError, match="'/'"):
        store.save(1, {"a/b": torch.zeros(1)}, {})
    with pytest.raises(TypeError, match="not a tensor"):
        store.save(1, {"a": 3}, {})
    with pytest.raises(TypeError, match="JSON"):
        store.save(1, {"a": torch.zeros(1)}, {"obj": object()})
    assert store.list() == []


def test_prune_never_deletes_the_checkpoint_just_saved(tmp_path):
    store = CheckpointStore(tmp_path, keep=2)
    for r in (8, 9, 10):
        store.save(r, {"W": {"w": torch.full((1,), float(r))}})
    fresh = store.save(1, {"W": {"w": torch.zeros(1)}})
    assert fresh.exists()
