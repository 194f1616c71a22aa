"""``train``: the driver of a full-network training run (in process, or over Ray Train).

Validates the inputs before anything is written, opens the MLflow run (driver only), runs the loop
(:func:`base_dist.train.loop.fit` here, or :func:`base_dist.train.ray_train.fit_with_ray` when
``train.workers >= 1``), profiles the network (parameters without the auxiliary head, MACs) and
writes ``run_dir/metrics.json``, ``genotype.json`` and ``profile.json``; with MLflow on, logs them, the
config and the network as an MLflow model (:func:`base_dist.train.export.log_network_model`).

Example:
    >>> from base_dist.config import load_config
    >>> cfg = load_config(None, ["train.channels=4", "train.layers=3", "train.epochs=1", "train.dataset=digits",
    ...                          "train.image_size=16", "train.max_train_images=64", "tracking.mlflow=false"])
    >>> res = train(cfg, "/tmp/base-dist-doctest-train", progress=False)  # doctest: +SKIP
    >>> res.results_line()  # doctest: +SKIP
    'train darts_v2 on digits: test acc 20.1% | 0.01M params | 0.4M MACs | 1/1 epochs | 3s'
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from base_dist.config import ExperimentConfig
from base_dist.data import check_dataset
from base_dist.space.genotypes import Genotype, get_genotype
from base_dist.space.profiler import Profile, profile_genotype
from base_dist.track.checkpoint import CHECKPOINT_SUBDIR, CheckpointStore
from base_dist.track.mlflow_logger import NullTracker, start_tracker
from base_dist.track.progress import estimate_eta, format_duration
from base_dist.track.rundir import check_run_dir
from base_dist.train.checkpoints import GENOTYPE_FILE
from base_dist.train.export import log_network_model
from base_dist.train.inputs import load_train_data
from base_dist.train.loop import fit

log = logging.getLogger(__name__)
METRICS_FILE = "metrics.json"
PROFILE_FILE = "profile.json"
CONFIG_FILE = "config.yaml"  # written by train.checkpoints.write_train_inputs once a resume is accepted


@dataclass
class TrainResult:
    """The outcome of :func:`train`; ``metrics`` is what ``metrics.json`` holds."""

    metrics: dict[str, Any]
    run_dir: Path
    history: list[dict[str, float]] = field(default_factory=list)
    batch_losses: list[float] = field(default_factory=list)
    checkpoint: Path | None = None

    @property
    def test_acc(self) -> float:
        return float(self.metrics["test_acc"])

    def results_line(self) -> str:
        """One line summing the run up (what the CLI prints).

        Example:
            >>> TrainResult({"genotype": "g", "dataset": "d", "test_acc": 0.5, "params": 12000, "macs": 3e6,
            ...              "epochs_done": 1, "epochs": 2, "wall_s": 5.0, "stopped_by_budget": True},
            ...             Path(".")).results_line()
            'train g on d: test acc 50.0% | 0.01M params | 3.0M MACs | 1/2 epochs (budget) | 5s'
        """
        m = self.metrics
        budget = " (budget)" if m.get("stopped_by_budget") else ""
        return (f"train {m['genotype']} on {m['dataset']}: test acc {100 * m['test_acc']:.1f}% | "
                f"{m['params'] / 1e6:.2f}M params | {m['macs'] / 1e6:.1f}M MACs | "
                f"{m['epochs_done']}/{m['epochs']} epochs{budget} | {format_duration(m['wall_s'])}")


class _EpochLogger:
    """Driver-side per-epoch reporting: a progress line and MLflow metrics."""

    def __init__(self, cfg: ExperimentConfig, tracker: NullTracker, start: int, progress: bool) -> None:
        self.cfg, self.tracker, self.start, self.progress = cfg, tracker, start, progress
        self.t0 = time.monotonic()

    def __call__(self, row: dict[str, float]) -> None:
        epoch = int(row["epoch"])
        self.tracker.log_metrics({k: v for k, v in row.items() if k != "epoch" and math.isfinite(v)}, step=epoch)
        if self.progress:
            eta = estimate_eta(time.monotonic() - self.t0, epoch - self.start, self.cfg.train.epochs - epoch)
            log.info("epoch %d/%d | lr %.4g | loss %.4f | train acc %.1f%% | %s | ETA %s", epoch,
                     self.cfg.train.epochs, row["lr"], row["train_loss"], 100 * row["train_acc"],
                     format_duration(row["epoch_s"]), format_duration(eta))


def _resumed_start(run_dir: Path, resume: bool) -> int:
    if not resume:
        return 0
    found = CheckpointStore(run_dir / CHECKPOINT_SUBDIR).list()
    return int(found[-1].stem.split("-")[1]) if found else 0


def train(cfg: ExperimentConfig, run_dir: str | Path, resume: bool = False, stop_after: int | None = None, *,
          tracker: NullTracker | None = None, progress: bool = True) -> TrainResult:
    """Train ``cfg.train.genotype``'s full network on ``cfg.train.dataset``; write ``metrics.json``.

    ``resume`` continues from ``run_dir/checkpoints``; ``stop_after`` (a total epoch count) stops
    early as an interruption would. The MLflow run is opened here unless ``tracker`` is given.

    Example:
        >>> # res = train(load_config("jobs/configs/tiny.yaml"), "runs/train-x"); print(res.results_line())
    """
    wall0 = time.perf_counter()
    t = cfg.train
    genotype = get_genotype(t.genotype)
    check_dataset(t.dataset)
    run_dir = Path(run_dir).absolute()
    check_run_dir(run_dir, resume)
    run_dir.mkdir(parents=True, exist_ok=True)
    own_tracker = tracker is None
    if tracker is None:
        tracker = start_tracker(cfg, run_dir, run_name=f"{cfg.name}-train", resume=resume,
                                tags={"command": "train", "genotype": t.genotype, "dataset": t.dataset,
                                      "workers": t.workers})
    if not resume:
        tracker.log_params(cfg)
    status = "FAILED"
    try:
        summary, batch_losses = _fit(cfg, genotype, run_dir, resume, stop_after, tracker, progress)
        metrics = _write_results(cfg, genotype, summary, run_dir, tracker, wall0)
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        if own_tracker:
            tracker.end(status)
    ckpt = Path(summary["checkpoint"]) if summary.get("checkpoint") else None
    return TrainResult(metrics=metrics, run_dir=run_dir, history=summary["history"], batch_losses=batch_losses,
                       checkpoint=ckpt)


def _fit(cfg: ExperimentConfig, genotype: Genotype, run_dir: Path, resume: bool, stop_after: int | None,
         tracker: NullTracker, progress: bool) -> tuple[dict[str, Any], list[float]]:
    """Run the loop (Ray Train or in process): the summary ``_metrics`` reads, and the batch losses."""
    if cfg.train.workers >= 1:
        from base_dist.train.ray_train import fit_with_ray

        summary = fit_with_ray(cfg, genotype, run_dir, resume=resume, stop_after=stop_after)
        for row in summary["history"][summary["resumed_from"]:]:  # the workers cannot reach the driver's tracker
            _EpochLogger(cfg, tracker, summary["resumed_from"], progress=False)(row)
        return summary, []
    data = load_train_data(cfg)
    on_epoch = _EpochLogger(cfg, tracker, _resumed_start(run_dir, resume), progress)
    res = fit(cfg, genotype, data, run_dir, resume=resume, stop_after=stop_after, on_epoch=on_epoch)
    summary = {"history": res.history, "epochs_done": res.epochs_done, "test_acc": res.test_acc,
               "test_loss": res.test_loss, "train_s": res.train_s, "stopped_by_budget": res.stopped_by_budget,
               "checkpoint": str(res.checkpoint) if res.checkpoint else None,
               "resumed_from": res.resumed_from, "in_channels": data.in_channels,
               "num_classes": data.num_classes, "device": str(next(res.net.parameters()).device),
               "world_size": 1}
    return summary, res.batch_losses


def _write_results(cfg: ExperimentConfig, genotype: Genotype, summary: dict[str, Any], run_dir: Path,
                   tracker: NullTracker, wall0: float) -> dict[str, Any]:
    """Profile the network; write and log ``metrics.json``, ``profile.json`` and the MLflow model.

    ``wall0`` is the run's ``perf_counter`` start: its wall time includes the profiling, as it always has.
    """
    t = cfg.train
    prof = profile_genotype(genotype, channels=t.channels, layers=t.layers, num_classes=summary["num_classes"],
                            image_size=t.image_size, in_channels=summary["in_channels"], macro=t.macro)
    metrics = _metrics(cfg, summary, prof, time.perf_counter() - wall0, run_dir)
    (run_dir / PROFILE_FILE).write_text(json.dumps({**prof.as_dict(), "image_size": t.image_size,
                                                    "in_channels": summary["in_channels"]}, indent=1) + "\n")
    metrics["mlflow_model_uri"] = log_network_model(tracker, run_dir, cfg.tracking.registered_model)
    metrics["mlflow_tracking_uri"] = tracker.tracking_uri
    (run_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=1) + "\n")
    final = {"test_acc": metrics["test_acc"], "test_loss": metrics["test_loss"], "params": float(prof.params),
             "macs": float(prof.macs), "wall_s": metrics["wall_s"], "train_s": metrics["train_s"]}
    tracker.log_metrics({k: v for k, v in final.items() if math.isfinite(v)}, step=metrics["epochs_done"])
    for name in (METRICS_FILE, GENOTYPE_FILE, CONFIG_FILE, PROFILE_FILE):
        tracker.log_artifact(run_dir / name)
    return metrics


def _metrics(cfg: ExperimentConfig, summary: dict[str, Any], prof: Profile, wall_s: float,
             run_dir: Path) -> dict[str, Any]:
    """The ``metrics.json`` record: results first, then what produced them."""
    t = cfg.train
    return {
        "test_acc": summary["test_acc"], "test_loss": summary["test_loss"],
        "params": prof.params, "params_m": round(prof.params / 1e6, 3), "aux_params": prof.aux_params,
        "macs": prof.macs, "macs_m": round(prof.macs / 1e6, 2),
        "wall_s": wall_s, "train_s": summary["train_s"],
        "epochs_done": summary["epochs_done"], "epochs": t.epochs, "stopped_by_budget": summary["stopped_by_budget"],
        "resumed_from": summary["resumed_from"],
        "genotype": t.genotype, "dataset": t.dataset, "image_size": t.image_size, "macro": t.macro,
        "channels": t.channels, "layers": t.layers, "in_channels": summary["in_channels"],
        "num_classes": summary["num_classes"], "workers": t.workers, "world_size": summary["world_size"],
        "device": summary["device"],
        "seed": cfg.seed, "checkpoint": summary.get("checkpoint"), "run_dir": str(run_dir),
        "history": summary["history"],
    }
