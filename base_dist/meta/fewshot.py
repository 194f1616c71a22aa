"""Few-shot architecture search (paper section 6.3): BASE meta-training whose tasks are N-way K-shot episodes.

Nothing here is a second loop. The search is :class:`base_dist.meta.trainer.MetaTrainer` on a config
mapped from ``cfg.fewshot``: each task is an episode (the support set is the task's train part, the
query set its val part), the :class:`~base_dist.meta.strategy.SecondOrder` strategy differentiates
the query loss through the unrolled support steps directly (no finite differences, as the paper
does for few-shot), the inner steps are plain SGD on the whole support set (MAML), and the driver
applies the averaged meta-gradient with outer Adam. Determinism, resume, Ray workers and fault
tolerance are the engine's. The derived genotype is the engine's ``genotype.json``.

Example:
    >>> from base_dist.config import load_config
    >>> cfg = search_config(load_config(None, ["fewshot.k_shot=5", "fewshot.image_size=16"]), arch_mode="softmax")
    >>> cfg.meta.second_order, cfg.data.train_per_class, cfg.meta.batch_size, cfg.space.arch.mode
    (True, 5, 25, 'softmax')
"""

from __future__ import annotations

from base_dist.config import ExperimentConfig, config_from_dict, config_to_dict
from base_dist.data.episodes import episode_data_config, episode_tasks, source_channels

ARCH_MODES = ("gumbel", "softmax")  # Table 4 compares the two


def search_config(cfg: ExperimentConfig, arch_mode: str | None = None) -> ExperimentConfig:
    """The meta-training config of a few-shot search from ``cfg.fewshot`` (``arch_mode`` overrides
    ``space.arch.mode``); ``space.channels/layers/nodes`` and ``meta.rounds`` etc. are ``cfg``'s own."""
    fs = cfg.fewshot
    episode_tasks(cfg, "meta-train")  # refuses sizes the classes cannot serve, before anything is written
    data = config_to_dict(cfg)
    data["data"] = episode_data_config(cfg).model_dump(mode="json")
    stride = 1 if fs.image_size <= 16 else 2  # the supernet's stem: larger images are halved first
    data["space"]["heads"] = [{"image_size": fs.image_size, "in_channels": source_channels(cfg), "stride": stride}]
    data["space"]["n_ways"] = [fs.n_way]
    if arch_mode is not None:
        data["space"]["arch"]["mode"] = arch_mode
    data["meta"].update(second_order=True, inner_steps=fs.inner_steps, inner_lr_weights=fs.inner_lr,
                        inner_momentum=0.0, inner_optimizer="sgd", batch_size=fs.n_way * fs.k_shot,
                        tasks_per_round=fs.meta_batch, outer_optimizer="adam", outer_adam_lr_weights=fs.outer_lr,
                        eval_before_inner=False)
    return config_from_dict(data, origin="few-shot search config")
