"""Experiment (b), paper Fig. 3: PCA of adapted posteriors, one colour per (dataset, image size).

From the meta-train ``W``, the inner loop (``meta.inner_steps`` steps, as in meta-training) adapts
to ``tasks`` tasks of every group: each source at each of its image sizes, plus the unseen
dataset. Per adapted task ``samples`` posterior draws are recorded for two parameter groups:
``weights`` (theta = mu + sigma * eps of the cells' Gaussian weights) and ``architecture``
(z = the Gumbel-softmax sample of phi, normal and reduction cells). Each group is projected to 2-D
by PCA (sklearn); separation is the silhouette score of the group labels in that plane.

Example:
    >>> # res = run_posterior_pca(cfg, ckpt, seeds=[0], tasks=4, run_dir=Path("runs/pca"))
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from base_dist.config import ExperimentConfig
from base_dist.meta.prior import Posterior, load_posterior
from base_dist.report.common import with_seed
from base_dist.report.derive import task_cfg
from base_dist.report.figures import plot_scatter_groups
from base_dist.report.tables import fmt_mean_std, markdown_table
from base_dist.utils import derive_seed, make_generator

log = logging.getLogger(__name__)
GROUPS = ("weights", "architecture")


@dataclass
class PcaResult:
    """Per seed: silhouette per parameter group; the table and figure paths."""

    silhouette: dict[str, list[float]]
    explained: dict[str, list[float]]
    table: str
    figures: list[Path]


def task_groups(cfg: ExperimentConfig, unseen: str) -> list[tuple[str, int]]:
    """(dataset, image size) of every group: each source at each size, then the unseen dataset.

    Example:
        >>> from base_dist.config import load_config
        >>> task_groups(load_config("jobs/configs/demo.yaml"), "digits")
        [('fashion-mnist', 16), ('fashion-mnist', 28), ('fashion-mnist', 56), ('digits', 16)]
    """
    out = [(s.name, z) for s in cfg.data.sources for z in s.image_sizes]
    return out + [(unseen, cfg.adapt.image_size)]


def sample_vectors(model: torch.nn.Module, gen: torch.Generator, tau: float) -> dict[str, np.ndarray]:
    """One posterior draw flattened per group: cells' sampled weights, and sampled z (normal + reduce).

    Example:
        >>> # v = sample_vectors(model, make_generator(0), 1.0); v["architecture"].shape
    """
    from base_dist.space.bayes import sigma_from_rho

    with torch.no_grad():
        normal, reduce = model.sample_arch(gen, tau, mode="gumbel")
        arch = torch.cat([normal.weights.reshape(-1), reduce.weights.reshape(-1)])
        mus, rhos = [], []
        for m in model._gaussian:
            mus.append(m.mu.reshape(-1))
            rhos.append(m.rho.reshape(-1))
        mu, rho = torch.cat(mus), torch.cat(rhos)
        eps = torch.randn(mu.shape, generator=gen)
        theta = mu + sigma_from_rho(rho, model.cfg.bayes.sigma_param) * eps
    return {"weights": theta.numpy().astype(np.float32), "architecture": arch.numpy().astype(np.float32)}


def collect(cfg: ExperimentConfig, post: Posterior, groups: list[tuple[str, int]], tasks: int,
            samples: int) -> tuple[dict[str, np.ndarray], list[str]]:
    """Adapt to ``tasks`` tasks per group and stack ``samples`` draws each; returns (matrices, labels).

    Example:
        >>> # X, labels = collect(cfg, load_posterior(ckpt), [("digits", 16)], tasks=2, samples=2)
    """
    from base_dist.data import TaskDistribution
    from base_dist.meta.prior import fit_to_target
    from base_dist.meta.schedules import tau_at
    from base_dist.meta.task import run_task

    vecs: dict[str, list[np.ndarray]] = {g: [] for g in GROUPS}
    labels: list[str] = []
    for name, size in groups:
        tcfg = task_cfg(cfg, name, size)
        task_dist = TaskDistribution(tcfg.data, split="meta-train")
        specs = [task_dist.spec(derive_seed(cfg.seed, "pca", name, size, k)) for k in range(tasks)]
        first = task_dist.build(specs[0])
        fitted = fit_to_target(post.W, post.space, tcfg, image_size=size, in_channels=first.channels,
                               n_classes=tcfg.data.n_way)
        model, W = fitted.model, fitted.W
        tcfg = tcfg.model_copy(update={"space": fitted.space})
        tau = tau_at(fitted.space.arch, post.rounds)
        for k, spec in enumerate(specs):
            run_task(model, W, first if k == 0 else spec, tcfg, post.rounds, k, tasks=task_dist)
            gen = make_generator(cfg.seed, "pca-sample", name, size, k)
            for _ in range(samples):
                for g, v in sample_vectors(model, gen, tau).items():
                    vecs[g].append(v)
                labels.append(f"{name} {size}px")
        log.info("posterior PCA: %s at %d px: %d tasks adapted", name, size, tasks)
    return {g: np.stack(v) for g, v in vecs.items()}, labels


def project(X: np.ndarray, labels: list[str]) -> tuple[np.ndarray, float, float]:
    """PCA to 2-D (sklearn), the explained variance ratio of the 2 PCs, and the silhouette of the labels.

    Example:
        >>> X = np.r_[np.zeros((3, 4)), np.ones((3, 4))] + np.random.default_rng(0).normal(0, .01, (6, 4))
        >>> xy, ev, sil = project(X, ["a"] * 3 + ["b"] * 3)
        >>> xy.shape, sil > 0.9
        ((6, 2), True)
    """
    from sklearn.decomposition import PCA
    from sklearn.metrics import silhouette_score

    pca = PCA(n_components=2, random_state=0)
    xy = pca.fit_transform(X.astype(np.float64))
    sil = float(silhouette_score(xy, labels)) if len(set(labels)) > 1 else float("nan")
    return xy, float(pca.explained_variance_ratio_.sum()), sil


def run_posterior_pca(cfg: ExperimentConfig, checkpoint: Path, *, seeds: list[int], tasks: int, samples: int,
                      unseen: str, run_dir: Path) -> PcaResult:
    """Collect, project and plot per seed; write ``posterior_pca_seed*.png``, ``table.md``, ``posterior_pca.json``.

    Example:
        >>> # run_posterior_pca(cfg, ckpt, seeds=[0], tasks=2, samples=2, unseen="digits", run_dir=Path("/tmp/p"))
    """
    post = load_posterior(checkpoint)
    run_dir.mkdir(parents=True, exist_ok=True)
    sil: dict[str, list[float]] = {g: [] for g in GROUPS}
    expl: dict[str, list[float]] = {g: [] for g in GROUPS}
    figures = []
    for seed in seeds:
        c = with_seed(cfg, seed)
        X, labels = collect(c, post, task_groups(c, unseen), tasks, samples)
        panels = {}
        for g in GROUPS:
            xy, ev, s = project(X[g], labels)
            sil[g].append(s)
            expl[g].append(ev)
            panels[f"{g} (PCA, {100 * ev:.0f}% var.)"] = (xy, labels)
        figures.append(plot_scatter_groups(panels, run_dir / f"posterior_pca_seed{seed}.png",
                                           f"adapted posteriors, seed {seed}: {tasks} tasks x {samples} draws per group"))
    table = pca_table(sil, expl, tasks, samples)
    (run_dir / "table.md").write_text(table)
    (run_dir / "posterior_pca.json").write_text(json.dumps({"silhouette": sil, "explained": expl, "seeds": seeds}))
    return PcaResult(silhouette=sil, explained=expl, table=table, figures=figures)


def pca_table(sil: dict[str, list[float]], expl: dict[str, list[float]], tasks: int, samples: int) -> str:
    """Markdown: per parameter group, silhouette of the dataset clusters and variance explained by 2 PCs.

    Example:
        >>> "weights" in pca_table({"weights": [0.5]}, {"weights": [0.9]}, 2, 2)
        True
    """
    rows = [[g, len(sil[g]), tasks, samples, fmt_mean_std(sil[g], 1, 3), fmt_mean_std(expl[g], 100)] for g in sil]
    return markdown_table(["parameter group", "seeds", "tasks/group", "draws/task", "silhouette (2 PCs)",
                           "variance in 2 PCs (%)"], rows)
