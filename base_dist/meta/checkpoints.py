"""Meta-training checkpoints: what one holds, when a run may resume from one, and how settings may differ.

A checkpoint holds ``W``, the outer optimizer state and the global RNG states as tensors, and the
resolved config, the search-space signature, its kind (``meta-train``, ``adapt``, ``pretrain``) and
the rounds done as metadata (:mod:`base_dist.track.checkpoint` writes it atomically).

Example:
    >>> from base_dist.config import load_config
    >>> cfg = load_config(None)
    >>> space_signature(cfg, {"w": torch.zeros(1)}) == space_signature(cfg, {"w": torch.zeros(1)})
    True
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from base_dist.config import ExperimentConfig, config_from_dict, config_to_dict, flatten_config
from base_dist.errors import UserError
from base_dist.track.checkpoint import CHECKPOINT_SUBDIR, Checkpoint, CheckpointStore
from base_dist.track.rngstate import capture_rng_state, restore_rng_state

log = logging.getLogger(__name__)

# Space settings added after checkpoints existed, with their defaults (see space_signature).
ADDED_SPACE_FIELDS = {("arch", "eval_mode"): "auto", ("bayes", "kl_prior"): "fixed"}

# Settings that may change on resume without changing what the remaining rounds compute.
RESUME_NEUTRAL = ("name", "device", "tracking.", "dist.workers", "dist.address", "dist.num_cpus_per_worker",
                  "dist.num_gpus_per_worker", "dist.max_task_retries", "dist.task_timeout_s",
                  "dist.worker_start_timeout_s", "dist.dashboard_host",
                  "meta.checkpoint_every", "meta.keep_checkpoints", "meta.keep_every", "meta.eval_before_inner",
                  "meta.budget_minutes", "adapt.", "train.")


class NoCheckpointToResume(UserError):
    """A resume was asked for a run directory that holds no checkpoint."""


def space_signature(cfg: ExperimentConfig, W: Mapping[str, Tensor]) -> str:
    """A short hash of the search-space config and of W's names and shapes.

    Two runs can share checkpoints iff their signatures are equal.

    Example:
        >>> from base_dist.config import load_config
        >>> len(space_signature(load_config(None), {"w": torch.zeros(1)}))
        16
    """
    h = hashlib.blake2b(digest_size=8)
    space = cfg.space.model_dump(mode="json")
    for (section, key), default in ADDED_SPACE_FIELDS.items():
        if space[section].get(key) == default:
            del space[section][key]  # hashed only when set: runs from before the field was added still resume
    h.update(json.dumps(space, sort_keys=True).encode())
    for k, v in W.items():
        h.update(f"{k}:{tuple(v.shape)};".encode())
    return h.hexdigest()


def save_meta_checkpoint(store: CheckpointStore, cfg: ExperimentConfig, rounds_done: int, W: Mapping[str, Tensor],
                         outer_state: Mapping[str, Tensor], kind: str = "meta-train",
                         rng: tuple[Mapping[str, Tensor], Mapping[str, Any]] | None = None) -> Path:
    """Write one checkpoint of ``W`` (with ``cfg``'s space signature), the outer state and the RNG states.

    ``rng`` (tensors, meta) is recorded instead of this process's states: a copy of a checkpoint
    (a packaged prior) then carries its source's states and is the same bytes however often it is made.

    Example:
        >>> import tempfile
        >>> from base_dist.config import load_config
        >>> store = CheckpointStore(tempfile.mkdtemp())
        >>> save_meta_checkpoint(store, load_config(None), 3, {"w": torch.zeros(1)}, {}).name
        'ckpt-000003.safetensors'
    """
    rng_tensors, rng_meta = rng if rng is not None else capture_rng_state()
    meta = {"signature": space_signature(cfg, W), "config": config_to_dict(cfg), "rng": rng_meta, "kind": kind,
            "rounds_done": int(rounds_done)}
    return store.save(rounds_done, {"W": dict(W), "outer": dict(outer_state), "rng": dict(rng_tensors)}, meta)


def config_changes(saved: dict[str, Any], cfg: ExperimentConfig) -> list[str]:
    """``key: old -> new`` for settings that differ from a checkpoint's config and matter on resume.

    ``meta.rounds`` counts: with a linear or cosine lambda schedule it changes every later lambda.

    Example:
        >>> from base_dist.config import config_to_dict, load_config
        >>> config_changes(config_to_dict(load_config(None)), load_config(None, ["meta.inner_steps=2"]))
        ['meta.inner_steps: 5 -> 2']
    """
    if not saved:
        return []
    new = flatten_config(cfg)
    try:
        old = flatten_config(config_from_dict(saved))
    except UserError:
        return ["the checkpoint's config no longer validates"]
    return [f"{k}: {old.get(k)} -> {v}" for k, v in new.items()
            if old.get(k) != v and not k.startswith(RESUME_NEUTRAL)]


def resume_point(run_dir: Path, cfg: ExperimentConfig, W: Mapping[str, Tensor]) -> Checkpoint:
    """The newest good checkpoint of ``run_dir`` for ``cfg``'s search space, with the RNG states restored.

    Raises :class:`NoCheckpointToResume` when there is none; warns about settings that changed.

    Example:
        >>> import tempfile
        >>> from base_dist.config import load_config
        >>> resume_point(Path(tempfile.mkdtemp()), load_config(None), {"w": torch.zeros(1)})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        base_dist.meta.checkpoints.NoCheckpointToResume: no checkpoint to resume from in .../checkpoints; start a new run instead
    """
    store_dir = run_dir / CHECKPOINT_SUBDIR
    ckpt = CheckpointStore(store_dir).latest_good(expect_signature=space_signature(cfg, W), expect_tensors={"W": W})
    if ckpt is None:
        raise NoCheckpointToResume(f"no checkpoint to resume from in {store_dir}; start a new run instead")
    restore_rng_state(ckpt.tensors.get("rng", {}), ckpt.meta.get("rng") or {}, origin=str(ckpt.path))
    changed = config_changes(ckpt.meta.get("config") or {}, cfg)
    if changed:
        log.warning("resuming with settings that differ from the checkpoint's (the rest of the run will "
                    "not match an uninterrupted one): %s", ", ".join(changed))
    return ckpt


def checkpoint_W(ckpt: Checkpoint, like: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The checkpoint's W as fp32 in ``like``'s order."""
    return {k: ckpt.tensors["W"][k].to(torch.float32) for k in like}
