"""The experiment reports build their figures and tables from a tiny run (tiny config, 1 seed, 1 epoch)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from base_dist.config import load_config
from base_dist.report.tables import update_section


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch.set_num_threads(1)
    from base_dist.report.common import ensure_meta_checkpoint
    from tests.conftest import CONFIGS

    cfg = load_config(CONFIGS / "tiny.yaml", ["adapt.max_train_images=64", "meta.rounds=1"])
    ckpt = ensure_meta_checkpoint(cfg, tmp_path_factory.mktemp("exp"), None)
    return cfg, ckpt


def test_fast_adaptation_report(tiny, tmp_path):
    from base_dist.report.fast_adaptation import VARIANTS, run_fast_adaptation

    cfg, ckpt = tiny
    res = run_fast_adaptation(cfg, ckpt, seeds=[0], datasets=["digits"], run_dir=tmp_path)
    assert set(res.curves["digits"]) == set(VARIANTS)
    assert all(len(c[0]) == cfg.adapt.epochs + 1 for c in res.curves["digits"].values())
    assert (tmp_path / "fast_adaptation_digits.png").is_file() and (tmp_path / "table.md").is_file()
    assert "| digits | scratch | 1 |" in res.table and res.tau == 1.0  # tiny: no annealing, tau_start
    from base_dist.space.genotypes import genotype_from_dict

    saved = json.loads((tmp_path / "fast_adaptation.json").read_text())["genotypes"]["digits"]
    assert set(saved) == set(VARIANTS) and all(len(per_seed) == 1 for per_seed in saved.values())
    genotype_from_dict(saved["co-adapted"][0])  # each seed's derived genotype, readable again


def test_fast_adaptation_pins_one_tau_for_every_variant(tmp_path):
    from base_dist import meta_train
    from base_dist.meta.adapt import pin_tau
    from tests.conftest import CONFIGS

    cfg = load_config(CONFIGS / "tiny.yaml", ["meta.rounds=2", "tracking.mlflow=false", "space.arch.tau_start=1.0",
                                              "space.arch.tau_end=0.5", "space.arch.tau_anneal_rounds=2"])
    run = meta_train(cfg, tmp_path / "mt", progress=False)
    assert pin_tau(cfg, run.checkpoint).adapt.tau == 0.5  # the meta-prior's temperature, scratch included
    cfg.adapt.tau = 0.8
    assert pin_tau(cfg, run.checkpoint).adapt.tau == 0.8  # an explicit choice is kept


def test_posterior_pca_report(tiny, tmp_path):
    from base_dist.report.posterior_pca import run_posterior_pca, task_groups

    cfg, ckpt = tiny
    res = run_posterior_pca(cfg, ckpt, seeds=[0], tasks=2, samples=2, unseen="digits", run_dir=tmp_path)
    assert (tmp_path / "posterior_pca_seed0.png").is_file()
    sizes = {z for _, z in task_groups(cfg, "digits")}
    heads = {f"head {z}px (mean{u})" for z in sizes for u in ("", ", unit delta")}
    assert set(res.silhouette) == {"weights", "architecture", "weights (mean)", "architecture (mean)",
                                   "weights (mean, unit delta)", "architecture (mean, unit delta)"} | heads
    assert "silhouette" in res.table and all(len(v) == 1 for v in res.silhouette_dataset.values())
    assert res.by_tasks["weights (mean)"][2] == res.silhouette_dataset["weights (mean)"]  # all tasks: the same plane


def test_posterior_pca_reuses_saved_vectors_and_refuses_others(tiny, tmp_path, monkeypatch):
    from base_dist.errors import UserError
    from base_dist.report import posterior_pca

    cfg, ckpt = tiny
    first = posterior_pca.run_posterior_pca(cfg, ckpt, seeds=[0], tasks=2, samples=1, unseen="digits",
                                            run_dir=tmp_path)

    def no_adaptation(*args, **kwargs):
        raise AssertionError("a saved seed was adapted again")

    monkeypatch.setattr(posterior_pca, "collect", no_adaptation)
    again = posterior_pca.run_posterior_pca(cfg, ckpt, seeds=[0], tasks=2, samples=1, unseen="digits",
                                            run_dir=tmp_path)
    assert again.silhouette == first.silhouette and again.explained == first.explained
    saved = (tmp_path / "vectors_seed0.npz").read_bytes()
    with pytest.raises(UserError, match="another config"):  # 3 tasks are not the saved 2
        posterior_pca.run_posterior_pca(cfg, ckpt, seeds=[0], tasks=3, samples=1, unseen="digits", run_dir=tmp_path)
    assert (tmp_path / "vectors_seed0.npz").read_bytes() == saved


def test_experiment_seeds_refuses_a_mixed_or_bad_selection():
    from base_dist.errors import UserError
    from base_dist.report.common import experiment_parser, experiment_seeds

    ap = experiment_parser("x", "d")
    for argv in (["--seed-list", "1", "--seed-offset", "2"], ["--seed-list", "a"], ["--seed-list", "1,1"]):
        with pytest.raises(UserError, match="--seed-list"):
            experiment_seeds(ap.parse_args(argv))
    assert experiment_seeds(ap.parse_args([])) == [0, 1, 2]


def test_unit_deltas_are_directions_from_the_prior():
    from base_dist.report.posterior_pca import unit_deltas

    prior = {"weights (mean)": np.array([1.0, 1.0, 1.0]), "architecture (mean)": np.array([0.5, 0.5])}
    means = {"weights (mean)": np.array([1.0, 3.0, 1.0]), "architecture (mean)": np.array([0.5, 0.5])}
    d = unit_deltas(means, prior)
    np.testing.assert_allclose(d["weights (mean, unit delta)"], [0.0, 1.0, 0.0])
    np.testing.assert_array_equal(d["architecture (mean, unit delta)"], [0.0, 0.0])  # did not move: zero, not nan


def test_search_result_report(tiny, tmp_path):
    from base_dist.report.search_result import MODELS, run_search_result

    cfg, ckpt = tiny
    cfg = cfg.model_copy(deep=True)
    cfg.train.max_train_images = 64
    cfg.train.image_size = 16
    res = run_search_result(cfg, ckpt, seeds=[0], dataset="digits", run_dir=tmp_path)
    assert all(len(res.rows[m]) == 1 for m in MODELS)
    assert (tmp_path / "search_result.png").is_file() and "plain CNN" in res.table
    assert (tmp_path / "seed0" / "derived" / "cells.png").is_file()
    # A finished seed is reused, not retrained: a rerun into the same directory gives the same rows.
    (tmp_path / "seed0" / "train-darts_v2").rename(tmp_path / "moved")
    again = run_search_result(cfg, ckpt, seeds=[0], dataset="digits", run_dir=tmp_path)
    assert again.rows == res.rows and not (tmp_path / "seed0" / "train-darts_v2").exists()


def test_update_section_replaces_in_place(tmp_path):
    p = tmp_path / "results.md"
    p.write_text("# Results\n\nintro\n")
    update_section(p, "a", "one\n", "A")
    update_section(p, "b", "two\n", "B")
    update_section(p, "a", "three\n", "A")
    text = p.read_text()
    assert "one" not in text and text.index("three") < text.index("two") and text.startswith("# Results")


def test_pretrain_arm_starts_from_the_scratch_W_and_adapts(tiny, tmp_path):
    from base_dist.config import config_from_dict
    from base_dist.meta.prior import seeded_metanet
    from base_dist.report.common import with_seed
    from base_dist.report.fast_adaptation import PRETRAINED, run_fast_adaptation
    from base_dist.report.pretrain import budget_steps, pretrain, prior_space_config
    from base_dist.track.checkpoint import load_checkpoint

    cfg, ckpt = tiny
    steps = budget_steps(ckpt)
    assert steps == 1 * cfg.meta.tasks_per_round * cfg.meta.inner_steps
    pcfg = prior_space_config(ckpt, with_seed(cfg, 5))  # the prior's seed wins over the experiment's
    assert pcfg.seed == cfg.seed
    zero = load_checkpoint(pretrain(pcfg, 0, tmp_path / "p0")).tensors["W"]
    prior_init = seeded_metanet(config_from_dict(load_checkpoint(ckpt).meta["config"])).state_dict()
    assert all(torch.equal(zero[k], prior_init[k]) for k in prior_init)  # the W the prior started from
    scratch = prior_init
    assert any(k.startswith("classifiers.way") and k not in scratch for k in zero)  # + the pooled classifier
    trained_ckpt = load_checkpoint(pretrain(pcfg, steps, tmp_path / "p1", seconds=1e9))  # the steps end it
    trained = trained_ckpt.tensors["W"]
    assert trained_ckpt.round == steps and json.loads((tmp_path / "p1" / "pretrain.json").read_text())["steps"] == steps
    assert any(not torch.equal(trained[k], zero[k]) for k in scratch)
    capped = load_checkpoint(pretrain(pcfg, steps, tmp_path / "p2", seconds=0.0))  # the clock ends it at once
    assert capped.round == 0 and all(torch.equal(capped.tensors["W"][k], zero[k]) for k in zero)
    assert json.loads((tmp_path / "p2" / "pretrain.json").read_text())["seconds_budget"] == 0.0
    res = run_fast_adaptation(cfg, ckpt, seeds=[0, 1], datasets=["digits"], run_dir=tmp_path / "fa",
                              pretrained=tmp_path / "p1")
    assert PRETRAINED in res.curves["digits"] and "prior - pretrained" in res.table
    assert "prior - scratch | 2 |" in res.table


def test_experiment_with_mlflow_is_one_run_tree(tmp_path, monkeypatch):
    import argparse

    from mlflow import MlflowClient

    from base_dist.report.common import run_experiment
    from base_dist.report.fast_adaptation import run_fast_adaptation
    from tests.conftest import CONFIGS

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    torch.set_num_threads(1)
    cfg = load_config(CONFIGS / "tiny.yaml", ["adapt.max_train_images=32", "adapt.max_val_images=32", "meta.rounds=1"])
    args = argparse.Namespace(run_dir=tmp_path, checkpoint=None, mlflow=True)
    prior, res = run_experiment(cfg, args, "fast-adaptation", lambda p: run_fast_adaptation(
        cfg, p, seeds=[0], datasets=["digits"], run_dir=tmp_path))
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    parent = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert [r.info.run_name for r in parent] == ["tiny-exp-fast-adaptation"] and len(runs) == 3
    stages = {r.data.tags["stage"]: r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent[0].info.run_id}
    assert set(stages) == {"meta-train", "fast-adaptation"}
    exp = stages["fast-adaptation"]
    assert exp.data.tags["input.prior.run_id"] == stages["meta-train"].info.run_id
    assert {"fast_adaptation_digits.png", "table.md"} <= {a.path for a in client.list_artifacts(exp.info.run_id)}


def test_fewshot_experiment_refuses_an_unknown_arm_before_running(tmp_path):
    from base_dist.errors import UserError
    from base_dist.report.fewshot import run_fewshot_experiment
    from tests.conftest import CONFIGS

    cfg = load_config(CONFIGS / "fewshot.yaml")
    with pytest.raises(UserError, match="unknown few-shot arm.*conv4-wide"):
        run_fewshot_experiment(cfg, seeds=[0], shots=[5], run_dir=tmp_path / "fs", arms=("conv4", "conv8"))
    assert not (tmp_path / "fs").exists()


def test_pretrain_command_is_the_pretrain_arm_and_adapt_takes_it(tiny, tmp_path, capsys):
    from base_dist.cli import main
    from base_dist.report.pretrain import budget_steps, pretrain, prior_space_config
    from base_dist.track.checkpoint import load_checkpoint

    cfg, ckpt = tiny
    run = tmp_path / "cli"
    assert main(["pretrain", "--checkpoint", str(ckpt), "--steps", "2", "--run-dir", str(run)]) == 0
    assert "pretrain: 2 SGD steps" in capsys.readouterr().out
    direct = load_checkpoint(pretrain(prior_space_config(ckpt, load_config(None)), 2, tmp_path / "fn")).tensors["W"]
    by_cli = load_checkpoint(run).tensors["W"]
    assert list(by_cli) == list(direct) and all(torch.equal(by_cli[k], direct[k]) for k in direct)
    # No budget given: the prior's own SGD steps.
    assert main(["pretrain", "--checkpoint", str(ckpt), "--run-dir", str(tmp_path / "own")]) == 0
    assert json.loads((tmp_path / "own" / "pretrain.json").read_text())["steps"] == budget_steps(ckpt)
    # A source left out of the pooled classes.
    two = "data.sources=[{name: fashion-mnist, image_sizes: [16]}, {name: glyphs, image_sizes: [16]}]"
    assert main(["pretrain", "--checkpoint", str(ckpt), "--set", two, "--without-source", "glyphs", "--steps", "1",
                 "--run-dir", str(tmp_path / "fm")]) == 0
    assert "(fashion-mnist)" in capsys.readouterr().out
    assert json.loads((tmp_path / "fm" / "pretrain.json").read_text())["classes"] == \
        json.loads((run / "pretrain.json").read_text())["classes"]
    # --from-trained: the prior's trained W (meta-training, then pretraining); 0 steps keep it as it is.
    assert main(["pretrain", "--checkpoint", str(ckpt), "--from-trained", "--steps", "0",
                 "--run-dir", str(tmp_path / "warm")]) == 0
    warm, trained_prior = load_checkpoint(tmp_path / "warm").tensors["W"], load_checkpoint(ckpt).tensors["W"]
    assert all(torch.equal(warm[k], trained_prior[k]) for k in trained_prior)
    assert not all(torch.equal(by_cli[k], trained_prior[k]) for k in trained_prior)  # the default: the seeded init
    # adapt loads the pretrained run directory like a prior.
    assert main(["adapt", "--checkpoint", str(run), "--dataset", "digits", "--set", "adapt.max_train_images=32",
                 "--set", "adapt.max_val_images=32", "--run-dir", str(tmp_path / "adapt")]) == 0
    assert "held-out accuracy per epoch" in capsys.readouterr().out


@pytest.mark.parametrize("args, says", [
    (["--prior", "glyphs-fmnist", "--checkpoint", "{ckpt}"], "not both"),
    (["--steps", "1", "--without-source", "fashion-mnist", "--config", "{tiny}"], "leaves no source"),
    (["--checkpoint", "{ckpt}", "--without-source", "nope"], "--without-source nope: not a source"),
    (["--config", "{tiny}"], "pass --steps N or --seconds S"),
    (["--config", "{tiny}", "--steps", "1", "--from-trained"], "--from-trained needs the prior"),
    (["--checkpoint", "{ckpt}", "--seconds", "-1"], "--seconds"),
    (["--checkpoint", "{tmp}/missing"], "no such file"),
])
def test_pretrain_command_refuses_bad_input_in_one_line_and_writes_nothing(tiny, tmp_path, capsys, args, says):
    from base_dist.cli import main
    from tests.conftest import CONFIGS

    _, ckpt = tiny
    argv = [a.format(ckpt=ckpt, tiny=CONFIGS / "tiny.yaml", tmp=tmp_path) for a in args]
    assert main(["pretrain", *argv, "--run-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert says in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_pretrain_command_refuses_a_run_dir_with_checkpoints(tiny, tmp_path, capsys):
    from base_dist.cli import main

    _, ckpt = tiny
    run = tmp_path / "run"
    assert main(["pretrain", "--checkpoint", str(ckpt), "--steps", "1", "--run-dir", str(run)]) == 0
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    assert main(["pretrain", "--checkpoint", str(ckpt), "--steps", "2", "--run-dir", str(run)]) == 2
    assert "already holds checkpoints" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before


def test_the_scratch_arm_is_the_priors_supernet_whatever_the_config_says(tmp_path, monkeypatch):
    import base_dist.meta.adapt as adapt_module
    from base_dist import meta_train
    from base_dist.report.fast_adaptation import adapt_variant
    from tests.conftest import CONFIGS

    cfg = load_config(CONFIGS / "tiny.yaml", ["adapt.max_train_images=32", "tracking.mlflow=false"])
    prior = meta_train(cfg.model_copy(update={"space": cfg.space.model_copy(update={"channels": 6})}), tmp_path / "mt",
                       stop_after=1)
    spaces = []
    real = adapt_module.adapt

    def spy(c, start, **kwargs):
        spaces.append((start, c.space.channels))
        return real(c, start, **kwargs)

    monkeypatch.setattr(adapt_module, "adapt", spy)
    adapt_variant(cfg, prior.checkpoint, "scratch")
    assert spaces == [(None, 6)]  # --config's 4 channels would be another network (the prior arms read the checkpoint's)
