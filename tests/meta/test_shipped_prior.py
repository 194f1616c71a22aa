"""The shipped meta-prior: found by name, listed by `base-dist priors`, adapts a few steps, and its
`--from-scratch` arm is the same network without the meta-training."""

from __future__ import annotations

import json

import torch

from base_dist.cli import main
from base_dist.meta.adapt import adapt
from base_dist.meta.prior import load_posterior, seeded_metanet, shipped_prior, shipped_priors
from base_dist.space.meta_state import get_state
from tests.meta.conftest import tiny

NAME = "glyphs-fmnist"
QUICK = ["--set", "adapt.max_train_images=32", "--set", "adapt.max_val_images=32", "--set", "tracking.mlflow=false"]


def test_shipped_prior_loads_by_name_and_says_what_it_measured():
    card = shipped_priors()[NAME]
    assert "digits" in json.dumps(card["measured"]) and card["trained_on"]
    post = load_posterior(NAME)  # a name, not a path
    assert post.path == shipped_prior(NAME) and post.kind == "meta-train"
    assert post.rounds == post.config["meta"]["rounds"] == card["rounds"]  # a finished meta-training, as described
    cfg = tiny()
    assert post.config["dist"]["workers"] == 0 and post.config["adapt"]["epochs"] == 1  # cleaned for users
    seeded = get_state(seeded_metanet(type(cfg).model_validate(post.config)))
    assert list(seeded) == list(post.W) and not torch.equal(seeded["arch.normal"], post.W["arch.normal"])


def test_shipped_prior_adapts_a_few_steps():
    cfg = type(tiny()).model_validate({**load_posterior(NAME).config, "device": "cpu"})
    cfg.adapt.max_train_images, cfg.adapt.max_val_images = 64, 32
    res = adapt(cfg, NAME, progress=False)
    assert len(res.history) == 2 and 0.0 <= res.final_val_acc <= 1.0
    assert res.info["checkpoint"] == str(shipped_prior(NAME))


def test_cli_priors_and_adapt_by_name(tmp_path, capsys):
    assert main(["priors"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(NAME) and "measured, digits" in out
    assert main(["adapt", "--prior", NAME, "--dataset", "digits", *QUICK, "--run-dir", str(tmp_path / "a")]) == 0
    assert "held-out accuracy per epoch" in capsys.readouterr().out
    assert main(["adapt", "--prior", NAME, "--from-scratch", "--dataset", "digits", *QUICK,
                 "--run-dir", str(tmp_path / "s")]) == 0
    scratch = json.loads((tmp_path / "s" / "metrics.json").read_text())
    prior = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert scratch["info"]["checkpoint"] is None and prior["info"]["checkpoint"].endswith("prior.safetensors")
    assert scratch["info"]["ops"] == prior["info"]["ops"]  # the same search space: the comparison arm
    assert main(["adapt", "--prior", "nope", "--dataset", "digits", "--run-dir", str(tmp_path / "x")]) == 2
    assert "--prior: no shipped prior named 'nope'" in capsys.readouterr().err and not (tmp_path / "x").exists()
