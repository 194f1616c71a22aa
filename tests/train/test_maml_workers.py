"""MAML's meta-batch over processes: the same gradients, Adam steps and trained weights as one process."""

from __future__ import annotations

import json

import pytest
import torch

from base_dist.config import load_config
from base_dist.data.episodes import episode_tasks, sample, train_episode_seed
from base_dist.errors import UserError
from base_dist.train.fewshot import fewshot_train
from base_dist.train.fewshot_eval import evaluate_split
from base_dist.train.fewshot_state import build_fewshot_network
from base_dist.train.maml import episode_objective, meta_step
from base_dist.train.maml_workers import EpisodeWorkers

CELLS = ["fewshot.image_size=16", "fewshot.k_query=2", "fewshot.meta_batch=3", "fewshot.inner_steps=2",
         "fewshot.iterations=3", "fewshot.checkpoint_every=2", "fewshot.log_every=100", "fewshot.network=darts_v2",
         "fewshot.layers=2", "fewshot.channels=4", "fewshot.val_every=3", "fewshot.val_episodes=5", "device=cpu"]


def _accumulating_meta_step(net, optimizer, episodes, *, steps, lr, grad_clip):
    """The one-process step as it was first written: every episode backpropagated into the same ``.grad``."""
    params = dict(net.named_parameters())
    optimizer.zero_grad(set_to_none=True)
    for ep in episodes:
        loss, _ = episode_objective(net, params, ep, steps=steps, lr=lr, first_order=False, grad_clip=grad_clip)
        (loss / len(episodes)).backward()
    optimizer.step()


def _setup(overrides=()):
    cfg = load_config(None, [*CELLS, *overrides])
    tasks = episode_tasks(cfg, "meta-train")
    episodes = [sample(tasks, cfg, train_episode_seed(cfg, 0, j)) for j in range(cfg.fewshot.meta_batch)]
    net = build_fewshot_network(cfg, 1)
    return cfg, net, torch.optim.Adam(net.parameters(), lr=1e-2), episodes


def _state(net):
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def test_meta_step_takes_the_step_the_accumulating_loop_took_bit_for_bit():
    cfg, net, opt, episodes = _setup()
    _, ref_net, ref_opt, _ = _setup()
    for _ in range(2):  # the second step also compares Adam's state after the first
        meta_step(net, opt, episodes, steps=2, lr=0.1, first_order=False, grad_clip=5.0)
        _accumulating_meta_step(ref_net, ref_opt, episodes, steps=2, lr=0.1, grad_clip=5.0)
        got, want = _state(net), _state(ref_net)
        assert all(torch.equal(got[k], want[k]) for k in want)


def test_episode_workers_take_the_one_process_step_bit_for_bit():
    cfg, net, opt, episodes = _setup()
    _, ref_net, ref_opt, _ = _setup()
    with EpisodeWorkers(cfg, 1, processes=2) as workers:  # shares: episode 0 here, 1-2 in the worker
        for _ in range(2):
            row = workers.meta_step(net, opt, episodes)
            want_row = meta_step(ref_net, ref_opt, episodes, steps=2, lr=0.1, first_order=False, grad_clip=5.0)
            assert row == want_row
            got, want = _state(net), _state(ref_net)
            assert all(torch.equal(got[k], want[k]) for k in want)


def test_val_scoring_over_two_processes_gives_the_one_process_accuracies():
    cfg, net, _, _ = _setup()
    want = evaluate_split(cfg, net, "val", episodes=5)
    with EpisodeWorkers(cfg, 1, processes=3) as workers:  # shares of 1, 2 and 2 episodes
        assert workers.evaluate(net, "val", 5) == want


def test_training_over_two_processes_ends_with_the_same_weights_and_metrics(tmp_path):
    one = fewshot_train(load_config(None, CELLS), tmp_path / "one")
    two = fewshot_train(load_config(None, [*CELLS, "fewshot.train_workers=2"]), tmp_path / "two")
    a, b = _state(one.net), _state(two.net)
    assert all(torch.equal(a[k], b[k]) for k in a)

    def rows(name):
        lines = (tmp_path / name / "metrics.jsonl").read_text().splitlines()
        return [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in lines]

    assert rows("one") == rows("two") and len(rows("two")) == 3 and "val_acc" in rows("two")[-1]


def test_a_worker_that_dies_stops_the_step_with_one_clear_error():
    cfg, net, opt, episodes = _setup()
    with EpisodeWorkers(cfg, 1, processes=2) as workers:
        workers.procs[0].kill()
        workers.procs[0].join()
        with pytest.raises(UserError, match="exited mid-step; continue the run with --resume"):
            workers.meta_step(net, opt, episodes)
    with EpisodeWorkers(cfg, 1, processes=2, setting="fewshot.eval_workers") as workers:  # as `fewshot eval` runs it
        workers.procs[0].kill()
        workers.procs[0].join()
        with pytest.raises(UserError, match="a fewshot.eval_workers process exited mid-step; run it again"):
            workers.evaluate(net, "val", 4)
