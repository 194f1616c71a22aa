"""The pooled-class term of the inner loop (``meta.pooled_weight``): labels, objective, checks, adaptation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from base_dist.data import TaskDistribution
from base_dist.errors import UserError
from base_dist.meta.inner import objective
from base_dist.meta.prior import fit_to_target, seeded_metanet
from base_dist.meta.task import check_meta_config, run_task, size_pooled_head, task_seed
from base_dist.space.meta_state import Layout, get_state
from base_dist.utils import make_generator
from tests.meta.conftest import TINY, tiny

POOLED = ("space.pooled_classes=7", "meta.pooled_weight=1.0")  # tiny: 10 Fashion-MNIST classes, 3 held out


def test_pooled_labels_name_the_same_class_in_every_task():
    tasks = TaskDistribution(tiny().data)
    assert tasks.pooled_classes == 7
    seen: dict[int, int] = {}
    for seed in range(6):
        task = tasks.sample(seed)
        pooled = tasks.pooled_labels(task.source, task.classes, task.y_train)
        for label, cls in zip(task.y_train.tolist(), pooled.tolist(), strict=True):
            assert seen.setdefault(task.classes[label], cls) == cls
    assert sorted(seen.values()) == sorted(set(seen.values()))  # distinct classes, distinct labels
    assert set(seen.values()) <= set(range(7))


def test_pooled_labels_refuse_a_class_outside_the_split():
    tasks = TaskDistribution(tiny().data)
    held_out = TaskDistribution(tiny().data, split="holdout").class_pool("fashion-mnist")[0]
    with pytest.raises(UserError, match="not in its meta-train classes"):
        tasks.pooled_labels("fashion-mnist", (held_out,), torch.zeros(1, dtype=torch.long))


def test_objective_adds_the_weighted_pooled_cross_entropy():
    cfg = tiny(*POOLED)
    net = seeded_metanet(cfg)
    x, y, yp = torch.randn(4, 1, 16, 16), torch.tensor([0, 1, 2, 0]), torch.tensor([6, 0, 3, 3])
    loss, ce, logits = objective(net, x, y, 3, make_generator(1), 1.0, (yp, 0.5))
    features = net.features(x, gen=make_generator(1), tau=1.0)
    assert torch.equal(logits, net.classifier_for(3)(features))
    expected = F.cross_entropy(logits, y) + 0.5 * F.cross_entropy(net.pooled(features), yp) + net.kl()
    assert torch.allclose(loss, expected) and torch.allclose(ce, F.cross_entropy(logits, y))
    plain, _, _ = objective(net, x, y, 3, make_generator(1), 1.0)
    assert torch.equal(plain, ce + net.kl())  # features() + classifier is forward(): the same noise and logits


def _pooled_delta(cfg) -> torch.Tensor:
    model = seeded_metanet(cfg)
    W = get_state(model)
    res = run_task(model, W, TaskDistribution(cfg.data).spec(task_seed(cfg, 0, 0)), cfg, 0, 0)
    return res.delta, Layout.of(W).unflatten(res.delta)["pooled.weight"]


def test_the_pooled_classifier_learns_only_with_its_weight():
    delta_on, pooled_on = _pooled_delta(tiny(*POOLED))
    delta_off, pooled_off = _pooled_delta(tiny("space.pooled_classes=7"))
    assert pooled_on.abs().sum() > 0 and pooled_off.abs().sum() == 0
    assert not torch.equal(delta_on, delta_off)  # the term reaches the shared body too
    again, _ = _pooled_delta(tiny(*POOLED))
    assert torch.equal(delta_on, again)


def test_checks_name_the_fix():
    with pytest.raises(UserError, match="set space.pooled_classes=7"):
        check_meta_config(tiny("space.pooled_classes=9", "meta.pooled_weight=1.0"))
    with pytest.raises(UserError, match="second_order"):
        check_meta_config(tiny(*POOLED, "meta.second_order=true"))
    check_meta_config(tiny(*POOLED))
    check_meta_config(tiny("meta.pooled_weight=1.0"))  # 0: sized from the data


def test_the_pooled_head_is_sized_from_the_data_where_meta_training_starts(tmp_path):
    from base_dist import meta_train
    from base_dist.config import load_config
    from base_dist.track.checkpoint import load_checkpoint

    cfg = tiny("meta.pooled_weight=1.0", "meta.rounds=1")
    assert cfg.space.pooled_classes == 0 and size_pooled_head(cfg).space.pooled_classes == 7
    assert size_pooled_head(tiny()).space.pooled_classes == 0  # no term, no head
    res = meta_train(cfg, tmp_path / "run")
    assert res.W["pooled.weight"].shape[0] == 7
    assert load_config(tmp_path / "run" / "config.yaml").space.pooled_classes == 7  # a resume rebuilds it
    assert load_checkpoint(res.checkpoint).meta["config"]["space"]["pooled_classes"] == 7
    assert cfg.space.pooled_classes == 0  # the caller's config is left as it was


def test_adaptation_leaves_the_pooled_classifier_out():
    cfg = tiny(*POOLED)
    prior = seeded_metanet(cfg)
    fitted = fit_to_target(get_state(prior), cfg.space, cfg, image_size=16, in_channels=1, n_classes=10)
    assert fitted.space.pooled_classes == 0 and fitted.model.pooled is None
    assert not any(name.startswith("pooled.") for name in fitted.W)
    assert torch.equal(fitted.W["classifiers.way3.weight"], prior.classifiers.way3.weight.detach())


@pytest.mark.parametrize("args, says", [
    (["--set", "space.pooled_classes=9", "--set", "meta.pooled_weight=1"], "set space.pooled_classes=7"),
    (["--set", "meta.second_order=true", "--set", "meta.inner_optimizer=adam"], "needs meta.inner_optimizer=sgd"),
])
def test_meta_train_refuses_what_the_strategy_cannot_run_and_writes_nothing(tmp_path, capsys, args, says):
    from base_dist.cli import main

    assert main(["meta-train", "--config", str(TINY), *args, "--run-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert says in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_the_w8_recipe_file_is_prior_yaml_with_the_documented_overrides():
    # docs/results.md runs w8 as prior.yaml plus these --set overrides; the file must stay that recipe.
    from pathlib import Path

    from base_dist.config import load_config

    configs = Path(__file__).resolve().parents[2] / "jobs" / "configs"
    documented = load_config(configs / "prior.yaml", [
        "meta.rounds=14", "meta.pooled_weight=0.3", "data.n_way=8", "space.n_ways=[8, 10]", "name=prior-w8",
        "data.sources=[{name: glyphs, image_sizes: [16, 28], weight: 3.0}, {name: fashion-mnist, "
        "image_sizes: [16, 28], weight: 2.0, train_per_class: 128}]"])
    assert load_config(configs / "prior-w8.yaml").model_dump() == documented.model_dump()
