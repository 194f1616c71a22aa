"""The Python API: the main jobs of base-dist in a few lines, re-exported from :mod:`base_dist`.

Every function here runs without a run directory (a fresh temporary one is used) and without
MLflow unless ``track=True`` (then ``tracking.*`` of the config applies). They are thin: each
calls the one implementation the CLI uses too.

Example (the whole pipeline on the tiny test config; seconds on one core):
    >>> import base_dist
    >>> cfg = base_dist.load_config("jobs/configs/tiny.yaml", ["meta.rounds=1", "adapt.max_train_images=64"])
    >>> prior = base_dist.meta_train(cfg)                       # in process, or on Ray with dist.workers >= 1
    >>> adapted = base_dist.adapt(cfg, prior.checkpoint)        # to cfg.adapt.dataset (digits)
    >>> genotype = base_dist.derive(cfg, adapted.run_dir).genotype
    >>> trained = base_dist.train_network(cfg, genotype, ["train.max_train_images=64"])
    >>> 0.0 <= trained.test_acc <= 1.0
    True
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from base_dist.config import ExperimentConfig, apply_overrides, config_from_dict, config_to_dict, load_config
from base_dist.distributed import create_trainer
from base_dist.meta.adapt import AdaptResult
from base_dist.meta.adapt import adapt as _adapt
from base_dist.meta.callbacks import Callback
from base_dist.meta.prior import Posterior, load_posterior
from base_dist.meta.trainer import MetaTrainer, MetaTrainResult
from base_dist.report.derive import DeriveResult
from base_dist.report.derive import derive as _derive
from base_dist.space.genotypes import Genotype, genotype_to_json
from base_dist.space.metanet import create_metanet
from base_dist.space.network import create_network
from base_dist.space.profiler import Profile, profile_genotype, profile_network
from base_dist.track.mlflow_logger import NullTracker
from base_dist.train.run import TrainResult, train

__all__ = [
    "Callback", "MetaTrainer", "Posterior", "Profile", "adapt", "create_metanet", "create_network", "create_trainer",
    "derive", "load_config", "load_posterior", "meta_train", "profile_genotype", "profile_network", "train_network",
]


def _configured(cfg: ExperimentConfig, track: bool, overrides: Sequence[str] = ()) -> ExperimentConfig:
    """``cfg`` with ``overrides`` applied and, unless ``track``, MLflow off (tracking is opt-in from Python)."""
    sets = [*overrides, *([] if track else ["tracking.mlflow=false"])]
    if not sets:
        return cfg
    return config_from_dict(apply_overrides(config_to_dict(cfg), sets), origin="the API's config")


def _dir(run_dir: str | Path | None, command: str) -> Path:
    return Path(run_dir) if run_dir is not None else Path(tempfile.mkdtemp(prefix=f"base-dist-{command}-"))


def meta_train(cfg: ExperimentConfig, run_dir: str | Path | None = None, *, resume: bool = False,
               stop_after: int | None = None, track: bool = False, progress: bool = False,
               callbacks: Sequence[Callback] = ()) -> MetaTrainResult:
    """Meta-train ``cfg`` (in process with ``dist.workers: 0``, else on Ray workers); the result holds W,
    the history of this call's rounds and the last checkpoint (the prior to adapt from).

    Example:
        >>> cfg = load_config("jobs/configs/tiny.yaml", ["meta.rounds=2"])
        >>> res = meta_train(cfg, stop_after=1)
        >>> res.rounds_done, meta_train(cfg, res.run_dir, resume=True).rounds_done
        (1, 2)
    """
    trainer = create_trainer(_configured(cfg, track), _dir(run_dir, "meta-train"), resume=resume, progress=progress,
                             callbacks=callbacks)
    return trainer.run(stop_after=stop_after)


def adapt(cfg: ExperimentConfig, prior: str | Path | None = None, *, run_dir: str | Path | None = None,
          track: bool = False, progress: bool = False) -> AdaptResult:
    """Adapt the prior (a meta-train run directory or checkpoint; None: the same supernet from scratch)
    to ``cfg.adapt.dataset``; writes the adapted posterior, genotype and metrics into the run directory.

    Example:
        >>> cfg = load_config("jobs/configs/tiny.yaml", ["adapt.max_train_images=64"])
        >>> res = adapt(cfg)
        >>> sorted(p.name for p in res.run_dir.iterdir())
        ['checkpoints', 'genotype.json', 'metrics.json']
    """
    run_dir = _dir(run_dir, "adapt")
    tracker = None if track else NullTracker()
    return _adapt(_configured(cfg, track), prior, run_dir=run_dir, progress=progress, tracker=tracker)


def derive(cfg: ExperimentConfig | None, posterior: str | Path, *, dataset: str | None = None,
           tasks: int | None = None) -> DeriveResult:
    """The genotype of an adapted posterior; of a prior, after adapting it to ``dataset`` (with
    ``tasks=k``: the task-average recipe over k tasks of it).

    Example:
        >>> cfg = load_config("jobs/configs/tiny.yaml", ["meta.rounds=1"])
        >>> res = derive(cfg, meta_train(cfg).checkpoint, dataset="digits", tasks=2)
        >>> res.info["recipe"], len(res.genotype.normal) == 2 * cfg.space.nodes
        ('task-average over 2 tasks x 8 samples', True)
    """
    return _derive(_configured(cfg, False) if cfg is not None else None, posterior, dataset=dataset, tasks=tasks)


def train_network(cfg: ExperimentConfig, genotype: Genotype | str | Path | None = None,
                  overrides: Sequence[str] = (), *, run_dir: str | Path | None = None, track: bool = False,
                  progress: bool = False) -> TrainResult:
    """Train the full network of ``genotype`` (a Genotype, a registered name or a genotype file; None:
    ``cfg.train.genotype``) on ``cfg.train.dataset`` with the ``train.*`` recipe; ``overrides`` are
    ``KEY=VALUE`` settings applied on top (like ``--set``).

    Example:
        >>> cfg = load_config("jobs/configs/tiny.yaml", ["train.max_train_images=64"])
        >>> res = train_network(cfg, "darts_v2")
        >>> res.metrics["genotype"], res.metrics["epochs_done"]
        ('darts_v2', 1)
    """
    run_dir = _dir(run_dir, "train")
    sets = list(overrides)
    if isinstance(genotype, Genotype):
        path = run_dir / "genotype-input.json"
        path.write_text(genotype_to_json(genotype) + "\n")
        genotype = path
    if genotype is not None:
        sets.append(f"train.genotype={genotype}")
    tracker = None if track else NullTracker()
    return train(_configured(cfg, track, sets), run_dir, tracker=tracker, progress=progress)
