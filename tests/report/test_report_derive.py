"""Derivation from a fixed phi gives the expected genotype JSON, directly and through a checkpoint."""

from __future__ import annotations

import json

import pytest
import torch

from base_dist.config import load_config
from base_dist.errors import UserError
from base_dist.meta.checkpoints import save_meta_checkpoint
from base_dist.meta.prior import load_posterior
from base_dist.report.derive import derive, derive_from_state, write_derive_outputs
from base_dist.space.meta_state import get_state
from base_dist.space.metanet import create_metanet
from base_dist.track.checkpoint import CHECKPOINT_SUBDIR, CheckpointStore


def _fixed_phi_state(cfg):
    """tiny space (2 nodes, 5 edges, 8 ops); per edge one winning op set by hand."""
    model = create_metanet(cfg.space, seed=0)
    W = get_state(model)
    ops = cfg.space.ops
    logits = torch.zeros_like(W["arch.normal"])
    # edges: node0 <- (in0, in1); node1 <- (in0, in1, node0)
    wins = [("sep_conv_3x3", 3.0), ("skip_connect", 2.0), ("max_pool_3x3", 1.0), ("dil_conv_5x5", 4.0),
            ("avg_pool_3x3", 0.5)]
    for e, (op, v) in enumerate(wins):
        logits[e, ops.index(op)] = v
    logits[:, ops.index("none")] = 10.0  # "none" is never kept, however probable
    W["arch.normal"] = logits.clone()
    W["arch.reduce"] = logits.flip(0).clone()
    return W


EXPECTED = {
    "normal": [["sep_conv_3x3", 0], ["skip_connect", 1], ["dil_conv_5x5", 1], ["max_pool_3x3", 0]],
    "normal_concat": [2, 3],
    "reduce": [["dil_conv_5x5", 1], ["avg_pool_3x3", 0], ["sep_conv_3x3", 2], ["skip_connect", 1]],
    "reduce_concat": [2, 3],
}


def test_fixed_phi_gives_expected_json(tiny_config_path, tmp_path):
    cfg = load_config(tiny_config_path)
    res = derive_from_state(_fixed_phi_state(cfg), cfg.space)
    paths = write_derive_outputs(res, tmp_path)
    assert json.loads(paths["genotype"].read_text()) == EXPECTED
    assert paths["cells"].stat().st_size > 1000
    assert json.loads(paths["info"].read_text())["recipe"] == "most-probable"


def test_adapt_checkpoint_roundtrip(tiny_config_path, tmp_path):
    cfg = load_config(tiny_config_path)
    W = _fixed_phi_state(cfg)
    store = CheckpointStore(tmp_path / CHECKPOINT_SUBDIR, keep=1)
    save_meta_checkpoint(store, cfg, 2, W, {}, kind="adapt")
    assert load_posterior(tmp_path).kind == "adapt"
    from base_dist.space.genotypes import genotype_to_dict

    assert genotype_to_dict(derive(None, tmp_path).genotype) == EXPECTED


def test_meta_checkpoint_needs_dataset(tiny_config_path, tmp_path):
    cfg = load_config(tiny_config_path)
    W = _fixed_phi_state(cfg)
    save_meta_checkpoint(CheckpointStore(tmp_path / CHECKPOINT_SUBDIR), cfg, 1, W, {})
    with pytest.raises(UserError, match="name a dataset") as err:
        derive(None, tmp_path)
    assert err.value.option == "dataset"  # the CLI prints it as --dataset
    with pytest.raises(UserError, match="unknown dataset"):
        derive(None, tmp_path, dataset="no-such-set")
    res = derive(None, tmp_path, dataset="digits", tasks=2, samples=2)
    assert res.info["tasks"] == 2 and len(res.genotype.normal) == 4
    assert all(abs(sum(row) - 1) < 1e-4 for row in res.probs["normal"])


def test_missing_checkpoint_is_user_error(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        load_posterior(tmp_path / "nope")
