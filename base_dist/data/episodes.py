"""Few-shot episodes of a run: the task distribution of ``cfg.fewshot`` and the seed of every episode.

Every episode is rebuilt from its seed alone (see :class:`base_dist.data.TaskDistribution`), so a
resumed run meets exactly the episodes it would have met, and evaluations of different runs with the
same ``fewshot.eval_seed`` use the same test episodes (paired comparisons).

Example:
    >>> from base_dist.config import load_config
    >>> cfg = load_config(None, ["fewshot.image_size=16"])
    >>> ep = episode_tasks(cfg, "meta-train").sample_episode(train_episode_seed(cfg, 0, 0), 5, 1, 15)
    >>> ep.x_support.shape, ep.x_query.shape
    (torch.Size([5, 1, 16, 16]), torch.Size([75, 1, 16, 16]))
"""

from __future__ import annotations

from base_dist.config import DataConfig, ExperimentConfig, SourceSpec
from base_dist.data import Episode, TaskDistribution, create_source, source_meta
from base_dist.errors import UserError
from base_dist.utils import derive_seed


def _cross_domain(cfg: ExperimentConfig, split: str) -> bool:
    """True when ``split``'s episodes come from ``fewshot.eval_source``, a domain never meta-trained on."""
    return cfg.fewshot.eval_source is not None and split == "holdout"


def episode_data_config(cfg: ExperimentConfig, split: str = "meta-train") -> DataConfig:
    """The data config of ``split``'s episodes.

    A source without a fixed class split holds out ``data.holdout_classes``; with
    ``fewshot.eval_source`` the held-out episodes come from that source instead (cross-domain: its
    meta-train classes, i.e. all of them when it has no fixed split), and the training source keeps
    all its classes.

    Example:
        >>> from base_dist.config import load_config
        >>> c = load_config(None, ["fewshot.source=fashion-mnist", "fewshot.eval_source=digits"])
        >>> episode_data_config(c).sources[0].name, episode_data_config(c, "holdout").sources[0].name
        ('fashion-mnist', 'digits')
    """
    fs, d = cfg.fewshot, cfg.data
    name, root = (fs.eval_source, d.root) if _cross_domain(cfg, split) else (fs.source, fs.root)
    holdout = 0 if fs.eval_source is not None else d.holdout_classes
    if fs.eval_source is None and source_meta(name, root if root is not None else d.root).class_splits is None \
            and not holdout:
        raise UserError(f"fewshot.source {name!r} has no fixed class split: set data.holdout_classes to hold "
                        "classes out for testing, or fewshot.eval_source to test on another source")
    return DataConfig(root=d.root, sources=[SourceSpec(name=name, root=root, image_sizes=[fs.image_size])],
                      n_way=fs.n_way, train_per_class=fs.k_shot, val_per_class=fs.k_query,
                      holdout_classes=holdout, split_seed=d.split_seed)


def episode_tasks(cfg: ExperimentConfig, split: str) -> TaskDistribution:
    """The episodes of ``split`` (meta-train, val or holdout); refuses classes too small for K + Q images.

    Example:
        >>> from base_dist.config import load_config
        >>> episode_tasks(load_config(None, ["fewshot.k_query=19", "fewshot.k_shot=5"]), "holdout")
        Traceback (most recent call last):
        ...
        base_dist.errors.UserError: fewshot.k_shot + fewshot.k_query = 24, but holdout classes of source 'glyphs' have as few as 20 images
    """
    fs = cfg.fewshot
    data = episode_data_config(cfg, split)
    spec = data.sources[0]
    tasks = TaskDistribution(data, split="meta-train" if _cross_domain(cfg, split) else split)
    src = create_source(spec.name, spec.root if spec.root is not None else cfg.data.root)
    per_class = src.by_class()
    fewest = min(per_class[c].numel() for c in tasks.class_pool(spec.name))
    if fs.k_shot + fs.k_query > fewest:
        raise UserError(f"fewshot.k_shot + fewshot.k_query = {fs.k_shot + fs.k_query}, but {split} classes of "
                        f"source {spec.name!r} have as few as {fewest} images")
    return tasks


def source_channels(cfg: ExperimentConfig) -> int:
    """Image channels of ``cfg.fewshot.source`` (1 for glyphs and Omniglot).

    Example:
        >>> from base_dist.config import load_config
        >>> source_channels(load_config(None))
        1
    """
    fs = cfg.fewshot
    return create_source(fs.source, fs.root if fs.root is not None else cfg.data.root).channels


def train_episode_seed(cfg: ExperimentConfig, iteration: int, index: int) -> int:
    """Seed of episode ``index`` of meta-batch ``iteration`` (0-based) of this run."""
    return derive_seed(cfg.seed, "fewshot.train", iteration, index)


def eval_episode_seed(cfg: ExperimentConfig, split: str, index: int) -> int:
    """Seed of test episode ``index`` of ``split``: ``fewshot.eval_seed``, not the run's seed."""
    return derive_seed(cfg.fewshot.eval_seed, "fewshot.eval", split, index)


def sample(tasks: TaskDistribution, cfg: ExperimentConfig, seed: int) -> Episode:
    """The N-way K-shot episode of ``seed`` with this run's sizes."""
    fs = cfg.fewshot
    return tasks.sample_episode(seed, n_way=fs.n_way, k_shot=fs.k_shot, k_query=fs.k_query)
