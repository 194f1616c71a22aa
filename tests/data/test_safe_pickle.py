"""Pickled formats go through a restricted unpickler: data loads, code never runs."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from base_dist.data import create_source
from base_dist.data.registry import _CACHE
from base_dist.data.safe_pickle import load_npz, safe_load, safe_loads
from base_dist.errors import UserError


class _Evil:
    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_numpy_arrays_and_containers_load(protocol):
    data = {"data": np.arange(12, dtype=np.uint8).reshape(3, 4), "labels": [1, 2, 3], "n": np.int64(7),
            "name": "batch", "raw": b"\x00\x01", "nested": ({"a": 1.5},)}
    out = safe_loads(pickle.dumps(data, protocol=protocol))
    assert np.array_equal(out["data"], data["data"]) and out["data"].dtype == np.uint8
    assert out["labels"] == [1, 2, 3] and out["n"] == 7 and out["name"] == "batch"
    assert out["raw"] == b"\x00\x01" and out["nested"] == ({"a": 1.5},)


def test_crafted_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    bad = tmp_path / "data_batch_1"
    bad.write_bytes(pickle.dumps({"data": _Evil(str(marker))}))
    with pytest.raises(UserError) as err:
        safe_load(bad)
    message = str(err.value)
    assert str(bad) in message and "refused" in message and "system" in message
    assert "\n" not in message
    assert not marker.exists()


@pytest.mark.parametrize("target", ["builtins eval", "subprocess Popen", "numpy load"])
def test_other_globals_are_refused(target):
    module, name = target.split()
    payload = f"c{module}\n{name}\n(S'1'\ntR.".encode()  # protocol-0 GLOBAL + REDUCE
    with pytest.raises(UserError, match="refused"):
        safe_loads(payload, "x.pkl")


def test_crafted_imagenet_batch_is_refused_through_the_source(tmp_path):
    marker = tmp_path / "pwned"
    (tmp_path / "train_data_batch_1").write_bytes(pickle.dumps({"data": _Evil(str(marker)), "labels": [1]}))
    (tmp_path / "val_data").write_bytes(pickle.dumps({"data": np.zeros((1, 3072), np.uint8), "labels": [1]}))
    with pytest.raises(UserError, match="train_data_batch_1"):
        create_source("imagenet32", tmp_path)
    assert not marker.exists()
    assert not any(str(tmp_path) in root for _, root in _CACHE)  # nothing half-loaded is cached


def test_truncated_pickle_is_a_user_error(tmp_path):
    p = tmp_path / "test_batch"
    p.write_bytes(pickle.dumps({"data": np.zeros((10, 3072), np.uint8)})[:100])
    with pytest.raises(UserError, match="corrupt or truncated"):
        safe_load(p)


def test_npz_object_arrays_are_refused(tmp_path):
    p = tmp_path / "val_data.npz"
    np.savez(p, data=np.zeros((1, 3), np.uint8), labels=np.array([object()], dtype=object))
    with pytest.raises(UserError, match="val_data.npz"):
        load_npz(p)
