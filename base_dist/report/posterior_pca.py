"""Experiment (b), paper Fig. 3: PCA of adapted posteriors, one colour per (dataset, image size).

From the meta-train ``W``, the inner loop (``meta.inner_steps`` steps, as in meta-training) adapts
to ``tasks`` tasks of every group: each source at each of its image sizes, plus the unseen
dataset. Per adapted task ``samples`` posterior draws are recorded for two parameter groups:
``weights`` (theta = mu + sigma * eps of the cells' Gaussian weights) and ``architecture``
(z = the Gumbel-softmax sample of phi, normal and reduction cells), as the paper plots them. Each
task's posterior mean is recorded once as well: ``weights (mean)`` (mu) and ``architecture (mean)``
(softmax(phi) per edge), which removes the draw noise (at tau 1 the Gumbel noise of z is far larger
than the differences between tasks' phi). The ``(unit delta)`` groups are the same means as the
direction each task moved from the prior, ``(mean - prior) / ||mean - prior||``: a few tasks that move
far no longer take the first PC by their distance alone. ``head <size>px (mean)`` is the featurization
head a task at that image size trains (its plain weights), one group per head: the heads are the layers
that meet each dataset's pixels, and tasks of other sizes never touch them, so a head group holds only
the tasks of its size. Each group is projected to 2-D by PCA (sklearn);
separation is the silhouette score in that plane of the (dataset, image size) labels, and of the
dataset labels alone (the image sizes of one dataset share its cells).

Example:
    >>> # res = run_posterior_pca(cfg, ckpt, seeds=[0], tasks=4, run_dir=Path("runs/pca"))
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from base_dist.config import ExperimentConfig
from base_dist.errors import UserError
from base_dist.meta.prior import Posterior, load_posterior
from base_dist.report.common import with_seed
from base_dist.report.derive import task_cfg
from base_dist.report.figures import plot_scatter_groups
from base_dist.report.tables import fmt_mean_std, markdown_table
from base_dist.utils import atomic_write, derive_seed, make_generator

log = logging.getLogger(__name__)
DRAWN = ("weights", "architecture")
MEANS = ("weights (mean)", "architecture (mean)")


def unit_group(mean_group: str) -> str:
    """The name of a mean group's unit-delta group.

    Example:
        >>> unit_group("head 16px (mean)")
        'head 16px (mean, unit delta)'
    """
    return mean_group.replace("(mean)", "(mean, unit delta)")


def head_group(image_size: int) -> str:
    """The mean group of the head for ``image_size``.

    Example:
        >>> head_group(28)
        'head 28px (mean)'
    """
    return f"head {image_size}px (mean)"


@dataclass
class PcaResult:
    """Per group, one value per seed: silhouette of the (dataset, size) labels, of the dataset labels
    and the variance the 2 PCs explain; the silhouette of the dataset labels when only the first ``n``
    tasks of every group are projected (``by_tasks[group][n]``, one value per seed); the tables and
    figure paths."""

    silhouette: dict[str, list[float]]
    silhouette_dataset: dict[str, list[float]]
    explained: dict[str, list[float]]
    table: str
    figures: list[Path]
    by_tasks: dict[str, dict[int, list[float]]] = field(default_factory=dict)
    by_tasks_table: str = ""


@dataclass
class Points:
    """One parameter group's vectors (rows) with their (dataset, image size) labels and task index
    within their group (tasks are drawn in the same order whatever the number of tasks)."""

    vectors: list[np.ndarray]
    labels: list[tuple[str, int]]
    tasks: list[int] = field(default_factory=list)


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
        mu = _flat(m.mu for m in model._gaussian)
        rho = _flat(m.rho for m in model._gaussian)
        eps = torch.randn(mu.shape, generator=gen)
        theta = mu + sigma_from_rho(rho, model.cfg.bayes.sigma_param) * eps
    return {"weights": theta.numpy().astype(np.float32), "architecture": arch.numpy().astype(np.float32)}


def mean_vectors(model: torch.nn.Module, in_channels: int, image_size: int) -> dict[str, np.ndarray]:
    """The posterior's mean per group: the cells' mu, softmax(phi) per edge (normal + reduce), and the
    weights of the head for ``in_channels`` x ``image_size`` inputs.

    Example:
        >>> # v = mean_vectors(model, 1, 16); sorted(v)
        >>> # ['architecture (mean)', 'head 16px (mean)', 'weights (mean)']
    """
    from base_dist.space.metanet import head_key

    with torch.no_grad():
        mu = _flat(m.mu for m in model._gaussian)
        probs = _flat(torch.softmax(phi, dim=-1) for phi in (model.arch.normal, model.arch.reduce))
        head = _flat(model.heads[head_key(in_channels, image_size)].parameters())
    return {"weights (mean)": mu.numpy().astype(np.float32), "architecture (mean)": probs.numpy().astype(np.float32),
            head_group(image_size): head.numpy().astype(np.float32)}


def unit_deltas(means: dict[str, np.ndarray], prior: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each mean group's direction from the prior, of unit length (zero where the task did not move).

    Example:
        >>> d = unit_deltas({"weights (mean)": np.array([3., 4.])}, {"weights (mean)": np.zeros(2)})
        >>> d["weights (mean, unit delta)"].tolist()
        [0.6000000238418579, 0.800000011920929]
    """
    out = {}
    for g, v in means.items():
        d = v.astype(np.float64) - prior[g]
        n = np.linalg.norm(d)
        out[unit_group(g)] = (d / n if n > 0 else d).astype(np.float32)
    return out


def group_order(groups: list[str]) -> list[str]:
    """Draws, means and unit deltas of the cells and phi, then each head (mean, unit delta) by size.

    Example:
        >>> group_order(["head 28px (mean)", "weights", "head 16px (mean, unit delta)", "head 16px (mean)"])
        ['weights', 'head 16px (mean)', 'head 16px (mean, unit delta)', 'head 28px (mean)']
    """
    body = [g for g in (*DRAWN, *MEANS, *map(unit_group, MEANS)) if g in groups]
    heads = [g for g in groups if g not in body]
    return body + sorted(heads, key=lambda g: (int(g.split()[1].removesuffix("px")), "unit" in g))


def _flat(tensors) -> torch.Tensor:
    return torch.cat([t.detach().reshape(-1) for t in tensors])


def collect(cfg: ExperimentConfig, post: Posterior, groups: list[tuple[str, int]], tasks: int,
            samples: int) -> dict[str, Points]:
    """Adapt to ``tasks`` tasks per group: ``samples`` draws each, and each task's posterior mean.

    Example:
        >>> # pts = collect(cfg, load_posterior(ckpt), [("digits", 16)], tasks=2, samples=2)
        >>> # len(pts["weights"].labels), len(pts["weights (mean)"].labels)
        >>> # (4, 2)
    """
    from base_dist.data import TaskDistribution
    from base_dist.meta.prior import fit_to_target
    from base_dist.meta.schedules import tau_at
    from base_dist.meta.task import run_task

    points: dict[str, Points] = {}

    def add(vectors: dict[str, np.ndarray], label: tuple[str, int], task: int) -> None:
        for g, v in vectors.items():
            pts = points.setdefault(g, Points([], []))
            pts.vectors.append(v)
            pts.labels.append(label)
            pts.tasks.append(task)

    for name, size in groups:
        tcfg = task_cfg(cfg, name, size)
        task_dist = TaskDistribution(tcfg.data, split="meta-train")
        specs = [task_dist.spec(derive_seed(cfg.seed, "pca", name, size, k)) for k in range(tasks)]
        first = task_dist.build(specs[0])
        fitted = fit_to_target(post.W, post.space, tcfg, image_size=size, in_channels=first.channels,
                               n_classes=tcfg.data.n_way)
        model, W = fitted.model, fitted.W
        prior = mean_vectors(model, first.channels, size)  # the model holds W: the prior's means
        tcfg = tcfg.model_copy(update={"space": fitted.space})
        tau = tau_at(fitted.space.arch, post.rounds)
        for k, spec in enumerate(specs):
            run_task(model, W, first if k == 0 else spec, tcfg, post.rounds, k, tasks=task_dist)
            gen = make_generator(cfg.seed, "pca-sample", name, size, k)
            for _ in range(samples):
                add(sample_vectors(model, gen, tau), (name, size), k)
            means = mean_vectors(model, first.channels, size)
            add(means | unit_deltas(means, prior), (name, size), k)
        log.info("posterior PCA: %s at %d px: %d tasks adapted", name, size, tasks)
    return points


def vectors_key(cfg: ExperimentConfig, checkpoint: Path, groups: list[tuple[str, int]], tasks: int,
                samples: int) -> str:
    """What a seed's saved vectors depend on: the config (with its seed), the prior, the groups, the counts.

    Example:
        >>> from base_dist.config import load_config
        >>> c = load_config("jobs/configs/tiny.yaml")
        >>> vectors_key(c, Path("p"), [("digits", 16)], 2, 1) == vectors_key(c, Path("p"), [("digits", 16)], 2, 2)
        False
    """
    from base_dist.config import config_to_dict

    return json.dumps({"config": config_to_dict(cfg), "checkpoint": str(checkpoint), "groups": groups,
                       "tasks": tasks, "samples": samples}, sort_keys=True)


def save_points(points: dict[str, Points], key: str, path: Path) -> None:
    """Write one seed's vectors, labels and task indices (npz, atomically) under ``key``."""
    arrays: dict[str, np.ndarray] = {"key": np.array(key), "groups": np.array(list(points))}
    for i, pts in enumerate(points.values()):
        arrays[f"vectors{i}"] = np.stack(pts.vectors)
        arrays[f"names{i}"] = np.array([name for name, _ in pts.labels])
        arrays[f"sizes{i}"] = np.array([size for _, size in pts.labels])
        arrays[f"tasks{i}"] = np.array(pts.tasks)
    with atomic_write(path, ".npz") as tmp:  # a killed run must not leave a half-written cache
        np.savez(tmp, **arrays)


def load_points(path: Path, key: str) -> dict[str, Points] | None:
    """The vectors ``save_points`` wrote under ``key``; None when there are none. Vectors of another
    setting are refused, so a rerun into the same run directory never mixes or overwrites them."""
    if not path.is_file():
        return None
    with np.load(path) as z:
        if str(z["key"]) != key:
            raise UserError(f"{path} holds posterior vectors of another config, prior or task count: "
                            "use a new --run-dir")
        return {str(g): Points(list(z[f"vectors{i}"]),
                               list(zip(z[f"names{i}"].tolist(), z[f"sizes{i}"].tolist(), strict=True)),
                               z[f"tasks{i}"].tolist()) for i, g in enumerate(z["groups"])}


def seed_points(cfg: ExperimentConfig, checkpoint: Path, post: Posterior, unseen: str, tasks: int, samples: int,
                run_dir: Path) -> dict[str, Points]:
    """One seed's points: read from ``vectors_seed<k>.npz`` in ``run_dir`` when a run with the same
    setting saved them (parallel seed lanes share one run directory, and a summary re-adapts nothing),
    else collected and saved there."""
    groups = task_groups(cfg, unseen)
    path = run_dir / f"vectors_seed{cfg.seed}.npz"
    key = vectors_key(cfg, checkpoint, groups, tasks, samples)
    points = load_points(path, key)
    if points is None:
        points = collect(cfg, post, groups, tasks, samples)
        save_points(points, key, path)
    else:
        log.info("posterior PCA: seed %d read from %s", cfg.seed, path)
    return points


def task_counts(tasks: int) -> list[int]:
    """The nested task counts scored: 2, 4, 8, ... below ``tasks``, and ``tasks``.

    Example:
        >>> task_counts(16), task_counts(6)
        ([2, 4, 8, 16], [2, 4, 6])
    """
    out, n = [], 2
    while n < tasks:
        out.append(n)
        n *= 2
    return [*out, tasks] if tasks >= 2 else out


def first_tasks(pts: Points, n: int) -> Points:
    """The rows of the first ``n`` tasks of every group.

    Example:
        >>> p = Points([np.zeros(1)] * 4, [("a", 1)] * 4, [0, 1, 2, 0])
        >>> first_tasks(p, 2).tasks
        [0, 1, 0]
    """
    keep = [i for i, t in enumerate(pts.tasks) if t < n]
    return Points([pts.vectors[i] for i in keep], [pts.labels[i] for i in keep], [pts.tasks[i] for i in keep])


def project(X: np.ndarray) -> tuple[np.ndarray, float]:
    """PCA to 2-D (sklearn) and the explained variance ratio of the 2 PCs.

    Example:
        >>> xy, ev = project(np.random.default_rng(0).normal(size=(6, 4)))
        >>> xy.shape, 0 < ev <= 1
        ((6, 2), True)
    """
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2, random_state=0)
    xy = pca.fit_transform(X.astype(np.float64))
    return xy, float(pca.explained_variance_ratio_.sum())


def silhouette(xy: np.ndarray, labels: list) -> float:
    """Silhouette score of ``labels`` in the plane (nan with one label).

    Example:
        >>> xy = np.r_[np.zeros((3, 2)), np.ones((3, 2))] + np.random.default_rng(0).normal(0, .01, (6, 2))
        >>> silhouette(xy, ["a"] * 3 + ["b"] * 3) > 0.9
        True
    """
    from sklearn.metrics import silhouette_score

    names = [str(lb) for lb in labels]
    return float(silhouette_score(xy, names)) if len(set(names)) > 1 else float("nan")


def run_posterior_pca(cfg: ExperimentConfig, checkpoint: Path, *, seeds: list[int], tasks: int, samples: int,
                      unseen: str, run_dir: Path) -> PcaResult:
    """Collect, project and plot per seed; write ``posterior_pca_seed*.png``, ``table.md``, ``posterior_pca.json``.

    Example:
        >>> # run_posterior_pca(cfg, ckpt, seeds=[0], tasks=2, samples=2, unseen="digits", run_dir=Path("/tmp/p"))
    """
    post = load_posterior(checkpoint)
    run_dir.mkdir(parents=True, exist_ok=True)
    res = PcaResult({}, {}, {}, "", [])
    for seed in seeds:
        c = with_seed(cfg, seed)
        points = seed_points(c, checkpoint, post, unseen, tasks, samples, run_dir)
        panels = {}
        for g in group_order(list(points)):
            pts = points[g]
            for n in task_counts(tasks):
                sub = first_tasks(pts, n)
                score = silhouette(project(np.stack(sub.vectors))[0], [name for name, _ in sub.labels])
                res.by_tasks.setdefault(g, {}).setdefault(n, []).append(score)
            xy, ev = project(np.stack(pts.vectors))
            res.silhouette.setdefault(g, []).append(silhouette(xy, pts.labels))
            res.silhouette_dataset.setdefault(g, []).append(silhouette(xy, [name for name, _ in pts.labels]))
            res.explained.setdefault(g, []).append(ev)
            panels[f"{g} (PCA, {100 * ev:.0f}% var.)"] = (xy, [f"{name} {size}px" for name, size in pts.labels])
        res.figures.append(plot_scatter_groups(
            panels, run_dir / f"posterior_pca_seed{seed}.png",
            f"adapted posteriors, seed {seed}: {tasks} tasks per group, {samples} draws each (means: one per task)",
            cols=len(DRAWN)))
    res.table = pca_table(res, tasks, samples)
    res.by_tasks_table = by_tasks_table(res)
    (run_dir / "table.md").write_text(f"{res.table}\n\n{res.by_tasks_table}")
    (run_dir / "posterior_pca.json").write_text(json.dumps({
        "silhouette": res.silhouette, "silhouette_dataset": res.silhouette_dataset, "explained": res.explained,
        "silhouette_dataset_by_tasks": res.by_tasks, "seeds": seeds}))
    return res


def pca_table(res: PcaResult, tasks: int, samples: int) -> str:
    """Markdown: per parameter group, the silhouettes of the clusters and the variance the 2 PCs explain.

    Example:
        >>> r = PcaResult({"weights": [0.5]}, {"weights": [0.6]}, {"weights": [0.9]}, "", [])
        >>> "weights" in pca_table(r, 2, 2)
        True
    """
    rows = [[g, len(res.silhouette[g]), tasks, samples if g in DRAWN else "1 (mean)",
             fmt_mean_std(res.silhouette[g], 1, 3), fmt_mean_std(res.silhouette_dataset[g], 1, 3),
             fmt_mean_std(res.explained[g], 100)] for g in res.silhouette]
    return markdown_table(["parameter group", "seeds", "tasks/group", "points/task",
                           "silhouette, (dataset, size) labels", "silhouette, dataset labels",
                           "variance in 2 PCs (%)"], rows)


def by_tasks_table(res: PcaResult) -> str:
    """Markdown: per parameter group, the dataset silhouette when the first n tasks of every group are
    projected, one column per n (PCA is refitted on each subset).

    Example:
        >>> r = PcaResult({}, {}, {}, "", [], by_tasks={"weights (mean)": {2: [0.1], 4: [0.3]}})
        >>> print(by_tasks_table(r).splitlines()[0])
        | parameter group | 2 tasks/group | 4 tasks/group |
    """
    counts = sorted({n for per_n in res.by_tasks.values() for n in per_n})
    rows = [[g, *(fmt_mean_std(per_n.get(n, []), 1, 3) for n in counts)] for g, per_n in res.by_tasks.items()]
    return markdown_table(["parameter group", *(f"{n} tasks/group" for n in counts)], rows)
