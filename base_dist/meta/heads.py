"""Heads and classifiers a checkpoint lacks: extend the search space and initialise them by rule.

Adapting to a dataset whose (channels, image size) has no featurization head, or whose class count
has no classifier, never fails; the meta-network is rebuilt with the missing entries and they are
initialised as follows (every other entry is copied from the checkpoint):

* **New head** for ``(c, S)``: it gets the stride of the *nearest* existing head with ``c`` input
  channels (smallest ``|S' - S|``, ties to the smaller ``S'``), so both heads have the same layers,
  and it starts as a copy of that head's weights (conv kernels and BN affine parameters do not
  depend on the image size). With no head of ``c`` channels the nearest head of any channel count
  lends its stride and the new head keeps its fresh (seeded) initialisation.
* **New classifier** for ``N`` classes: starting from its fresh (seeded) initialisation, every row
  of the weight (and every bias entry) gets the mean row (mean bias) of the nearest-arity classifier
  added. Meta-training sees each class in every label position, so the meta-learned rows of a
  classifier are near their mean; the mean carries the learned scale and the fresh part breaks the
  symmetry between the new classes.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

import torch
from torch import Tensor

from base_dist.config import HeadConfig, SpaceConfig
from base_dist.space.metanet import head_key


def _nearest(values: list[int], target: int) -> int:
    return min(values, key=lambda v: (abs(v - target), v))


def extend_space(space: SpaceConfig, image_size: int, in_channels: int, n_classes: int) -> tuple[SpaceConfig, list[str]]:
    """``space`` plus a head for ``(in_channels, image_size)`` and a ``n_classes`` classifier if missing.

    Returns ``(new space, notes)``; ``notes`` describe what was added (empty when nothing was).

    Example:
        >>> from base_dist.config import SpaceConfig
        >>> s, notes = extend_space(SpaceConfig(n_ways=[5]), 32, 1, 10)
        >>> [h.image_size for h in s.heads], s.n_ways, len(notes)
        ([16, 28, 56, 32], [5, 10], 2)
    """
    notes: list[str] = []
    heads = list(space.heads)
    if not any(h.image_size == image_size and h.in_channels == in_channels for h in heads):
        same = [h for h in heads if h.in_channels == in_channels] or heads
        src = next(h for h in same if h.image_size == _nearest([h.image_size for h in same], image_size))
        heads.append(HeadConfig(image_size=image_size, in_channels=in_channels, stride=src.stride))
        how = "copied from" if src.in_channels == in_channels else "fresh, stride of"
        notes.append(f"new head {head_key(in_channels, image_size)} (stride {src.stride}, {how} "
                     f"{head_key(src.in_channels, src.image_size)})")
    n_ways = list(space.n_ways)
    if n_classes not in n_ways:
        src_way = _nearest(n_ways, n_classes)
        n_ways.append(n_classes)
        notes.append(f"new classifier way{n_classes} (fresh + mean row of way{src_way})")
    if not notes:
        return space, notes
    data = space.model_dump()
    data["heads"] = [h.model_dump() for h in heads]
    data["n_ways"] = n_ways
    return SpaceConfig.model_validate(data), notes


def _source_head(space: SpaceConfig, key: str) -> str | None:
    """The existing head a new head ``key`` copies (same channels, nearest size), or None."""
    new = next(h for h in space.heads if head_key(h.in_channels, h.image_size) == key)
    same = [h for h in space.heads if h.in_channels == new.in_channels and h is not new]
    if not same:
        return None
    size = _nearest([h.image_size for h in same], new.image_size)
    return head_key(new.in_channels, size)


def transfer_state(old: Mapping[str, Tensor], fresh: Mapping[str, Tensor], old_space: SpaceConfig,
                   new_space: SpaceConfig) -> OrderedDict[str, Tensor]:
    """The state of a model built from ``new_space``: ``old`` entries copied, new ones by the module rules.

    ``fresh`` is the new model's own (seeded) initial state; it supplies every name's shape and the
    fresh part of new entries.

    Example:
        >>> # W_new = transfer_state(W_ckpt, get_state(new_model), ckpt_space, new_space)
    """
    old_heads = {head_key(h.in_channels, h.image_size) for h in old_space.heads}
    old_ways = list(old_space.n_ways)
    out: OrderedDict[str, Tensor] = OrderedDict()
    for name, init in fresh.items():
        if name in old and old[name].shape == init.shape:
            out[name] = old[name].detach().to(torch.float32).clone()
            continue
        value = init.detach().to(torch.float32).clone()
        parts = name.split(".")
        if parts[0] == "heads" and parts[1] not in old_heads:
            src = _source_head(new_space, parts[1])
            if src is not None and src in old_heads:
                src_name = ".".join(["heads", src, *parts[2:]])
                if src_name in old and old[src_name].shape == init.shape:
                    value = old[src_name].detach().to(torch.float32).clone()
        elif parts[0] == "classifiers" and parts[1].startswith("way"):
            src_way = _nearest(old_ways, int(parts[1][3:]))
            src_name = ".".join(["classifiers", f"way{src_way}", *parts[2:]])
            if src_name in old:
                src_val = old[src_name].detach().to(torch.float32)
                if src_val.shape[1:] == init.shape[1:]:
                    value = value + src_val.mean(0, keepdim=True)
        out[name] = value
    return out
