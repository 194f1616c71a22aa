"""``fewshot train``: meta-train one discrete network with MAML over N-way K-shot episodes.

Each iteration draws ``fewshot.meta_batch`` episodes of the meta-train classes (seeded by
``(seed, iteration, index)``), adapts on each support set with ``fewshot.inner_steps`` SGD steps
(second order unless ``fewshot.first_order``) and takes one Adam step on the mean query loss. With
``fewshot.train_workers`` > 1 the episodes are split over that many processes, for the same weights
(:mod:`base_dist.train.maml_workers`).

Outputs in ``run_dir``: ``config.yaml``, ``checkpoints/`` (every ``fewshot.checkpoint_every``
iterations and at the end), ``metrics.jsonl`` (one line per iteration: query loss and accuracy after
adaptation, query accuracy before it, seconds; ``val_acc`` every ``fewshot.val_every``) and
``fewshot.json`` (the summary). Nothing else is random, so a resumed run ends with the same weights,
bit for bit on CPU, as an uninterrupted one.

Example:
    >>> from base_dist.config import load_config
    >>> cfg = load_config(None, ["fewshot.image_size=16", "fewshot.iterations=2", "fewshot.k_query=2", "device=cpu"])
    >>> res = fewshot_train(cfg, "/tmp/base-dist-doctest-fewshot")  # doctest: +SKIP
    >>> res.iterations_done  # doctest: +SKIP
    2
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from base_dist.config import ExperimentConfig
from base_dist.data import create_source
from base_dist.data.episodes import episode_tasks, sample, source_channels, train_episode_seed
from base_dist.errors import UserError
from base_dist.space.fewshot_nets import network_genotype
from base_dist.track.checkpoint import CHECKPOINT_SUBDIR, CheckpointStore
from base_dist.track.progress import estimate_eta, format_duration
from base_dist.track.rundir import check_run_dir, write_config
from base_dist.train.fewshot_state import (
    build_fewshot_network,
    checkpoint_meta,
    describe_network,
    fewshot_signature,
    restore_optimizer,
    save_fewshot_checkpoint,
)
from base_dist.train.maml_workers import EpisodeWorkers
from base_dist.utils import resolve_device

log = logging.getLogger(__name__)
METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "fewshot.json"


@dataclass
class FewshotTrainResult:
    """What :func:`fewshot_train` returns; ``summary`` is what ``fewshot.json`` holds."""

    net: nn.Module
    summary: dict[str, Any]
    rows: list[dict[str, float]] = field(default_factory=list)  # this call's metrics lines

    @property
    def iterations_done(self) -> int:
        return int(self.summary["iterations_done"])

    def results_line(self) -> str:
        """One line for the CLI.

        Example:
            >>> FewshotTrainResult(nn.Identity(), {"network": "conv4", "n_way": 5, "k_shot": 1, "source": "glyphs",
            ...     "iterations_done": 10, "iterations": 10, "params": 28485, "s_per_iteration": 0.5,
            ...     "last_query_acc": 0.5}).results_line()
            'fewshot conv4 5-way 1-shot on glyphs: 10/10 iterations | 28,485 params | 0.50 s/iteration | last query acc 50.0%'
        """
        s = self.summary
        return (f"fewshot {s['network']} {s['n_way']}-way {s['k_shot']}-shot on {s['source']}: "
                f"{s['iterations_done']}/{s['iterations']} iterations | {s['params']:,} params | "
                f"{s['s_per_iteration']:.2f} s/iteration | last query acc {100 * s['last_query_acc']:.1f}%")


def check_fewshot(cfg: ExperimentConfig) -> None:
    """Refuse bad ``fewshot.*`` input (network, source, split, sizes) before anything is written.

    Example:
        >>> from base_dist.config import load_config
        >>> check_fewshot(load_config(None, ["fewshot.network=nope"]))
        Traceback (most recent call last):
        ...
        base_dist.errors.UserError: few-shot network 'nope': not 'conv4', and unknown genotype 'nope': not a file, and not one of base_cifar10, base_imagenet, darts_v1, darts_v2
    """
    network_genotype(cfg.fewshot.network)
    for split in ("meta-train", cfg.fewshot.eval_split) + (("val",) if cfg.fewshot.val_every else ()):
        episode_tasks(cfg, split)
    fs = cfg.fewshot
    if fs.eval_source is not None:
        test_channels = create_source(fs.eval_source, cfg.data.root).channels
        if test_channels != source_channels(cfg):
            raise UserError(f"fewshot.eval_source {fs.eval_source!r} has {test_channels}-channel images, "
                            f"fewshot.source {fs.source!r} {source_channels(cfg)}: the network takes one kind")
    build_fewshot_network(cfg, source_channels(cfg))  # conv4 refuses images below 16 px


def _keep_rows(path: Path, upto: int) -> list[dict[str, float]]:
    """Rows of ``metrics.jsonl`` up to iteration ``upto``, rewriting the file without later (lost) ones."""
    if not path.is_file():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r.get("iteration", 0) <= upto]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


def _resume(store: CheckpointStore, signature: str, net: nn.Module, optimizer: torch.optim.Optimizer) -> tuple[int, float]:
    """Load the newest good checkpoint into ``net`` and ``optimizer``; ``(iterations done, train seconds)``."""
    ckpt = store.latest_good()
    if ckpt is None:
        raise UserError(f"--resume {store.dir.parent}: no checkpoint in {store.dir}; start a new run")
    if ckpt.meta.get("kind") != "fewshot" or ckpt.signature != signature:
        raise UserError(f"--resume: checkpoint {ckpt.path} holds another network (signature {ckpt.signature!r}, "
                        f"this config's is {signature!r}); resume with that run's fewshot.* settings or start a new run")
    net.load_state_dict(ckpt.tensors["model"])
    restore_optimizer(net, optimizer, ckpt.tensors.get("opt", {}))
    return ckpt.round, float(ckpt.meta.get("train_s", 0.0))


def _iteration(cfg: ExperimentConfig, tasks: Any, workers: EpisodeWorkers, net: nn.Module,
               optimizer: torch.optim.Optimizer, it: int, device: torch.device) -> dict[str, float]:
    t0 = time.perf_counter()
    episodes = [sample(tasks, cfg, train_episode_seed(cfg, it, j)).to(device) for j in range(cfg.fewshot.meta_batch)]
    row = workers.meta_step(net, optimizer, episodes)
    return {"iteration": it + 1, **row, "seconds": time.perf_counter() - t0}


def fewshot_train(cfg: ExperimentConfig, run_dir: str | Path, *, resume: bool = False,
                  stop_after: int | None = None) -> FewshotTrainResult:
    """Meta-train ``cfg.fewshot.network`` up to ``fewshot.iterations`` (or ``stop_after``, as an interruption would).

    ``resume`` continues from the newest good checkpoint of ``run_dir/checkpoints``. The caller holds
    the run directory's lock (:func:`base_dist.track.rundir.open_run_dir`).
    """
    fs, device = cfg.fewshot, resolve_device(cfg.device)
    run_dir = Path(run_dir).absolute()
    check_run_dir(run_dir, resume)
    tasks = episode_tasks(cfg, "meta-train")
    in_channels = source_channels(cfg)
    net = build_fewshot_network(cfg, in_channels).to(device)
    description = describe_network(cfg, net, in_channels)
    signature = fewshot_signature(description, net)
    optimizer = torch.optim.Adam(net.parameters(), lr=fs.outer_lr)
    store = CheckpointStore(run_dir / CHECKPOINT_SUBDIR, keep=fs.keep_checkpoints)
    start, train_s = _resume(store, signature, net, optimizer) if resume else (0, 0.0)
    write_config(cfg, run_dir)  # only now: a refused resume leaves the old config.yaml alone
    metrics = run_dir / METRICS_FILE
    history = _keep_rows(metrics, start)
    end = fs.iterations if stop_after is None else min(fs.iterations, stop_after)
    rows: list[dict[str, float]] = []
    session_s = 0.0
    processes = min(fs.train_workers, fs.meta_batch) if end > start else 1  # none spawned for nothing to do
    workers = EpisodeWorkers(cfg, in_channels, processes)
    with metrics.open("a") as out, torch.random.fork_rng(devices=[]), workers:
        for it in range(start, end):
            row = _iteration(cfg, tasks, workers, net, optimizer, it, device)
            train_s, session_s = train_s + row["seconds"], session_s + row["seconds"]
            if fs.val_every and (it + 1) % fs.val_every == 0:
                val = workers.evaluate(net, "val", fs.val_episodes)
                row |= {"val_acc": val.mean, "val_ci95": val.ci95}
            out.write(json.dumps(row) + "\n")
            out.flush()
            rows.append(row)
            if (it + 1) % fs.checkpoint_every == 0 or it + 1 == fs.iterations:
                save_fewshot_checkpoint(store, it + 1, net, optimizer, checkpoint_meta(cfg, description, signature, train_s))
            _progress(cfg, it, start, end, row, session_s)
    done = rows[-1]["iteration"] if rows else start
    summary = _summary(cfg, description, history + rows, int(done), train_s)
    (run_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=1) + "\n")
    return FewshotTrainResult(net=net, summary=summary, rows=rows)


def _progress(cfg: ExperimentConfig, it: int, start: int, end: int, row: dict[str, float], session_s: float) -> None:
    if (it + 1) % cfg.fewshot.log_every and it + 1 != end:
        return
    eta = estimate_eta(session_s, it + 1 - start, end - it - 1)
    log.info("iteration %d/%d | query loss %.4f | query acc %.1f%% (before adaptation %.1f%%) | ETA %s", it + 1,
             cfg.fewshot.iterations, row["query_loss"], 100 * row["query_acc"], 100 * row["query_acc_before"],
             format_duration(eta))


def _summary(cfg: ExperimentConfig, description: dict[str, Any], rows: list[dict[str, float]], done: int,
             train_s: float) -> dict[str, Any]:
    fs = cfg.fewshot
    last = rows[-1] if rows else {}
    return {**description, "source": fs.source, "k_shot": fs.k_shot, "k_query": fs.k_query,
            "first_order": fs.first_order, "inner_steps": fs.inner_steps, "iterations": fs.iterations,
            "iterations_done": done, "train_s": train_s, "s_per_iteration": train_s / max(done, 1),
            "last_query_acc": float(last.get("query_acc", float("nan")))}
