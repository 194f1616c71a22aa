"""The data layer: class-indexed sources (a registry), task distributions, augmentation.

Example:
    >>> from base_dist.config import DataConfig
    >>> task = TaskDistribution(DataConfig(n_way=5)).sample(0)
    >>> task.x_train.shape[1:], task.n_way
    (torch.Size([1, 16, 16]), 5)
"""

from base_dist.data.augment import Augment, create_augment
from base_dist.data.datasets import load_dataset
from base_dist.data.registry import (
    SourceLoader,
    SourceMeta,
    check_dataset,
    clear_cache,
    create_source,
    get_loader,
    list_sources,
    locate_source,
    register_source,
    source_meta,
)
from base_dist.data.source import Source
from base_dist.data.tasks import Episode, Task, TaskDistribution, TaskSpec

__all__ = [
    "Augment", "Episode", "Source", "SourceLoader", "SourceMeta", "Task", "TaskDistribution", "TaskSpec",
    "check_dataset", "clear_cache", "create_augment", "create_source", "get_loader", "list_sources", "load_dataset",
    "locate_source", "register_source", "source_meta",
]
