"""Few-shot networks: MAML's 4-conv network and a genotype (DARTS cell) network of matched size.

- ``conv4`` (Finn et al. 2017): 4 blocks of conv3x3 (32 filters, padding 1) -> BatchNorm -> ReLU ->
  2x2 max-pool, then a linear classifier over the flattened map (28 px: 32 x 1 x 1 features,
  28,485 parameters for 1 channel and 5 ways). Max-pooling is MAML's Mini-ImageNet variant (its
  Omniglot net strides instead); PyTorch's default initialisation.
- ``conv4-wide``: the same network with the filter count whose parameter count is closest to
  ``param_ratio`` times conv4's (64 filters at ratio 4): the control that asks whether a cell
  network's lead comes from its cells or from its extra parameters. At ratio 1 it is conv4.
- a genotype (registry name, file or :class:`Genotype`): the CIFAR-style full network of
  :func:`base_dist.space.network.create_network` with ``layers`` cells (default 4) and, unless given,
  the width whose parameter count is closest to the 4-conv's (darts_v2: 8 channels, 29,077).
  With ``feature_norm`` (the default) it ends as conv4's blocks do: BatchNorm-ReLU on the last cell's
  map, global pooling, then a BatchNorm on the pooled features before the classifier. DARTS's head
  (pooling straight into the classifier) feeds it features so large that the classifier holds 99 %
  of the gradient norm at initialisation and MAML's inner steps at lr 0.1 move little else
  (``benchmarks/probe_feature_norm.py``; docs/results.md (e): darts_v2 at 5-shot, 40.9 -> 91.1 %).
  With ``conv_stem`` k > 0 its stem is k of conv4's blocks (conv3x3 -> BatchNorm -> ReLU -> 2x2
  max-pool) at the DARTS stem's width, so the cells work on maps 2^k times smaller.

**BatchNorm is transductive in both**: every BatchNorm normalises with the statistics of the batch it
sees, in training *and* in eval mode, and keeps no running statistics (no buffers at all), as MAML's
reference implementation does. So a query set is normalised with its own statistics, the network
is a pure function of its parameters (what :func:`torch.func.functional_call` needs), and eval mode
changes nothing. BatchNorm's affine weight and bias are ordinary (meta-learned, adapted) parameters.

Example:
    >>> import torch
    >>> net = create_fewshot_network("conv4", in_channels=1, n_way=5, image_size=28)
    >>> net(torch.zeros(3, 1, 28, 28)).shape, parameter_count(net)
    (torch.Size([3, 5]), 28485)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from base_dist.errors import UserError
from base_dist.space.genotypes import Genotype, get_genotype
from base_dist.space.metanet import reduction_layers
from base_dist.space.network import Network, create_network

CONV4 = "conv4"
CONV4_WIDE = "conv4-wide"
CONV4_FILTERS = 32
CONV4_MIN_IMAGE_SIZE = 16  # four 2x2 pools: below 16 px the last map is empty
GENOTYPE_LAYERS = 4
MAX_MATCHED_CHANNELS = 256


def parameter_count(net: nn.Module) -> int:
    """Number of parameter elements (every parameter: few-shot networks have no auxiliary head).

    Example:
        >>> parameter_count(nn.Linear(3, 2))
        8
    """
    return sum(p.numel() for p in net.parameters())


def transductive_batchnorm(net: nn.Module) -> nn.Module:
    """Make every BatchNorm of ``net`` use batch statistics in train and eval mode, with no running buffers.

    Example:
        >>> bn = transductive_batchnorm(nn.Sequential(nn.BatchNorm2d(2)))
        >>> list(dict(bn.named_buffers())), bn.eval()(torch.ones(2, 2, 1, 1)).abs().max().item()
        ([], 0.0)
    """
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            # torch uses batch statistics whenever both running buffers are None.
            m.track_running_stats = False
            m.running_mean = m.running_var = m.num_batches_tracked = None
    return net


def conv4_blocks(in_channels: int, filters: int, blocks: int) -> nn.Sequential:
    """``blocks`` of conv4's conv3x3 -> BatchNorm -> ReLU -> 2x2 max-pool, ``filters`` wide (transductive BatchNorm).

    Example:
        >>> conv4_blocks(1, 8, 2)(torch.zeros(2, 1, 16, 16)).shape
        torch.Size([2, 8, 4, 4])
    """
    layers: list[nn.Module] = []
    for b in range(blocks):
        layers += [nn.Conv2d(in_channels if b == 0 else filters, filters, 3, padding=1),
                   nn.BatchNorm2d(filters, track_running_stats=False), nn.ReLU(), nn.MaxPool2d(2)]
    return nn.Sequential(*layers)


class Conv4(nn.Module):
    """MAML's 4-conv network (see the module docstring); BatchNorm is transductive.

    Example:
        >>> Conv4(3, 5, 84).classifier.in_features  # Mini-ImageNet: 84 -> 42 -> 21 -> 10 -> 5
        800
    """

    def __init__(self, in_channels: int, n_way: int, image_size: int, filters: int = CONV4_FILTERS) -> None:
        super().__init__()
        if image_size < CONV4_MIN_IMAGE_SIZE:
            raise UserError(f"the conv4 network needs images of at least {CONV4_MIN_IMAGE_SIZE} px "
                            f"(four 2x2 max-pools), got {image_size}")
        self.features = conv4_blocks(in_channels, filters, 4)
        s = image_size // 2 ** 4
        self.classifier = nn.Linear(filters * s * s, n_way)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


def _genotype(name: str | Path) -> Genotype:
    """A genotype by name or file; an unknown one is an error that names conv4 too."""
    try:
        return get_genotype(name)
    except UserError as err:
        raise UserError(f"few-shot network {str(name)[:80]!r}: not {CONV4!r}, and {err}") from err


def normalize_features(net: Network) -> Network:
    """Give ``net`` conv4's ending: BatchNorm-ReLU before the global pooling, BatchNorm before the classifier.

    Example:
        >>> net = normalize_features(create_network("darts_v2", channels=4, layers=2, num_classes=5, in_channels=1))
        >>> type(net.global_pooling[0]).__name__, type(net.classifier[0]).__name__
        ('BatchNorm2d', 'BatchNorm1d')
    """
    c = net.classifier.in_features
    net.global_pooling = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
    net.classifier = nn.Sequential(nn.BatchNorm1d(c), net.classifier)
    return net


def check_conv_stem(conv_stem: int, image_size: int, layers: int) -> None:
    """Refuse a stem that pools the map below what the cells' reductions need (1 px after the last one)."""
    reductions = len(reduction_layers(layers))
    if conv_stem and image_size // 2 ** conv_stem < 2 ** reductions:
        raise UserError(f"fewshot.conv_stem={conv_stem} pools {image_size} px images to "
                        f"{image_size // 2 ** conv_stem} px, too small for the {reductions} reduction cell(s) of "
                        f"{layers} cells (need >= {2 ** reductions} px): lower conv_stem or raise image_size")


def _genotype_network(g: Genotype, in_channels: int, n_way: int, channels: int, layers: int,
                      feature_norm: bool, conv_stem: int = 0) -> nn.Module:
    net = create_network(g, macro="cifar", channels=channels, layers=layers, num_classes=n_way,
                         in_channels=in_channels, auxiliary=False, drop_path_prob=0.0)
    if conv_stem:  # same output width as DARTS's stem, so the first cells' preprocessing is unchanged
        net.stem = conv4_blocks(in_channels, net.stem[0].out_channels, conv_stem)
    return transductive_batchnorm(normalize_features(net) if feature_norm else net)


def matched_channels(genotype: Genotype | str | Path, target: int, *, in_channels: int, n_way: int,
                     layers: int = GENOTYPE_LAYERS, feature_norm: bool = True, conv_stem: int = 0) -> int:
    """The genotype network width whose parameter count is closest to ``target`` (ties: the narrower).

    Example:
        >>> matched_channels("darts_v2", 28485, in_channels=1, n_way=5)
        8
    """
    g = genotype if isinstance(genotype, Genotype) else get_genotype(genotype)
    return _closest_width(
        lambda c: parameter_count(_genotype_network(g, in_channels, n_way, c, layers, feature_norm, conv_stem)), target)


def _closest_width(count: Callable[[int], int], target: int) -> int:
    """The width ``c`` whose ``count(c)`` (parameters, growing with ``c``) is closest to ``target`` (ties: the narrower)."""
    best, best_gap = 1, None
    for c in range(1, MAX_MATCHED_CHANNELS + 1):  # the count grows with the width: stop once past target
        n = count(c)
        if best_gap is None or abs(n - target) < best_gap:
            best, best_gap = c, abs(n - target)
        if n >= target:
            break
    return best


def network_width(network: str | Path | Genotype, in_channels: int, n_way: int, image_size: int, *,
                  channels: int | None = None, layers: int = GENOTYPE_LAYERS, feature_norm: bool = True,
                  param_ratio: float = 1.0, conv_stem: int = 0) -> int:
    """The width the network will have: ``channels``, else conv4's 32 filters, or the width (conv4-wide's
    filters, a genotype's channels) whose parameter count is closest to ``param_ratio`` times conv4's.

    Example:
        >>> network_width("conv4", 1, 5, 28), network_width("darts_v2", 1, 5, 28), network_width("darts_v2", 1, 5, 28, channels=4)
        (32, 8, 4)
        >>> [network_width(n, 1, 5, 28, param_ratio=4.0) for n in ("darts_v2", "conv4", "conv4-wide")]
        [17, 32, 64]
    """
    if channels is not None:
        return channels
    if network == CONV4:
        return CONV4_FILTERS
    size = max(image_size, CONV4_MIN_IMAGE_SIZE)
    target = round(param_ratio * parameter_count(Conv4(in_channels, n_way, size)))
    if network == CONV4_WIDE:
        return _closest_width(lambda f: parameter_count(Conv4(in_channels, n_way, size, filters=f)), target)
    g = network if isinstance(network, Genotype) else _genotype(network)
    return matched_channels(g, target, in_channels=in_channels, n_way=n_way, layers=layers,
                            feature_norm=feature_norm, conv_stem=conv_stem)


def is_conv4(network: str | Path | Genotype) -> bool:
    """Whether ``network`` names MAML's 4-conv network (``conv4`` or ``conv4-wide``) rather than a genotype."""
    return isinstance(network, str) and network in (CONV4, CONV4_WIDE)


def network_genotype(network: str | Path | Genotype) -> Genotype | None:
    """The genotype of a genotype network (None for conv4); an unknown name is a one-line error."""
    if is_conv4(network):
        return None
    return network if isinstance(network, Genotype) else _genotype(network)


def create_fewshot_network(network: str | Path | Genotype, in_channels: int, n_way: int, image_size: int, *,
                           channels: int | None = None, layers: int = GENOTYPE_LAYERS,
                           feature_norm: bool = True, param_ratio: float = 1.0, conv_stem: int = 0) -> nn.Module:
    """``conv4``, ``conv4-wide`` or a genotype's network (width: :func:`network_width`).

    Genotype networks only: ``feature_norm`` gives conv4's ending (:func:`normalize_features`) and
    ``conv_stem`` k replaces the stem by k of conv4's blocks (:func:`conv4_blocks`).

    Example:
        >>> net = create_fewshot_network("darts_v2", in_channels=1, n_way=5, image_size=28)
        >>> parameter_count(net), net(torch.zeros(2, 1, 16, 16)).shape
        (29077, torch.Size([2, 5]))
    """
    width = network_width(network, in_channels, n_way, image_size, channels=channels, layers=layers,
                          feature_norm=feature_norm, param_ratio=param_ratio, conv_stem=conv_stem)
    g = network_genotype(network)
    if g is None:
        return Conv4(in_channels, n_way, image_size, filters=width)
    check_conv_stem(conv_stem, image_size, layers)
    return _genotype_network(g, in_channels, n_way, width, layers, feature_norm, conv_stem)
