"""``meta.init`` / ``meta-train --init``: meta-training that starts from a given network's W (e.g. pretrained)."""

from __future__ import annotations

import pytest
import torch

from base_dist import meta_train
from base_dist.distributed import create_trainer
from base_dist.meta.prior import seeded_metanet, start_W
from base_dist.space.meta_state import get_state
from base_dist.track.checkpoint import load_checkpoint
from tests.meta.conftest import TINY, tiny


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A 2-step plain pretraining of the tiny supernet: it carries a pooled classifier the space lacks."""
    from base_dist.report.pretrain import pretrain

    return pretrain(tiny(), 2, tmp_path_factory.mktemp("pre"))


def _cells(W):
    return {k: v for k, v in W.items() if not k.startswith(("heads.", "classifiers."))}


def test_start_W_takes_the_cells_and_heads_and_drops_classifiers_the_space_lacks(pretrained):
    cfg = tiny(f"meta.init={pretrained}")
    fresh = get_state(seeded_metanet(cfg))
    W, saved = start_W(cfg, fresh), load_checkpoint(pretrained).tensors["W"]
    assert list(W) == list(fresh)  # the config's layout: the pooled classifier is gone
    assert any(k.startswith("classifiers.") and k not in fresh for k in saved)
    assert all(torch.equal(W[k], saved[k]) for k in W if k in saved)
    assert not all(torch.equal(W[k], fresh[k]) for k in _cells(W))


def test_meta_training_from_init_starts_there_and_resumes_exactly(pretrained, tmp_path):
    cfg = tiny("meta.rounds=2", f"meta.init={pretrained}")
    trainer = create_trainer(cfg, tmp_path / "straight")
    straight = trainer.run()
    saved = load_checkpoint(pretrained).tensors["W"]
    assert all(torch.equal(trainer.W_init[k], saved[k]) for k in _cells(trainer.W_init))  # displacement's origin
    seeded = meta_train(tiny("meta.rounds=2"), tmp_path / "seeded")
    assert not all(torch.equal(straight.W[k], seeded.W[k]) for k in _cells(seeded.W))
    meta_train(cfg, tmp_path / "resumed", stop_after=1)
    resumed = meta_train(cfg, tmp_path / "resumed", resume=True)
    assert all(torch.equal(resumed.W[k], straight.W[k]) for k in straight.W)


def test_a_resume_whose_start_is_gone_says_how_to_go_on(pretrained, tmp_path):
    import shutil

    from base_dist.errors import UserError

    start = tmp_path / "start.safetensors"
    shutil.copy(pretrained, start)
    cfg = tiny("meta.rounds=2", f"meta.init={start}")
    straight = meta_train(cfg, tmp_path / "straight")
    meta_train(cfg, tmp_path / "run", stop_after=1)
    start.unlink()
    with pytest.raises(UserError, match="restore it, or resume with --set meta.init=null"):
        meta_train(cfg, tmp_path / "run", resume=True)
    resumed = meta_train(tiny("meta.rounds=2"), tmp_path / "run", resume=True)  # W comes from the checkpoint
    assert all(torch.equal(resumed.W[k], straight.W[k]) for k in straight.W)


def test_meta_train_command_takes_init_and_inspect_reports_the_start(pretrained, tmp_path, capsys):
    import shutil

    from base_dist.cli import main
    from base_dist.config import load_config

    start, run = tmp_path / "start.safetensors", tmp_path / "run"
    shutil.copy(pretrained, start)
    assert main(["meta-train", "--config", str(TINY), "--init", str(start), "--set", "meta.rounds=1",
                 "--set", "tracking.mlflow=false", "--run-dir", str(run)]) == 0
    assert load_config(run / "config.yaml").meta.init == str(start)
    capsys.readouterr()
    assert main(["inspect", str(run), "--out", str(tmp_path / "figs")]) == 0
    said = capsys.readouterr().out
    assert f"started from {start} (meta.init)" in said and "phi's entropy was" in said
    start.unlink()  # the start is gone: the verdict still comes, without its entropy
    assert main(["inspect", str(run), "--out", str(tmp_path / "figs")]) == 0
    said = capsys.readouterr().out
    assert "started from" in said and "phi's entropy was" not in said


@pytest.mark.parametrize("args, says", [
    (["--init", "{tmp}/missing"], "meta.init: {tmp}/missing: no such file"),
    (["--init", "glyphs-fmnist", "--set", "space.bayes.sigma_param=linear"],
     "space.channels 8 (config 4), space.layers 5 (config 3)"),  # the shipped prior's space
    (["--init", "{pre}", "--set", "space.bayes.sigma_param=linear"], "set space.bayes.sigma_param=softplus"),
    (["--init", "{pre}", "--resume", "{tmp}"], "--init starts a new run"),
])
def test_meta_train_refuses_a_bad_init_in_one_line_and_writes_nothing(pretrained, tmp_path, capsys, args, says):
    from base_dist.cli import main

    argv = [a.format(tmp=tmp_path, pre=pretrained) for a in args]
    run = [] if "--resume" in argv else ["--run-dir", str(tmp_path / "out")]
    assert main(["meta-train", "--config", str(TINY), *argv, *run]) == 2
    err = capsys.readouterr().err
    assert says.format(tmp=tmp_path) in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
