"""One Ray Tune trial: a full BASE meta-training that reports held-out accuracy after every round.

The trial runs inside a Tune actor (in bundle 0 of its placement group, see
:mod:`base_dist.tune.resources`). With ``dist.workers >= 1`` it drives a
:class:`base_dist.distributed.executor.RayExecutor` through :func:`base_dist.distributed.create_trainer`
like every other caller (its workers land in the trial's placement group); with ``0`` it meta-trains in its own process.
Its run directory is ``<search dir>/trials/<trial id>`` (absolute: Tune changes a trial's working
directory), its MLflow run a child of the search's run.

Example:
    >>> ctx = TrialContext(base=config_to_dict(cfg), search_dir="/abs/runs/tune-1", tracking_uri=None,
    ...                    parent_run_id=None, eval_tasks=4)                      # doctest: +SKIP
    >>> tune.with_parameters(run_trial, ctx=ctx)                                 # doctest: +SKIP
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from base_dist.config import ExperimentConfig
from base_dist.distributed import create_trainer
from base_dist.meta.adapt import adaptation_gain
from base_dist.meta.callbacks import OnRound
from base_dist.meta.holdout import HoldoutEvaluator
from base_dist.track.checkpoint import CHECKPOINT_SUBDIR, CheckpointStore
from base_dist.track.mlflow_logger import start_tracker
from base_dist.tune.params import apply_params

TRIALS_SUBDIR = "trials"
REPORTED_ROW_KEYS = ("val_acc", "val_loss", "train_loss", "train_acc", "kl", "tau", "round_s", "tasks_per_s")


@dataclass(frozen=True)
class TrialContext:
    """What every trial needs from the search (small and picklable; paths absolute).

    ``tracking_uri`` is the search's resolved MLflow URI (None: tracking off). ``adapt_metric``: score
    the trial by adapting its prior (:func:`base_dist.meta.adapt.adaptation_gain`), once, at the end.
    """

    base: dict[str, Any]
    search_dir: str
    tracking_uri: str | None
    parent_run_id: str | None
    eval_tasks: int
    adapt_metric: bool = False


def trial_config(ctx: TrialContext, params: dict[str, Any]) -> ExperimentConfig:
    """The trial's config: the base with ``params`` applied, the search's MLflow store, and, unless the trial
    is scored by adapting (once, from its last checkpoint), a checkpoint every round (the held-out
    evaluation reads ``W`` from it).

    Example:
        >>> trial_config(ctx, {"meta.inner_steps": 3}).meta.checkpoint_every   # doctest: +SKIP
        1
    """
    fixed: dict[str, Any] = {} if ctx.adapt_metric else {"meta.checkpoint_every": 1}
    if ctx.tracking_uri:
        fixed["tracking.tracking_uri"] = ctx.tracking_uri
    return apply_params(ctx.base, {**params, **fixed}, origin="tune trial")


def trial_dir(search_dir: str | Path, trial_id: str) -> Path:
    """``<search dir>/trials/<trial id>``.

    Example:
        >>> trial_dir("/r/tune-1", "ab12_00000").as_posix()
        '/r/tune-1/trials/ab12_00000'
    """
    return Path(search_dir) / TRIALS_SUBDIR / trial_id


def run_trial(params: dict[str, Any], ctx: TrialContext) -> None:
    """The Tune function trainable: meta-train with ``params``; ``tune.report`` after every round.

    Each report holds ``holdout_acc``/``holdout_loss`` (:class:`HoldoutEvaluator` over
    ``ctx.eval_tasks`` held-out tasks), the round's training metrics, ``rounds_done`` and
    ``trial_s``; the same held-out metrics go to the trial's MLflow run. The last round is reported
    after the run has finished (genotype written, MLflow run FINISHED), since Tune may stop a trial
    inside any report. An early ASHA stop ends the trial inside ``tune.report``; its MLflow run is
    then marked KILLED (here, or by the search afterwards). With ``ctx.adapt_metric`` there is one
    report, at the end, with ``adapt_acc``, ``scratch_acc`` and ``adapt_gain`` added (the rounds'
    metrics still go to MLflow and ``metrics.jsonl``).

    Example:
        >>> tuner = tune.Tuner(tune.with_parameters(run_trial, ctx=ctx), param_space=space)  # doctest: +SKIP
    """
    from ray import tune

    t0 = time.perf_counter()
    trial_id = tune.get_context().get_trial_id() or "trial"
    cfg = trial_config(ctx, params)
    run_dir = trial_dir(ctx.search_dir, trial_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    tracker = start_tracker(cfg, run_dir, run_name=f"{cfg.name}-trial-{trial_id}", resume=False,
                            tags={"command": "tune-trial", "tune.trial_id": trial_id, "workers": cfg.dist.workers,
                                  "parent_run_id": ctx.parent_run_id or ""},
                            parent_run_id=ctx.parent_run_id)
    tracker.log_params({f"tune.{k}": v for k, v in params.items()})
    evaluator = None if ctx.adapt_metric else HoldoutEvaluator(cfg, ctx.eval_tasks)  # one score: at the end
    store = CheckpointStore(run_dir / CHECKPOINT_SUBDIR)

    final: dict[str, float] = {}

    def on_round(done: int, row: dict[str, float]) -> None:
        scores: dict[str, float] = {}
        if evaluator:
            ckpt = store.latest_good()
            if ckpt is None or ckpt.round != done:
                raise RuntimeError(f"trial {trial_id}: no checkpoint of round {done} to evaluate")
            scores = evaluator(ckpt.tensors["W"], round_idx=done - 1)
        tracker.log_metrics(scores, step=done)
        report = {k: float(row[k]) for k in REPORTED_ROW_KEYS if k in row}
        report.update(scores, rounds_done=done, trial_s=time.perf_counter() - t0)
        if done >= cfg.meta.rounds:  # ASHA stops a trial at max_t inside report: finish the run first
            final.update(report)
        elif not ctx.adapt_metric:  # Tune wants the metric in every report: an adapt metric has one
            tune.report(report)

    status = "FAILED"
    try:
        # With dist.workers >= 1 the executor joins the trial's Ray; its actors go into the trial's placement group.
        create_trainer(cfg, run_dir, tracker=tracker, callbacks=[OnRound(on_round)]).run()
        if ctx.adapt_metric:
            gain = adaptation_gain(cfg, run_dir)
            tracker.log_metrics(gain, step=cfg.meta.rounds)
            final.update(gain)
        status = "FINISHED"
    except SystemExit:  # Tune stopped the trial (ASHA) while it was reporting
        status = "KILLED"
        tracker.set_tag("tune.stopped_early", "true")
        raise
    finally:
        tracker.end(status)
    if final:
        tune.report({**final, "trial_s": time.perf_counter() - t0})
