"""Parameter and multiply-accumulate (MAC) counts of networks and genotypes.

Parameters exclude the auxiliary head, as the DARTS/BASE papers count them. MACs are counted by
forward hooks on convolutions and linear layers (batch 1); BatchNorm, pooling and additions are not
counted. This convention reproduces BASE's published ImageNet figure (559M; here 550M) and DARTS's
4.7M parameters, but gives 530M for DARTS_V2 on ImageNet, not the paper's 574M: no standard
convention reproduces that figure (others measure 523-545M, quark0/darts issue #46).

Example:
    >>> p = profile_genotype("darts_v2", channels=36, layers=20, dataset="cifar10")
    >>> round(p.params / 1e6, 1)
    3.3
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from base_dist.errors import UserError
from base_dist.space.bayes import BayesConv2d, BayesLinear
from base_dist.space.genotypes import Genotype
from base_dist.space.network import create_network


@dataclass(frozen=True)
class DatasetShape:
    """What the profiler needs of a dataset: classes, native image size, channels, default macro."""

    num_classes: int
    image_size: int
    in_channels: int
    macro: str = "cifar"


# The datasets of the paper and of the offline analogue; `space` may not import `data`, hence this table.
DATASETS: dict[str, DatasetShape] = {
    "cifar10": DatasetShape(10, 32, 3),
    "cifar100": DatasetShape(100, 32, 3),
    "svhn": DatasetShape(10, 32, 3),
    "imagenet": DatasetShape(1000, 224, 3, "imagenet"),
    "imagenet32": DatasetShape(1000, 32, 3),
    "imagenet64": DatasetShape(1000, 64, 3),
    "mini-imagenet": DatasetShape(5, 84, 3),
    "fashion-mnist": DatasetShape(10, 28, 1),
    "mnist": DatasetShape(10, 28, 1),
    "digits": DatasetShape(10, 16, 1),
}


def dataset_shape(name: str) -> DatasetShape:
    """The :class:`DatasetShape` of ``name``; :class:`UserError` naming the known ones otherwise."""
    if name not in DATASETS:
        raise UserError(f"unknown dataset {name!r} for profiling; known: {', '.join(sorted(DATASETS))}")
    return DATASETS[name]


@dataclass(frozen=True)
class Profile:
    """Counts of one network at one input shape."""

    params: int
    macs: int
    aux_params: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def count_params(model: nn.Module, exclude_prefix: str = "auxiliary_head") -> int:
    """Number of parameter elements, skipping names under ``exclude_prefix``.

    Example:
        >>> count_params(nn.Linear(3, 2))
        8
    """
    return sum(p.numel() for n, p in model.named_parameters() if not n.startswith(exclude_prefix))


def _macs_hook(counter: list[int]):
    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        if isinstance(module, (nn.Conv2d, BayesConv2d)):
            k = module.kernel_size
            per_out = (module.in_channels // module.groups) * k[0] * k[1]
            counter[0] += output[0].numel() * per_out  # output[0]: one sample of the batch
        else:
            counter[0] += output[0].numel() * module.in_features

    return hook


def count_macs(model: nn.Module, input_shape: tuple[int, ...], **forward_kwargs: Any) -> int:
    """MACs of one forward pass of one sample of shape ``input_shape`` (C, H, W), in eval mode.

    Example:
        >>> count_macs(nn.Conv2d(1, 2, 3, padding=1, bias=False), (1, 4, 4))
        288
    """
    counter = [0]
    handles = [m.register_forward_hook(_macs_hook(counter)) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.Linear, BayesConv2d, BayesLinear))]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            p = next(model.parameters(), None)
            x = torch.zeros(1, *input_shape, device=p.device if p is not None else "cpu")
            # BatchNorm without running stats needs >1 value per channel in train mode only; eval is fine.
            model(x, **forward_kwargs)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return counter[0]


def profile_network(model: nn.Module, input_shape: tuple[int, ...], **forward_kwargs: Any) -> Profile:
    """:class:`Profile` of any model (the auxiliary head, if any, is left out of ``params``)."""
    total = sum(p.numel() for p in model.parameters())
    params = count_params(model)
    return Profile(params=params, macs=count_macs(model, input_shape, **forward_kwargs), aux_params=total - params)


def profile_genotype(genotype: Genotype | str | Path, *, channels: int, layers: int, dataset: str | None = None,
                     num_classes: int | None = None, image_size: int | None = None, in_channels: int | None = None,
                     macro: str | None = None) -> Profile:
    """Build the full network of ``genotype`` and profile it; ``dataset`` supplies the defaults.

    Example:
        >>> p = profile_genotype("darts_v2", channels=48, layers=14, dataset="imagenet")
        >>> round(p.params / 1e6, 1), round(p.macs / 1e6)
        (4.7, 530)
    """
    shape = dataset_shape(dataset) if dataset is not None else DatasetShape(10, 32, 3)
    net = create_network(genotype, macro=macro or shape.macro, channels=channels, layers=layers,
                         num_classes=num_classes or shape.num_classes, in_channels=in_channels or shape.in_channels,
                         auxiliary=True)
    size = image_size or shape.image_size
    return profile_network(net, (in_channels or shape.in_channels, size, size))
