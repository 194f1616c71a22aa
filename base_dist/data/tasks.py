"""Task distributions: N-way tasks (and K-shot episodes) over class-indexed sources at several sizes.

A :class:`TaskSpec` is what a driver sends (source, image size, classes, seed — a few bytes); a
worker turns it into a :class:`Task` with :meth:`TaskDistribution.build`, loading the source once per
process. The same spec always builds the same tensors, bit for bit.

Example:
    >>> from base_dist.config import DataConfig, SourceSpec
    >>> dist = TaskDistribution(DataConfig(sources=[SourceSpec(name="digits", image_sizes=[16])], n_way=3,
    ...                                    train_per_class=4, val_per_class=2))
    >>> task = dist.sample(7)
    >>> task.x_train.shape, task.y_train.unique().tolist(), task.x_val.shape
    (torch.Size([12, 1, 16, 16]), [0, 1, 2], torch.Size([6, 1, 16, 16]))
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import torch

from base_dist.config import DataConfig, SourceSpec
from base_dist.data.registry import create_source, source_meta
from base_dist.data.transforms import MIN_IMAGE_SIZE
from base_dist.errors import UserError
from base_dist.utils import make_generator

# "val" exists only for sources with a fixed class split that has one (glyphs, Mini-ImageNet, Omniglot).
SPLITS = ("meta-train", "val", "holdout")


@dataclass(frozen=True)
class TaskSpec:
    """Everything needed to rebuild a task anywhere: small and picklable (no pixels).

    ``classes`` are class indices of the source, in label order (label i is ``classes[i]``).
    """

    source: str
    image_size: int
    classes: tuple[int, ...]
    seed: int
    split: str = "meta-train"
    train_per_class: int = 20
    val_per_class: int = 10

    @property
    def n_way(self) -> int:
        return len(self.classes)


@dataclass
class Task:
    """One N-way task: float32 normalised ``[n, C, S, S]`` images with labels ``0..N-1``.

    For few-shot work the train part is the support set and the val part the query set
    (``x_support`` / ``x_query`` name the same tensors).
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    classes: tuple[int, ...]
    class_names: tuple[str, ...]
    image_size: int
    seed: int
    source: str
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    spec: TaskSpec | None = field(default=None, repr=False)

    @property
    def n_way(self) -> int:
        return len(self.classes)

    @property
    def channels(self) -> int:
        return int(self.x_train.shape[1])

    # Few-shot names for the same tensors.
    @property
    def x_support(self) -> torch.Tensor:
        return self.x_train

    @property
    def y_support(self) -> torch.Tensor:
        return self.y_train

    @property
    def x_query(self) -> torch.Tensor:
        return self.x_val

    @property
    def y_query(self) -> torch.Tensor:
        return self.y_val

    def to(self, device: torch.device | str) -> Task:
        """The same task with its tensors on ``device``."""
        moved = {k: getattr(self, k).to(device) for k in ("x_train", "y_train", "x_val", "y_val")}
        return Task(**moved, classes=self.classes, class_names=self.class_names, image_size=self.image_size,
                    seed=self.seed, source=self.source, mean=self.mean, std=self.std, spec=self.spec)


Episode = Task  # an N-way K-shot episode is a Task whose train/val parts are support/query


def source_root(cfg: DataConfig, spec: SourceSpec) -> Path | None:
    """A source's root: its own ``root``, else ``data.root`` (else discovery decides)."""
    return spec.root if spec.root is not None else cfg.root


class TaskDistribution:
    """N-way tasks over ``cfg.sources``: the meta-train, val or held-out class pool.

    ``val`` (for model selection) needs every source to have a fixed class split with val classes.

    Example:
        >>> from base_dist.config import DataConfig
        >>> dist = TaskDistribution(DataConfig(n_way=3, holdout_classes=3), split="holdout")
        >>> len(dist.class_pool("fashion-mnist"))
        3
    """

    def __init__(self, cfg: DataConfig, split: str = "meta-train") -> None:
        if split not in SPLITS:
            raise UserError(f"task split {split!r}: expected one of {', '.join(SPLITS)}")
        self.cfg, self.split = cfg, split
        self._specs: dict[str, SourceSpec] = {}
        for i, s in enumerate(cfg.sources):
            if s.name in self._specs:
                raise UserError(f"data.sources[{i}]: source {s.name!r} is listed twice (merge its image_sizes)")
            small = [z for z in s.image_sizes if z < MIN_IMAGE_SIZE]
            if small:
                raise UserError(f"data.sources[{i}].image_sizes: {small[0]} is below the minimum image size {MIN_IMAGE_SIZE}")
            self._specs[s.name] = s
        self._pools = {s.name: self._class_pool(s) for s in cfg.sources}

    # ------------------------------------------------------------------ class pools
    def _class_pool(self, s: SourceSpec) -> tuple[int, ...]:
        """This split's classes of one source: a fixed split if the source has one, else seeded by split_seed."""
        meta = source_meta(s.name, source_root(self.cfg, s))
        n, h = len(meta.class_names), self.cfg.holdout_classes
        if meta.class_splits is not None:
            if self.split not in meta.class_splits:
                raise UserError(f"task split {self.split!r}: source {s.name!r} has no {self.split} class split "
                                f"(its splits: {', '.join(meta.class_splits)})")
            pool = meta.class_splits[self.split]
            why = f"its fixed {self.split} class split"
        else:
            if self.split == "val":
                raise UserError(f"task split 'val': source {s.name!r} has no fixed class split, so no val classes "
                                "(use meta-train or holdout)")
            if h >= n:
                raise UserError(f"data.holdout_classes={h} leaves no meta-train classes in source {s.name!r} ({n} classes)")
            perm = torch.randperm(n, generator=make_generator("data.classes", self.cfg.split_seed, s.name)).tolist()
            pool = tuple(sorted(perm[:h] if self.split == "holdout" else perm[h:]))
            why = f"{n} classes, data.holdout_classes={h}"
        if len(pool) < self.cfg.n_way:
            raise UserError(f"data.n_way={self.cfg.n_way}: source {s.name!r} has only {len(pool)} {self.split} "
                            f"classes ({why})")
        return tuple(pool)

    def class_pool(self, source: str) -> tuple[int, ...]:
        """The class indices tasks of this split draw from, for ``source``."""
        if source not in self._pools:
            raise UserError(f"source {source!r} is not in data.sources ({', '.join(self._pools)})")
        return self._pools[source]

    @property
    def pooled_classes(self) -> int:
        """How many classes this split has over all sources: the arity of one classifier over the pool."""
        return sum(len(p) for p in self._pools.values())

    def pool_offset(self, source: str) -> int:
        """Where ``source``'s classes start in the pooled label order (sources in ``data.sources`` order)."""
        self.class_pool(source)  # one clear error for an unknown source
        return sum(len(self._pools[name]) for name in itertools.takewhile(lambda n: n != source, self._pools))

    def pooled_labels(self, source: str, classes: tuple[int, ...], labels: torch.Tensor) -> torch.Tensor:
        """A task's labels (``i`` means ``classes[i]``) as indices into the pooled classes of this split.

        Example:
            >>> from base_dist.config import DataConfig
            >>> dist = TaskDistribution(DataConfig(n_way=3))
            >>> task = dist.sample(7)
            >>> pooled = dist.pooled_labels(task.source, task.classes, task.y_train)
            >>> bool((pooled < dist.pooled_classes).all()), pooled.unique().numel()
            (True, 3)
        """
        pool = self.class_pool(source)
        index = {c: i for i, c in enumerate(pool)}
        missing = [c for c in classes if c not in index]
        if missing:
            raise UserError(f"class {missing[0]} of source {source!r} is not in its {self.split} classes")
        table = torch.tensor([self.pool_offset(source) + index[c] for c in classes], dtype=torch.long)
        return table[labels.long()]

    # ------------------------------------------------------------------ sampling
    def spec(self, task_seed: int, *, n_way: int | None = None, train_per_class: int | None = None,
             val_per_class: int | None = None) -> TaskSpec:
        """Draw a task's source (by weight), image size and classes from ``task_seed``; no pixels.

        Example:
            >>> from base_dist.config import DataConfig
            >>> TaskDistribution(DataConfig()).spec(3) == TaskDistribution(DataConfig()).spec(3)
            True
        """
        n_way = self.cfg.n_way if n_way is None else n_way
        gen = make_generator("data.spec", self.split, int(task_seed))
        sources = self.cfg.sources
        if len(sources) > 1:
            weights = torch.tensor([s.weight for s in sources], dtype=torch.float64)
            s = sources[int(torch.multinomial(weights, 1, generator=gen).item())]
        else:
            s = sources[0]
        size = s.image_sizes[int(torch.randint(len(s.image_sizes), (1,), generator=gen).item())]
        pool = self._pools[s.name]
        if n_way < 2 or n_way > len(pool):
            raise UserError(f"n_way={n_way}: source {s.name!r} has {len(pool)} {self.split} classes (need 2..{len(pool)})")
        picks = torch.randperm(len(pool), generator=gen)[:n_way].tolist()
        return TaskSpec(
            source=s.name, image_size=int(size), classes=tuple(pool[j] for j in picks), seed=int(task_seed),
            split=self.split,
            train_per_class=(s.train_per_class or self.cfg.train_per_class) if train_per_class is None else train_per_class,
            val_per_class=self.cfg.val_per_class if val_per_class is None else val_per_class,
        )

    def build(self, spec: TaskSpec) -> Task:
        """The task of ``spec``: images drawn per class from the source, resized and normalised.

        Example:
            >>> from base_dist.config import DataConfig
            >>> d = TaskDistribution(DataConfig())
            >>> torch.equal(d.build(d.spec(1)).x_train, d.build(d.spec(1)).x_train)
            True
        """
        if spec.source not in self._specs:
            raise UserError(f"task spec names source {spec.source!r}, which is not in data.sources")
        if spec.image_size < MIN_IMAGE_SIZE:
            raise UserError(f"task image_size {spec.image_size} is below the minimum image size {MIN_IMAGE_SIZE}")
        if spec.train_per_class < 1 or spec.val_per_class < 0:
            raise UserError("task train_per_class must be >= 1 and val_per_class >= 0")
        src = create_source(spec.source, source_root(self.cfg, self._specs[spec.source]))
        per_class = src.by_class()
        if any(not 0 <= c < src.num_classes for c in spec.classes):
            raise UserError(f"task spec classes {list(spec.classes)} out of range for source {spec.source!r}")
        # Everything random below comes from the spec alone, so any process rebuilds the same task.
        gen = make_generator("data.build", spec.source, spec.seed, spec.image_size, *spec.classes)
        k_tr, k_va = spec.train_per_class, spec.val_per_class
        need = k_tr + k_va
        tr, va = [], []
        for c in spec.classes:
            pool = per_class[c]
            if pool.numel() < need:
                raise UserError(f"data.train_per_class + data.val_per_class = {need}, but class "
                                f"{src.class_names[c]!r} of source {spec.source!r} has only {pool.numel()} images")
            chosen = pool[torch.randperm(pool.numel(), generator=gen)[:need]]
            tr.append(chosen[:k_tr])
            va.append(chosen[k_tr:])
        n = spec.n_way
        # Shuffle inside each part so that any prefix/minibatch mixes classes.
        p_tr, p_va = torch.randperm(n * k_tr, generator=gen), torch.randperm(n * k_va, generator=gen)
        y_tr = torch.arange(n).repeat_interleave(k_tr)[p_tr]
        y_va = torch.arange(n).repeat_interleave(k_va)[p_va]
        idx = torch.cat([torch.cat(tr)[p_tr], torch.cat(va)[p_va]])
        x = src.pixels(idx, spec.image_size)  # one batched gather + resize + normalise for both parts
        return Task(
            x_train=x[: n * k_tr], y_train=y_tr, x_val=x[n * k_tr :], y_val=y_va, classes=spec.classes,
            class_names=tuple(src.class_names[c] for c in spec.classes), image_size=spec.image_size,
            seed=spec.seed, source=spec.source, mean=src.mean, std=src.std, spec=spec,
        )

    def sample(self, task_seed: int) -> Task:
        """``build(spec(task_seed))``.

        Example:
            >>> from base_dist.config import DataConfig
            >>> TaskDistribution(DataConfig(n_way=4)).sample(0).n_way
            4
        """
        return self.build(self.spec(task_seed))

    def sample_episode(self, task_seed: int, n_way: int | None = None, k_shot: int = 1, k_query: int = 15) -> Episode:
        """An N-way K-shot episode: ``x_support``/``y_support`` (k_shot per class) and ``x_query``/``y_query``.

        Example:
            >>> from base_dist.config import DataConfig
            >>> ep = TaskDistribution(DataConfig()).sample_episode(0, n_way=5, k_shot=1, k_query=3)
            >>> ep.x_support.shape[0], ep.x_query.shape[0]
            (5, 15)
        """
        return self.build(self.spec(task_seed, n_way=n_way, train_per_class=k_shot, val_per_class=k_query))
