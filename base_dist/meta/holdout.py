"""Held-out evaluation: how well a meta-learned ``W`` adapts to tasks of classes it never saw.

Tasks come from ``TaskDistribution(cfg.data, split="holdout")`` (the ``data.holdout_classes``
classes per source kept out of meta-training, or a source's fixed held-out split). Each is adapted
with the inner loop of meta-training (:func:`base_dist.meta.task.run_task`: ``meta.inner_steps``
steps at ``meta.inner_lr_*``) and scored on its validation part at the posterior mean.

Seeds: task ``i`` is drawn from ``derive_seed(cfg.seed, "holdout", i)`` and adapted with the step
seeds of an evaluation seed ``derive_seed(cfg.seed, "holdout-eval")``, so the held-out tasks never
coincide with training draws, and are the same for every round and every trial of a search that
shares ``seed`` (scores are comparable). The Gumbel temperature is that of round ``round_idx``
(default: the last round of ``meta.rounds``).

Example:
    >>> from base_dist.config import load_config
    >>> from base_dist.meta.prior import seeded_metanet
    >>> from base_dist.space.meta_state import get_state
    >>> cfg = load_config("jobs/configs/tiny.yaml")
    >>> out = holdout_accuracy(cfg, get_state(seeded_metanet(cfg)), n_tasks=2)   # doctest: +SKIP
    >>> 0.0 <= out["holdout_acc"] <= 1.0                                      # doctest: +SKIP
    True
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor

from base_dist.config import ExperimentConfig
from base_dist.data import TaskDistribution
from base_dist.errors import UserError
from base_dist.meta.prior import seeded_metanet
from base_dist.meta.schedules import tau_at
from base_dist.meta.task import configure_process, run_task
from base_dist.utils import derive_seed

HOLDOUT_SPLIT = "holdout"


def holdout_task_seed(cfg: ExperimentConfig, index: int) -> int:
    """Seed of held-out task ``index`` (independent of every meta-training task seed).

    Example:
        >>> from base_dist.config import load_config
        >>> from base_dist.meta.task import task_seed
        >>> cfg = load_config(None)
        >>> holdout_task_seed(cfg, 0) != task_seed(cfg, 0, 0)
        True
    """
    return derive_seed(cfg.seed, HOLDOUT_SPLIT, int(index))


def eval_config(cfg: ExperimentConfig, round_idx: int | None = None) -> ExperimentConfig:
    """``cfg`` with the evaluation seed and a constant tau (that of ``round_idx``) for :func:`run_task`.

    Example:
        >>> from base_dist.config import load_config
        >>> eval_config(load_config(None)).seed != load_config(None).seed
        True
    """
    r = cfg.meta.rounds - 1 if round_idx is None else int(round_idx)
    arch = cfg.space.arch.model_copy(update={"tau_start": tau_at(cfg.space.arch, r), "tau_anneal_rounds": 0})
    space = cfg.space.model_copy(update={"arch": arch})
    return cfg.model_copy(update={"seed": derive_seed(cfg.seed, "holdout-eval"), "space": space})


class HoldoutEvaluator:
    """Reusable held-out evaluation: builds the model and the ``n_tasks`` tasks once.

    Like meta-training, it sets this process's torch threads to ``dist.torch_threads``.

    Example:
        >>> ev = HoldoutEvaluator(cfg, n_tasks=4)          # doctest: +SKIP
        >>> ev(W, round_idx=3)["holdout_acc"]              # doctest: +SKIP
        0.41
    """

    def __init__(self, cfg: ExperimentConfig, n_tasks: int, *, device: torch.device | str = "cpu") -> None:
        if n_tasks < 1:
            raise UserError(f"held-out evaluation needs at least 1 task (got {n_tasks})")
        configure_process(cfg)  # torch threads = dist.torch_threads, as meta-training and adapt do
        self.cfg, self.n_tasks, self.device = cfg, int(n_tasks), torch.device(device)
        self.task_dist = TaskDistribution(cfg.data, split=HOLDOUT_SPLIT)
        self.specs = [self.task_dist.spec(holdout_task_seed(cfg, i)) for i in range(self.n_tasks)]
        self.tasks = [self.task_dist.build(s) for s in self.specs]
        self.model = seeded_metanet(cfg, self.device)

    def __call__(self, W: Mapping[str, Tensor], round_idx: int | None = None) -> dict[str, float]:
        """Adapt ``W`` to every held-out task; mean/min/max validation accuracy and mean loss.

        Example:
            >>> ev(W)["holdout_tasks"]      # doctest: +SKIP
            4.0
        """
        ecfg = eval_config(self.cfg, round_idx)
        accs, losses = [], []
        for i, task in enumerate(self.tasks):
            res = run_task(self.model, W, task, ecfg, 0, i, self.device, tasks=self.task_dist)
            accs.append(float(res.metrics["val_acc"]))
            losses.append(float(res.metrics["val_loss"]))
        finite = [v for v in losses if math.isfinite(v)]
        return {
            "holdout_acc": sum(accs) / len(accs),
            "holdout_acc_min": min(accs),
            "holdout_acc_max": max(accs),
            "holdout_loss": sum(finite) / len(finite) if finite else float("nan"),
            "holdout_tasks": float(len(accs)),
        }


def holdout_accuracy(cfg: ExperimentConfig, W: Mapping[str, Tensor], n_tasks: int, *,
                     device: torch.device | str = "cpu", round_idx: int | None = None) -> dict[str, float]:
    """Mean validation accuracy (and loss) of ``W`` after inner-loop adaptation to ``n_tasks`` held-out tasks.

    Returns ``holdout_acc`` (mean, in [0, 1]), ``holdout_acc_min``, ``holdout_acc_max``,
    ``holdout_loss`` (mean over finite losses) and ``holdout_tasks``. Raises :class:`UserError`
    when the config keeps no (or too few) held-out classes (set ``data.holdout_classes >= data.n_way``).

    Example:
        >>> from base_dist.config import load_config
        >>> from base_dist.meta.prior import seeded_metanet
        >>> from base_dist.space.meta_state import get_state
        >>> cfg = load_config("jobs/configs/tiny.yaml")
        >>> holdout_accuracy(cfg, get_state(seeded_metanet(cfg)), 2)["holdout_tasks"]   # doctest: +SKIP
        2.0
    """
    return HoldoutEvaluator(cfg, n_tasks, device=device)(W, round_idx)
