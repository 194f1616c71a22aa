"""``meta_train``: BASE Algorithm 1 in one process (``dist.workers: 0``), with exact resume.

Each round ``r`` (0-based) draws C task specs from ``task_seed(cfg, r, c)``, runs the inner loop
of every task from the same ``W`` (:func:`base_dist.meta.engine.run_task`), then applies the outer
update (:func:`base_dist.meta.engine.outer_update`). After every ``meta.checkpoint_every`` rounds,
after the last round, at ``stop_after`` and on Ctrl-C, a checkpoint is written atomically to
``run_dir/checkpoints`` holding ``W``, the outer optimizer state, the global RNG states, the
resolved config and the search-space signature. Since every draw comes from generators seeded by
``(seed, round, task, step)``, resuming from round k reproduces rounds k..N bit for bit on CPU.

Outputs in ``run_dir``: ``config.yaml`` (the resolved config), ``checkpoints/``, ``metrics.jsonl`` (one
JSON object per round), ``genotype.json`` and ``cells.png`` (the most probable genotype of the
final W), and with ``tracking.mlflow`` per-round metrics plus those files as artifacts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from base_dist.config import ExperimentConfig, config_from_dict, config_to_dict, flatten_config
from base_dist.data import TaskDistribution
from base_dist.errors import UserError
from base_dist.meta.diagnostics import progress_extra, w_diagnostics
from base_dist.meta.engine import (
    check_second_order,
    configure_process,
    init_outer_state,
)
from base_dist.meta.outer import apply_outer
from base_dist.meta.rounds import Executor, InProcessExecutor, collect_round
from base_dist.meta.schedules import outer_lr_at, tau_at
from base_dist.space.genotypes import genotype_to_dict
from base_dist.space.metanet import create_metanet
from base_dist.space.state import get_state, load_state
from base_dist.track.checkpoint import CHECKPOINT_SUBDIR, Checkpoint, CheckpointStore
from base_dist.track.mlflow_logger import NullTracker, start_tracker
from base_dist.track.progress import ProgressReporter
from base_dist.track.rngstate import capture_rng_state, restore_rng_state
from base_dist.track.rundir import check_run_dir, write_config
from base_dist.utils import derive_seed, resolve_device

log = logging.getLogger(__name__)
METRICS_FILE = "metrics.jsonl"
GENOTYPE_FILE = "genotype.json"
CELLS_FILE = "cells.png"


@dataclass
class MetaTrainResult:
    """What :func:`meta_train` returns. ``history`` holds the rounds run by this call only."""

    W: OrderedDict[str, Tensor]
    outer_state: dict[str, Tensor]
    rounds_done: int
    history: list[dict[str, float]] = field(default_factory=list)
    run_dir: Path | None = None
    checkpoint: Path | None = None
    genotype: Any = None


def init_seed(cfg: ExperimentConfig) -> int:
    """Seed of the meta-network's initial weights (independent of the global RNG).

    Example:
        >>> from base_dist.config import load_config
        >>> init_seed(load_config(None)) == init_seed(load_config(None))
        True
    """
    return derive_seed(cfg.seed, "init")


def build_model(cfg: ExperimentConfig, device: torch.device | str = "cpu") -> nn.Module:
    """The meta-network of ``cfg.space`` with its seeded initial weights, on ``device``.

    Example:
        >>> from base_dist.config import load_config
        >>> net = build_model(load_config("jobs/configs/tiny.yaml"))
        >>> next(iter(dict(net.named_parameters())))
        'arch.normal'
    """
    return create_metanet(cfg.space, seed=init_seed(cfg)).to(device)


# Space settings added after checkpoints existed, with their defaults (see space_signature).
ADDED_SPACE_FIELDS = {("arch", "eval_mode"): "auto", ("bayes", "kl_prior"): "fixed"}


def space_signature(cfg: ExperimentConfig, W: dict[str, Tensor]) -> str:
    """A short hash of the search-space config and of W's names and shapes.

    Two runs can share checkpoints iff their signatures are equal.

    Example:
        >>> from base_dist.config import load_config
        >>> cfg = load_config(None)
        >>> len(space_signature(cfg, {"w": torch.zeros(1)}))
        16
    """
    h = hashlib.blake2b(digest_size=8)
    space = cfg.space.model_dump(mode="json")
    for (section, key), default in ADDED_SPACE_FIELDS.items():
        if space[section].get(key) == default:
            del space[section][key]  # hashed only when set: runs from before the field was added still resume
    h.update(json.dumps(space, sort_keys=True).encode())
    for k, v in W.items():
        h.update(f"{k}:{tuple(v.shape)};".encode())
    return h.hexdigest()


def save_meta_checkpoint(store: CheckpointStore, cfg: ExperimentConfig, rounds_done: int, W: dict[str, Tensor],
                         outer_state: dict[str, Tensor], signature: str, kind: str = "meta-train") -> Path:
    """Write one checkpoint: ``W``, ``outer`` (optimizer state), ``rng`` tensors; config/signature in meta.

    Example:
        >>> # path = save_meta_checkpoint(CheckpointStore(run_dir / "checkpoints"), cfg, 5, W, {}, sig)
    """
    rng_tensors, rng_meta = capture_rng_state()
    meta = {"signature": signature, "config": config_to_dict(cfg), "rng": rng_meta, "kind": kind,
            "rounds_done": int(rounds_done)}
    return store.save(rounds_done, {"W": dict(W), "outer": dict(outer_state), "rng": rng_tensors}, meta)


def _round_metrics(task_metrics: list[dict[str, float]]) -> dict[str, float]:
    """Mean of each task metric over the round's accepted tasks (given in task-index order)."""
    keys = sorted({k for m in task_metrics for k in m})
    out = {}
    for k in keys:
        vals = [float(m[k]) for m in task_metrics if k in m]
        out[k] = float(sum(vals) / len(vals))
    return out


def _norm(state: dict[str, Tensor]) -> float:
    return math.sqrt(sum(float((v.float() ** 2).sum()) for v in state.values()))


def write_genotype_outputs(genotype: Any, run_dir: Path, tracker: NullTracker) -> None:
    """Write ``genotype.json`` and ``cells.png`` into ``run_dir`` and log them (and ``config.yaml``).

    A plotting failure (e.g. no matplotlib backend) is a warning, never an error.

    Example:
        >>> # write_genotype_outputs(model.genotype(), run_dir, NullTracker())
    """
    path = run_dir / GENOTYPE_FILE
    path.write_text(json.dumps(genotype_to_dict(genotype), indent=1) + "\n")
    artifacts = [run_dir / "config.yaml", path]
    try:
        from base_dist.space.diagram import plot_genotype

        artifacts.append(plot_genotype(genotype, run_dir / CELLS_FILE))
    except Exception as err:  # a picture is not worth failing a finished run for
        log.warning("could not draw %s (%s)", CELLS_FILE, err)
    for a in artifacts:
        if a.is_file():
            tracker.log_artifact(a)


def _load_resume(run_dir: Path, cfg: ExperimentConfig, W: dict[str, Tensor], signature: str) -> Checkpoint:
    store_dir = run_dir / CHECKPOINT_SUBDIR
    ckpt = CheckpointStore(store_dir).latest_good(expect_signature=signature, expect_tensors={"W": W})
    if ckpt is None:
        raise UserError(f"--resume {run_dir}: no checkpoint in {store_dir}; start a new run instead")
    return ckpt


# Settings that may change on resume without changing what the remaining rounds compute.
RESUME_NEUTRAL = ("name", "device", "tracking.", "dist.workers", "dist.address", "dist.num_cpus_per_worker",
                  "dist.num_gpus_per_worker", "dist.max_task_retries", "dist.task_timeout_s", "dist.dashboard_host",
                  "meta.checkpoint_every", "meta.keep_checkpoints", "meta.eval_before_inner", "adapt.", "train.")


def config_changes(saved: dict[str, Any], cfg: ExperimentConfig) -> list[str]:
    """``key: old -> new`` for settings that differ from a checkpoint's config and matter on resume.

    ``meta.rounds`` counts: with a linear or cosine lambda schedule it changes every later lambda.

    Example:
        >>> from base_dist.config import config_to_dict, load_config
        >>> config_changes(config_to_dict(load_config(None)), load_config(None, ["meta.inner_steps=2"]))
        ['meta.inner_steps: 5 -> 2']
    """
    if not saved:
        return []
    new = flatten_config(cfg)
    try:
        old = flatten_config(config_from_dict(saved))
    except UserError:
        return ["the checkpoint's config no longer validates"]
    return [f"{k}: {old.get(k)} -> {v}" for k, v in new.items()
            if old.get(k) != v and not k.startswith(RESUME_NEUTRAL)]


def _rewrite_metrics(path: Path, keep_below: int) -> None:
    """Drop metric lines of rounds >= ``keep_below`` (they are re-run after a resume)."""
    if not path.is_file():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            if int(json.loads(line)["round"]) < keep_below:
                keep.append(line)
        except (ValueError, KeyError, TypeError):
            continue
    tmp = path.with_name(path.name + ".tmp")  # a crash mid-rewrite must not lose the history
    tmp.write_text("".join(f"{line}\n" for line in keep))
    os.replace(tmp, path)


def meta_train(cfg: ExperimentConfig, run_dir: str | Path, resume: bool = False, stop_after: int | None = None,
               *, tracker: NullTracker | None = None, progress: bool = True,
               executor: Executor | None = None,
               on_round: Callable[[int, dict[str, float]], None] | None = None) -> MetaTrainResult:
    """Meta-train in this process for ``cfg.meta.rounds`` rounds (or until ``stop_after`` rounds are done).

    ``resume=True`` continues from the newest good checkpoint in ``run_dir/checkpoints`` (same
    search space required). ``stop_after`` (a total round count) stops early after writing a
    checkpoint, as an interruption would. The MLflow run (``tracking.mlflow``) is opened here
    unless ``tracker`` is given. ``executor`` runs the tasks of a round (default: in this process;
    the Ray driver of :mod:`base_dist.dist` passes its own); the non-finite policy and the
    task-index-order mean are :func:`base_dist.meta.rounds.collect_round`'s, wherever tasks run.
    ``on_round(rounds_done, row)`` is called after each round, once its checkpoint (if due), its
    ``metrics.jsonl`` line and its MLflow metrics are written (``row`` is that line's dict); Ray Tune
    trials report from it. An exception it raises ends the run like any other.

    Example:
        >>> from base_dist.config import load_config
        >>> cfg = load_config("jobs/configs/tiny.yaml", ["meta.rounds=1"])
        >>> res = meta_train(cfg, "/tmp/base-dist-doctest-meta", progress=False)  # doctest: +SKIP
        >>> res.rounds_done  # doctest: +SKIP
        1
    """
    check_second_order(cfg)
    configure_process(cfg)
    run_dir = Path(run_dir).absolute()
    check_run_dir(run_dir, resume)
    run_dir.mkdir(parents=True, exist_ok=True)
    device = resolve_device(cfg.device)
    model = build_model(cfg, device)
    W = get_state(model)
    W = OrderedDict((k, v.to("cpu", torch.float32)) for k, v in W.items())
    signature = space_signature(cfg, W)
    store = CheckpointStore(run_dir / CHECKPOINT_SUBDIR, keep=cfg.meta.keep_checkpoints)
    outer_state = init_outer_state(W, cfg)
    W_init = OrderedDict((k, v.clone()) for k, v in W.items())  # the seeded init: displacement is measured from it
    start = 0
    if resume:
        ckpt = _load_resume(run_dir, cfg, W, signature)
        W = OrderedDict((k, ckpt.tensors["W"][k].to(torch.float32)) for k in W)
        outer_state = dict(ckpt.tensors.get("outer", {}))
        restore_rng_state(ckpt.tensors.get("rng", {}), ckpt.meta.get("rng") or {}, origin=str(ckpt.path))
        start = ckpt.round
        changed = config_changes(ckpt.meta.get("config") or {}, cfg)
        if changed:
            log.warning("resuming with settings that differ from the checkpoint's (the rest of the run will "
                        "not match an uninterrupted one): %s", ", ".join(changed))
    # Only now: a refused resume must leave the run's config.yaml as it was.
    write_config(cfg, run_dir)  # the config this (possibly resumed) run really uses
    metrics_path = run_dir / METRICS_FILE
    _rewrite_metrics(metrics_path, start)
    end = cfg.meta.rounds if stop_after is None else min(cfg.meta.rounds, stop_after)
    dist = TaskDistribution(cfg.data, split="meta-train")
    if executor is None:
        executor = InProcessExecutor(model, dist, cfg, device)
    own_tracker = tracker is None
    if tracker is None:
        tracker = start_tracker(cfg, run_dir, run_name=f"{cfg.name}-meta-train", resume=resume,
                                tags={"command": "meta-train", "workers": cfg.dist.workers})
    if not resume:
        tracker.log_params(cfg)
    reporter = ProgressReporter(total=cfg.meta.rounds, start=start) if progress else None
    history: list[dict[str, float]] = []
    last_ckpt: Path | None = None
    done = start
    status = "FAILED"
    genotype = None
    try:
        for r in range(start, end):
            t0 = time.perf_counter()
            summary = collect_round(executor, dist, W, cfg, r)
            t_tasks = time.perf_counter()
            W, outer_state = apply_outer(W, summary.mean_delta, cfg.meta, r, outer_state)
            done = r + 1
            t_end = time.perf_counter()
            seconds = t_end - t0
            row = {"round": float(r), **_round_metrics(summary.task_metrics), **summary.extra,
                   "rejected_deltas": float(summary.rejected), "skipped_tasks": float(summary.skipped),
                   "outer_lr": outer_lr_at(cfg.meta, r), "tau": tau_at(cfg.space.arch, r),
                   "mean_delta_norm": _norm(summary.mean_delta), "round_s": seconds, "tasks_s": t_tasks - t0,
                   "driver_s": t_end - t_tasks + summary.extra.get("fold_s", 0.0),
                   "tasks_per_s": cfg.meta.tasks_per_round / max(seconds, 1e-9),
                   **w_diagnostics(W, W_init, cfg.space.bayes.sigma_param)}
            stats = getattr(executor, "stats", None)
            stats = stats() if callable(stats) else stats
            if isinstance(stats, dict):  # e.g. the Ray executor's retries / worker restarts (cumulative)
                row.update({k: float(v) for k, v in stats.items()})
            history.append(row)
            # The line goes before the checkpoint: an interruption between the two then loses nothing
            # (Ctrl-C still saves round `done`; after a kill, the resume drops lines past its checkpoint).
            with metrics_path.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
            if done % cfg.meta.checkpoint_every == 0 or done == end:
                last_ckpt = save_meta_checkpoint(store, cfg, done, W, outer_state, signature)
                if cfg.tracking.log_checkpoints:
                    tracker.log_artifact(last_ckpt, artifact_path="checkpoints")
            tracker.log_metrics({k: v for k, v in row.items() if k != "round" and math.isfinite(v)}, step=done)
            if reporter is not None:
                reporter.update(done, tasks_per_s=row["tasks_per_s"], val_acc=row.get("val_acc"),
                                extra=progress_extra(row))
            if on_round is not None:
                on_round(done, row)
        if reporter is not None:
            reporter.close()
        load_state(model, W)
        genotype = model.genotype()
        write_genotype_outputs(genotype, run_dir, tracker)
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        if done > start and (last_ckpt is None or not last_ckpt.name.endswith(f"{done:06d}.safetensors")):
            last_ckpt = save_meta_checkpoint(store, cfg, done, W, outer_state, signature)
        raise
    finally:
        if reporter is not None:
            reporter.close()
        if own_tracker:
            tracker.end(status)
    if last_ckpt is None:
        found = store.list()
        last_ckpt = found[-1] if found else None
    return MetaTrainResult(W=W, outer_state=outer_state, rounds_done=done, history=history, run_dir=run_dir,
                           checkpoint=last_ckpt, genotype=genotype)
