"""RNG states survive a checkpoint round trip and reproduce the same draws."""

import random
from pathlib import Path

import numpy as np
import torch

from base_dist.track.checkpoint import CheckpointStore
from base_dist.track.rngstate import capture_rng_state, restore_rng_state


def test_rng_state_round_trip_through_checkpoint(tmp_path: Path) -> None:
    tensors, meta = capture_rng_state()
    random.gauss(0, 1)  # leaves a cached gauss_next behind, which must round-trip too
    tensors, meta = capture_rng_state()
    path = CheckpointStore(tmp_path).save(1, {"rng": tensors}, {"rng": meta})
    expected = (torch.rand(3), np.random.rand(3), [random.random() for _ in range(3)], random.gauss(0, 1))
    ck = CheckpointStore(tmp_path).load(path)
    restore_rng_state(ck.tensors["rng"], ck.meta["rng"])
    got = (torch.rand(3), np.random.rand(3), [random.random() for _ in range(3)], random.gauss(0, 1))
    assert torch.equal(expected[0], got[0]) and np.array_equal(expected[1], got[1])
    assert expected[2:] == got[2:]
