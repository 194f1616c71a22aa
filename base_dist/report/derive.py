"""Derive a discrete genotype from a posterior: an adapted run, or a meta-train checkpoint + a dataset.

Two recipes from the paper (section 5):

* most probable: ``softmax(phi)`` of the (adapted) posterior, top-2 (input, op) pairs per node;
* task average (the ImageNet recipe): adapt with the inner loop to ``k`` sampled tasks, average the
  sampled (Gumbel-softmax) architecture distributions, then take the top-2 pairs.

Outputs (:func:`write_derive_outputs`): ``genotype.json`` (DARTS-compatible fields), ``cells.png``,
``derive.json`` (probabilities, recipe, provenance).

Example:
    >>> # res = derive(cfg, "runs/meta-train-x", dataset="digits", tasks=4)
    >>> # write_derive_outputs(res, Path("runs/derive-x"))
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from base_dist.config import DataConfig, ExperimentConfig, SourceSpec, SpaceConfig, config_from_dict
from base_dist.data import TaskDistribution, check_dataset
from base_dist.errors import UserError
from base_dist.meta.prior import Posterior, fit_to_target, load_posterior
from base_dist.meta.schedules import tau_at
from base_dist.meta.task import configure_process, run_task
from base_dist.space.genotypes import Genotype, average_distributions, derive_genotype, genotype_to_dict
from base_dist.utils import make_generator

log = logging.getLogger(__name__)
GENOTYPE_FILE = "genotype.json"
CELLS_FILE = "cells.png"
DERIVE_FILE = "derive.json"


@dataclass
class DeriveResult:
    """A derived genotype, the ``[edges, ops]`` probabilities it came from, and how it was made."""

    genotype: Genotype
    probs: dict[str, list[list[float]]]
    ops: list[str]
    info: dict[str, Any] = field(default_factory=dict)


def derive_from_probs(normal: Tensor, reduce: Tensor, space: SpaceConfig, **info: Any) -> DeriveResult:
    """Top-2 (input, op) genotype of two ``[edges, ops]`` probability tables.

    Example:
        >>> s = SpaceConfig(nodes=2, ops=["none", "skip_connect", "sep_conv_3x3"])
        >>> p = torch.tensor([[0.0, 0.9, 0.1]] * 5)
        >>> derive_from_probs(p, p, s).genotype.normal[:2]
        [('skip_connect', 0), ('skip_connect', 1)]
    """
    g = derive_genotype(normal, reduce, list(space.ops), space.nodes)
    probs = {"normal": normal.detach().float().cpu().tolist(), "reduce": reduce.detach().float().cpu().tolist()}
    return DeriveResult(genotype=g, probs=probs, ops=list(space.ops), info=dict(info))


def derive_from_state(W: dict[str, Tensor], space: SpaceConfig, **info: Any) -> DeriveResult:
    """The most probable genotype of a state dict: ``softmax(W['arch.normal'])``, ``softmax(W['arch.reduce'])``.

    Example:
        >>> s = SpaceConfig(nodes=2, ops=["none", "skip_connect", "sep_conv_3x3"])
        >>> W = {"arch.normal": torch.zeros(5, 3), "arch.reduce": torch.zeros(5, 3)}
        >>> W["arch.normal"][0, 2] = 5.0
        >>> derive_from_state(W, s).genotype.normal[0]
        ('sep_conv_3x3', 0)
    """
    return derive_from_probs(W["arch.normal"].float().softmax(-1), W["arch.reduce"].float().softmax(-1), space,
                             recipe="most-probable", **info)


def task_cfg(cfg: ExperimentConfig, dataset: str, image_size: int) -> ExperimentConfig:
    """``cfg`` whose task distribution is ``n_way`` tasks of ``dataset`` at ``image_size`` (all its classes).

    Example:
        >>> from base_dist.config import load_config
        >>> c = task_cfg(load_config("jobs/configs/tiny.yaml"), "digits", 16)
        >>> c.data.sources[0].name, c.data.holdout_classes
        ('digits', 0)
    """
    data = cfg.data.model_dump()
    data.update(sources=[SourceSpec(name=dataset, image_sizes=[image_size]).model_dump()], holdout_classes=0)
    out = cfg.model_dump(mode="json")
    out["data"] = DataConfig.model_validate(data).model_dump(mode="json")
    return config_from_dict(out, origin="derive task config")


def task_average(cfg: ExperimentConfig, post: Posterior, dataset: str, image_size: int, tasks: int,
                 samples: int = 8, device: str | torch.device = "cpu") -> DeriveResult:
    """Adapt with the inner loop to ``tasks`` sampled tasks of ``dataset`` and average the sampled architectures.

    Each task starts from ``post.W`` (T = ``meta.inner_steps`` steps, as in meta-training); after it,
    ``samples`` Gumbel-softmax draws of z are averaged; the per-task averages are averaged again.

    Example:
        >>> # res = task_average(cfg, load_posterior("runs/meta-train-x"), "digits", 16, tasks=8)
    """
    if tasks < 1:
        raise UserError(f"task-average derivation over {tasks} tasks: needs at least 1", option="tasks")
    configure_process(cfg)
    tcfg = task_cfg(cfg, dataset, image_size)
    task_dist = TaskDistribution(tcfg.data, split="meta-train")
    first = task_dist.sample(derive_seed_for(tcfg, 0))
    fitted = fit_to_target(post.W, post.space, tcfg, image_size=image_size, in_channels=first.channels,
                           n_classes=tcfg.data.n_way)
    space, model, W, notes = fitted.space, fitted.model, fitted.W, fitted.notes
    tcfg = tcfg.model_copy(update={"space": space})
    tau = tau_at(space.arch, post.rounds)
    normals, reduces, accs = [], [], []
    for k in range(tasks):
        task = first if k == 0 else task_dist.sample(derive_seed_for(tcfg, k))
        res = run_task(model, W, task, tcfg, post.rounds, k, device, tasks=task_dist)
        accs.append(float(res.metrics["val_acc"]))
        gen = make_generator(tcfg.seed, "derive", "arch", k)
        with torch.no_grad():
            draws = [model.sample_arch(gen, tau, mode="gumbel") for _ in range(samples)]
        normals.append(average_distributions([d[0].weights for d in draws]))
        reduces.append(average_distributions([d[1].weights for d in draws]))
    return derive_from_probs(average_distributions(normals), average_distributions(reduces), space,
                             recipe=f"task-average over {tasks} tasks x {samples} samples", dataset=dataset,
                             image_size=image_size, tasks=tasks, task_val_acc=accs, notes=notes)


def derive_seed_for(cfg: ExperimentConfig, k: int) -> int:
    """Task seed of the k-th derivation task (disjoint from meta-training's task seeds).

    Example:
        >>> from base_dist.config import load_config
        >>> derive_seed_for(load_config(None), 0) != derive_seed_for(load_config(None), 1)
        True
    """
    from base_dist.utils import derive_seed

    return derive_seed(cfg.seed, "derive-task", k)


def write_derive_outputs(result: DeriveResult, run_dir: str | Path, title: str | None = None) -> dict[str, Path]:
    """Write ``genotype.json``, ``cells.png`` (+ one diagram per cell type) and ``derive.json``; returns their paths.

    Example:
        >>> # paths = write_derive_outputs(res, "runs/derive-x"); paths["genotype"].name
        >>> # 'genotype.json'
    """
    from base_dist.space.diagram import draw_cells

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    out = {"genotype": run_dir / GENOTYPE_FILE, "info": run_dir / DERIVE_FILE}
    out["genotype"].write_text(json.dumps(genotype_to_dict(result.genotype), indent=1) + "\n")
    drawn = draw_cells(result.genotype, run_dir / CELLS_FILE, title=title)
    out.update({"cells": drawn["cells"], "cells_normal": drawn["normal"], "cells_reduce": drawn["reduce"]})
    info = {"genotype": genotype_to_dict(result.genotype), "ops": result.ops, "probs": result.probs,
            **{k: v for k, v in result.info.items()}}
    out["info"].write_text(json.dumps(info, indent=1, default=str) + "\n")
    return out


def check_derive_inputs(post: Posterior, dataset: str | None, tasks: int | None) -> None:
    """:class:`UserError` for a combination :func:`derive` cannot serve (checked before anything is written).

    Example:
        >>> # check_derive_inputs(load_posterior("runs/meta-train-x"), None, None)  -> UserError: pass --dataset
    """
    if dataset is not None:
        check_dataset(dataset, option="dataset")
    elif tasks is not None:
        raise UserError("a task-average derivation needs a dataset to sample its tasks from", option="dataset")
    elif post.kind != "adapt":
        raise UserError(f"{post.path} is a {post.kind} checkpoint: name a dataset to adapt it to first "
                        "(or give an adapt run directory)", option="dataset")


def derive(cfg: ExperimentConfig | None, checkpoint: str | Path, *, dataset: str | None = None,
           tasks: int | None = None, samples: int = 8, adapt_dir: Path | None = None) -> DeriveResult:
    """The genotype of an adapted checkpoint, or of a meta-train checkpoint adapted to ``dataset``.

    * adapted run/checkpoint, no ``dataset``: most probable architecture of its posterior;
    * with ``dataset`` and ``tasks=k``: :func:`task_average` over k tasks of ``dataset``;
    * with ``dataset`` only: :func:`base_dist.meta.adapt.adapt` (``cfg.adapt`` budget), then most probable.

    ``cfg`` supplies seeds and budgets (None: the checkpoint's own config). ``adapt_dir`` receives
    the adaptation outputs when given.

    Example:
        >>> # derive(None, "runs/adapt-digits").genotype
        >>> # derive(cfg, "runs/meta-train-x", dataset="digits", tasks=8).info["recipe"]
    """
    post = load_posterior(checkpoint)
    if cfg is None:
        cfg = config_from_dict(post.config, origin=f"config of {post.path}")
    base = {"checkpoint": str(post.path), "checkpoint_kind": post.kind, "meta_rounds": post.rounds}
    check_derive_inputs(post, dataset, tasks)
    if dataset is None:
        return derive_from_state(post.W, post.space, **base)
    cfg = cfg.model_copy(deep=True)
    cfg.adapt.dataset = dataset
    if tasks is not None:
        res = task_average(cfg, post, dataset, cfg.adapt.image_size, tasks, samples)
        res.info.update(base)
        return res
    from base_dist.meta.adapt import adapt

    ad = adapt(cfg, post.path, run_dir=adapt_dir, progress=True)
    normal, reduce = torch.tensor(ad.arch["normal"]), torch.tensor(ad.arch["reduce"])
    return derive_from_probs(normal, reduce, post.space, recipe="most-probable after adaptation", dataset=dataset,
                             adapt_history=ad.history, adapt_seconds=ad.info.get("seconds"), **base)
