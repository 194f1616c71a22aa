"""Few-shot search on the engine: the episode mapping, search -> train -> eval end to end, exact resume."""

from __future__ import annotations

import json

import pytest
import torch

from base_dist.cli import main
from base_dist.config import load_config
from base_dist.distributed import create_trainer
from base_dist.meta.fewshot import search_config
from tests.meta.conftest import TINY

SMALL = ["fewshot.image_size=16", "fewshot.k_query=2", "fewshot.meta_batch=2", "fewshot.inner_steps=1",
         "fewshot.test_inner_steps=1", "device=cpu", "tracking.mlflow=false", "meta.rounds=2"]


def _cfg(*extra: str):
    return load_config(TINY, [*SMALL, *extra])


def test_search_config_maps_episodes_onto_the_engine():
    cfg = search_config(_cfg("fewshot.k_shot=3", "fewshot.inner_lr=0.2"), arch_mode="softmax")
    assert (cfg.data.n_way, cfg.data.train_per_class, cfg.data.val_per_class) == (5, 3, 2)  # support / query
    assert cfg.data.sources[0].name == "glyphs" and cfg.data.sources[0].image_sizes == [16]
    assert cfg.meta.second_order and cfg.meta.inner_optimizer == "sgd" and cfg.meta.inner_momentum == 0.0
    assert cfg.meta.batch_size == 15 and cfg.meta.inner_lr_weights == 0.2  # plain SGD on the whole support set
    assert cfg.meta.outer_optimizer == "adam" and cfg.meta.tasks_per_round == 2
    assert cfg.space.arch.mode == "softmax" and cfg.space.n_ways == [5] and cfg.space.heads[0].in_channels == 1


def test_search_resumes_bitwise(tmp_path):
    cfg = search_config(_cfg(), "gumbel")
    straight = create_trainer(cfg, tmp_path / "a").run()
    create_trainer(cfg, tmp_path / "b").run(stop_after=1)
    resumed = create_trainer(cfg, tmp_path / "b", resume=True).run()
    assert resumed.rounds_done == 2
    assert all(torch.equal(resumed.W[k], straight.W[k]) for k in straight.W)
    assert all(torch.equal(resumed.outer_state[k], straight.outer_state[k]) for k in straight.outer_state)
    rows = [json.loads(x) for x in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert all(0.0 <= r["val_acc"] <= 1.0 for r in rows)  # query accuracy after the support steps


def test_search_train_eval_end_to_end(tmp_path, capsys):
    sets = [x for s in SMALL for x in ("--set", s)]
    search = tmp_path / "search"
    assert main(["fewshot", "search", "--config", str(TINY), *sets, "--arch-mode", "softmax",
                 "--run-dir", str(search)]) == 0
    out = capsys.readouterr().out
    assert "fewshot search: 2/2 rounds (softmax)" in out and (search / "genotype.json").is_file()
    train = tmp_path / "train"
    assert main(["fewshot", "train", "--config", str(TINY), *sets, "--network", str(search / "genotype.json"),
                 "--iterations", "2", "--set", "fewshot.layers=2", "--run-dir", str(train)]) == 0
    capsys.readouterr()
    assert main(["fewshot", "eval", str(train), "--episodes", "3"]) == 0
    assert "5-way 1-shot holdout accuracy:" in capsys.readouterr().out
    # A resumed search keeps its mode: asking for another one is refused in one line.
    assert main(["fewshot", "search", "--resume", str(search), "--arch-mode", "gumbel"]) == 2
    assert capsys.readouterr().err.strip().startswith("base-dist: error: --arch-mode:")


@pytest.mark.parametrize("mode", ["gumbel", "softmax"])
def test_meta_gradient_reaches_the_architecture(mode, tmp_path):
    res = create_trainer(search_config(_cfg("meta.rounds=1"), mode), tmp_path).run()
    from base_dist.meta.prior import seeded_metanet
    from base_dist.space.meta_state import get_state

    W0 = get_state(seeded_metanet(search_config(_cfg("meta.rounds=1"), mode)))
    assert not torch.equal(res.W["arch.normal"], W0["arch.normal"])  # second-order gradient moved phi


def test_cross_domain_check_meta_trains_on_one_source_and_tests_on_another(tmp_path, capsys):
    run = tmp_path / "xd"
    sets = [x for s in [*SMALL, "fewshot.source=fashion-mnist", "fewshot.eval_source=digits"] for x in ("--set", s)]
    assert main(["fewshot", "train", "--config", str(TINY), *sets, "--iterations", "1", "--run-dir", str(run)]) == 0
    capsys.readouterr()
    assert main(["fewshot", "eval", str(run), "--episodes", "2"]) == 0
    record = json.loads((run / "fewshot-eval-holdout.json").read_text())
    assert record["source"] == "fashion-mnist" and len(record["accuracies"]) == 2
    from base_dist.data.episodes import episode_tasks

    cfg = load_config(TINY, [*SMALL, "fewshot.source=fashion-mnist", "fewshot.eval_source=digits"])
    assert episode_tasks(cfg, "holdout").class_pool("digits") == tuple(range(10))  # every digit is unseen
    assert episode_tasks(cfg, "meta-train").class_pool("fashion-mnist") == tuple(range(10))
