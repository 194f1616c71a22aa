"""base-dist: distributed Bayesian Meta Architecture Search (BASE, NeurIPS 2019).

The public API (:mod:`base_dist.api`, imported on first use so ``import base_dist.<layer>`` stays light):

- ``load_config(path, overrides)``: the one pydantic config tree;
- ``create_metanet(space, seed=)``: the Bayesian supernet; ``create_network(genotype, ...)``: a full network;
- ``meta_train(cfg)`` / ``create_trainer(cfg)`` -> ``MetaTrainer``: meta-training, in process or on Ray
  (``dist.workers``), with ``Callback`` hooks;
- ``load_posterior(path)``: a saved prior or adapted posterior; ``adapt(cfg, prior)``; ``derive(cfg, posterior)``;
- ``train_network(cfg, genotype)``; ``profile_genotype`` / ``profile_network``.

Layers, bottom to top (a layer imports only those below it; ``tests/test_layers.py`` holds the ranks):
``errors, config, utils, ray_cluster -> space, data -> track -> meta, train -> distributed -> report, tune
-> api -> cli``.

Example:
    >>> import base_dist
    >>> cfg = base_dist.load_config("jobs/configs/tiny.yaml")
    >>> base_dist.create_metanet(cfg.space, seed=0).genotype().normal_concat
    [2, 3]
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = [
    "Callback", "MetaTrainer", "Posterior", "Profile", "adapt", "create_metanet", "create_network", "create_trainer",
    "derive", "load_config", "load_posterior", "meta_train", "profile_genotype", "profile_network", "train_network",
]


def __getattr__(name: str) -> Any:
    """Resolve an API name from :mod:`base_dist.api` on first use (PEP 562)."""
    if name in __all__:
        from base_dist import api

        return getattr(api, name)
    raise AttributeError(f"module 'base_dist' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
