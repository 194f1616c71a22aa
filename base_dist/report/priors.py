"""Packaging a meta-prior to ship with base-dist: its W and a clean config, plus a card of what it measured.

The shipped checkpoint is the prior's W with the config it was meta-trained with, minus what only
mattered on the machine that trained it (Ray workers, MLflow locations), plus the adaptation
settings its measurements used, so ``base-dist adapt --prior NAME`` reproduces them by default.

Example:
    >>> # package_prior("runs/pg3", base_dist.meta.prior.PRIORS_DIR / "glyphs-fmnist", card, ["adapt.epochs=1"])
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from base_dist.config import apply_overrides, config_from_dict
from base_dist.meta.checkpoints import save_meta_checkpoint
from base_dist.meta.prior import CARD_FILE, PRIOR_FILE, load_posterior
from base_dist.track.checkpoint import CheckpointStore, load_checkpoint

LOCAL_SETTINGS = ["dist.workers=0", "dist.address=null", "tracking.tracking_uri=null", "device=auto"]


def package_prior(checkpoint: str | Path, dest: Path, card: dict[str, Any], settings: Sequence[str] = ()) -> Path:
    """Write ``dest/prior.safetensors`` (W + cleaned config) and ``dest/card.json``; returns the checkpoint."""
    post = load_posterior(checkpoint)
    cfg = config_from_dict(apply_overrides(dict(post.config), [*LOCAL_SETTINGS, *settings]), origin="shipped prior")
    dest.mkdir(parents=True, exist_ok=True)
    tmp = dest / "tmp-store"
    source = load_checkpoint(post.path)
    written = save_meta_checkpoint(CheckpointStore(tmp, keep=1), cfg, post.rounds, post.W, {}, kind="meta-train",
                                   rng=(source.tensors.get("rng", {}), source.meta.get("rng") or {}))
    written.replace(dest / PRIOR_FILE)
    for leftover in tmp.iterdir():
        leftover.unlink()
    tmp.rmdir()
    (dest / CARD_FILE).write_text(json.dumps({**card, "rounds": post.rounds}, indent=1) + "\n")
    return dest / PRIOR_FILE
