"""The Bayesian meta-network: per-size heads, one shared body of search cells, per-arity classifiers.

Parameters, in ``named_parameters()`` order (this order is the layout of the meta-state ``W``):

- ``arch.normal``, ``arch.reduce``: the logits phi, ``[edges, ops]``, shared by all cells of a type;
- ``heads.<key>.*``: one featurization head per (channels, image size), plain weights;
- ``cells.<l>.*.mu`` / ``.rho``: the Gaussian posterior of every conv weight of the body;
- ``classifiers.way<N>.*``: one linear classifier per N-way arity, plain weights;
- ``pooled.*`` (only with ``space.pooled_classes``): one classifier over every meta-train class, whose
  labels mean the same class in every task (the supervised term of ``meta.pooled_weight``).

There are no buffers: BatchNorm keeps no running statistics, so ``W`` is the whole learned state.

Example:
    >>> import torch
    >>> from base_dist.config import SpaceConfig
    >>> net = create_metanet(SpaceConfig(channels=4, layers=3), seed=0)
    >>> net(torch.zeros(2, 1, 16, 16), n_way=5, gen=torch.Generator().manual_seed(1)).shape
    torch.Size([2, 5])
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from functools import partial

import torch
from torch import nn

from base_dist.config import SpaceConfig
from base_dist.errors import UserError
from base_dist.space.arch import ArchSample, argmax_arch, categorical_kl_uniform, eval_mode_of, sample_arch
from base_dist.space.bayes import BayesConv2d, NoiseSource, gaussian_kl, gaussian_layers, sigma_from_rho
from base_dist.space.cells import SearchCell, num_edges
from base_dist.space.genotypes import Genotype, average_distributions, derive_genotype
from base_dist.space.ops import OpContext, check_ops


def head_key(in_channels: int, image_size: int) -> str:
    """ModuleDict key of a head (no dots allowed there).

    Example:
        >>> head_key(1, 28)
        'c1_s28'
    """
    return f"c{in_channels}_s{image_size}"


def reduction_layers(layers: int) -> list[int]:
    """Cell indices that reduce: 1/3 and 2/3 of the depth (DARTS's placement).

    Example:
        >>> reduction_layers(8), reduction_layers(20)
        ([2, 5], [6, 13])
    """
    return sorted({layers // 3, 2 * layers // 3})


def make_head(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    """A stem striding by ``stride``: one 3x3 conv at stride 1, else log2(stride) stride-2 convs.

    BatchNorm is affine but keeps no running statistics (no buffers in the meta-network).
    """

    def bn(c: int) -> nn.BatchNorm2d:
        return nn.BatchNorm2d(c, affine=True, track_running_stats=False)

    if stride == 1:
        return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), bn(out_channels))
    steps = int(math.log2(stride))
    layers: list[nn.Module] = []
    c_in = in_channels
    for n in range(steps):
        c_out = out_channels if n == steps - 1 else max(out_channels // 2, 1)
        if n:
            layers.append(nn.ReLU(inplace=False))
        layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False), bn(c_out)]
        c_in = c_out
    return nn.Sequential(*layers)


class ArchParams(nn.Module):
    """The architecture logits phi: ``normal`` and ``reduce``, ``[edges, ops]``, zero = uniform prior."""

    def __init__(self, edges: int, n_ops: int) -> None:
        super().__init__()
        self.normal = nn.Parameter(torch.zeros(edges, n_ops))
        self.reduce = nn.Parameter(torch.zeros(edges, n_ops))


class MetaNetwork(nn.Module):
    """The supernet of BASE. Build with :func:`create_metanet`."""

    def __init__(self, cfg: SpaceConfig) -> None:
        super().__init__()
        check_ops(list(cfg.ops))
        if len(set(cfg.ops)) != len(cfg.ops):
            raise UserError(f"space.ops lists an operation twice: {cfg.ops}")
        self.cfg = cfg.model_copy(deep=True)
        self.ops: list[str] = list(cfg.ops)
        self.nodes = cfg.nodes
        b = cfg.bayes
        # One noise source shared by every Gaussian layer; forward() points it at the caller's generator.
        self.noise = NoiseSource()
        conv = partial(BayesConv2d, noise=self.noise, sigma_param=b.sigma_param, sigma_init=b.sigma_init)
        ctx = OpContext(conv=conv, affine=False, track_running_stats=False)

        self.arch = ArchParams(num_edges(cfg.nodes), len(self.ops))
        C = cfg.channels
        c_stem = cfg.stem_multiplier * C
        self.heads = nn.ModuleDict()
        for h in cfg.heads:
            key = head_key(h.in_channels, h.image_size)
            if key in self.heads:
                raise UserError(f"space.heads: two heads for {h.in_channels} channels at {h.image_size}px")
            self.heads[key] = make_head(h.in_channels, c_stem, h.stride)

        reductions = reduction_layers(cfg.layers)
        c_pp, c_p, c_cur = c_stem, c_stem, C
        reduction_prev = False
        self.cells = nn.ModuleList()
        for layer in range(cfg.layers):
            reduction = layer in reductions
            if reduction:
                c_cur *= 2
            cell = SearchCell(c_pp, c_p, c_cur, reduction=reduction, reduction_prev=reduction_prev,
                              ops=self.ops, nodes=cfg.nodes, ctx=ctx)
            self.cells.append(cell)
            c_pp, c_p = c_p, cell.out_channels
            reduction_prev = reduction
        # Listed once (a plain tuple, not a registered container): kl() walks ~1000 modules otherwise.
        self._gaussian = tuple(gaussian_layers(self.cells))
        self._prior: tuple[torch.Tensor, torch.Tensor] | None = None  # see anchor_prior
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifiers = nn.ModuleDict({f"way{n}": nn.Linear(c_p, n) for n in cfg.n_ways})
        self.pooled = nn.Linear(c_p, cfg.pooled_classes) if cfg.pooled_classes else None

    # ------------------------------------------------------------------ forward
    def head_for(self, x: torch.Tensor) -> nn.Module:
        """The head for ``x``'s (channels, size); :class:`UserError` when there is none."""
        c, h, w = x.shape[-3:]
        key = head_key(c, h)
        if h != w or key not in self.heads:
            raise UserError(f"no head for input {c}x{h}x{w}; heads (channels_size): {', '.join(self.heads)}")
        return self.heads[key]

    def classifier_for(self, n_way: int) -> nn.Module:
        """The classifier for ``n_way`` classes; :class:`UserError` when there is none."""
        key = f"way{n_way}"
        if key not in self.classifiers:
            raise UserError(f"no classifier for {n_way}-way tasks; space.n_ways = {self.cfg.n_ways}")
        return self.classifiers[key]

    def sample_arch(self, gen: torch.Generator | None = None, tau: float = 1.0,
                    mode: str | None = None) -> tuple[ArchSample, ArchSample]:
        """Draw z for (normal, reduce) cells; the noise comes from ``gen`` (normal first)."""
        if gen is None and eval_mode_of(self.cfg.arch) == "argmax":
            return argmax_arch(self.arch.normal), argmax_arch(self.arch.reduce)
        mode = mode or self.cfg.arch.mode
        return (sample_arch(self.arch.normal, mode, tau=tau, gen=gen),
                sample_arch(self.arch.reduce, mode, tau=tau, gen=gen))

    def forward(self, x: torch.Tensor, *, n_way: int, gen: torch.Generator | None = None, tau: float = 1.0,
                mode: str | None = None) -> torch.Tensor:
        """Logits ``[batch, n_way]``: :meth:`features` through the ``n_way`` classifier.

        ``gen`` draws the Gumbel noise xi (first) and the weight noise eps (in layer order), so
        ``(seed, step)`` reproduces the sample; ``gen=None`` uses the posterior mean and softmax(phi),
        or argmax(phi) per :func:`base_dist.space.arch.eval_mode_of`.
        ``mode`` overrides ``space.arch.mode`` for this call.

        Example:
            >>> from base_dist.config import SpaceConfig
            >>> net = create_metanet(SpaceConfig(channels=4, layers=2, n_ways=[3]), seed=0)
            >>> net(torch.zeros(2, 1, 28, 28), n_way=3).shape
            torch.Size([2, 3])
        """
        classifier = self.classifier_for(n_way)
        return classifier(self.features(x, gen=gen, tau=tau, mode=mode))

    def features(self, x: torch.Tensor, *, gen: torch.Generator | None = None, tau: float = 1.0,
                 mode: str | None = None) -> torch.Tensor:
        """The pooled body output ``[batch, channels]`` every classifier reads (arguments as :meth:`forward`).

        Example:
            >>> from base_dist.config import SpaceConfig
            >>> net = create_metanet(SpaceConfig(channels=4, layers=2, n_ways=[3], pooled_classes=7), seed=0)
            >>> net.pooled(net.features(torch.zeros(2, 1, 16, 16))).shape
            torch.Size([2, 7])
        """
        head = self.head_for(x)
        normal, reduce = self.sample_arch(gen, tau, mode)
        # Split the weights into per-edge Python lists once, not once per cell and edge.
        rows = {False: [r.unbind(0) for r in normal.weights.unbind(0)],
                True: [r.unbind(0) for r in reduce.weights.unbind(0)]}
        indices = {False: normal.indices, True: reduce.indices}
        self.noise.gen = None if self.cfg.bayes.deterministic else gen
        try:
            s0 = s1 = head(x)
            for cell in self.cells:
                s0, s1 = s1, cell(s0, s1, rows[cell.reduction], indices[cell.reduction])
        finally:
            self.noise.gen = None
        return torch.flatten(self.pool(s1), 1)

    # ------------------------------------------------------------------ KL, genotype, groups
    def _posterior_flat(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu, sigma)`` of every Gaussian layer as two flat vectors (differentiable)."""
        layers = self._gaussian
        mu = torch.cat([m.mu.reshape(-1) for m in layers])
        rho = torch.cat([m.rho.reshape(-1) for m in layers])
        return mu, sigma_from_rho(rho, self.cfg.bayes.sigma_param)

    def anchor_prior(self) -> None:
        """Take the current posterior as the prior p(theta; mu, sigma) of ``bayes.kl_prior: meta``.

        Called where a task starts from W (eq. 9/11: the meta-learned Gaussian is the task's prior);
        a no-op with ``kl_prior: fixed``. The anchor is detached: the first-order outer update of
        Algorithm 1 does not differentiate through it.
        """
        if self.cfg.bayes.kl_prior != "meta" or not self._gaussian:
            return
        with torch.no_grad():
            mu, sigma = self._posterior_flat()
            self._prior = (mu.detach().clone(), sigma.detach().clone())

    def _kl_theta(self) -> torch.Tensor:
        b = self.cfg.bayes
        if not self._gaussian:
            return self.arch.normal.new_zeros(())
        # One KL over the concatenation, not ~1000 small per-layer graphs: in hard mode those dominated the step.
        mu, sigma = self._posterior_flat()
        if b.kl_prior == "meta":
            if self._prior is None:  # a silent anchor here would hide a caller that forgot where W starts
                raise RuntimeError("space.bayes.kl_prior=meta: call anchor_prior() where the task starts from W")
            prior_mu, prior_sigma = self._prior
            return gaussian_kl(mu, sigma, prior_mu, prior_sigma)
        return gaussian_kl(mu, sigma, b.prior_mu, b.prior_sigma)

    def _kl_z(self) -> torch.Tensor:
        return categorical_kl_uniform(self.arch.normal) + categorical_kl_uniform(self.arch.reduce)

    def kl_terms(self) -> dict[str, torch.Tensor]:
        """Unweighted ``kl_theta`` (Gaussian posterior vs prior) and ``kl_z`` (softmax(phi) vs uniform)."""
        return {"kl_theta": self._kl_theta(), "kl_z": self._kl_z()}

    def kl(self) -> torch.Tensor:
        """``kl_weight_theta * KL_theta + kl_weight_z * KL_z`` as one scalar (a weight of 0 skips its term).

        Example:
            >>> from base_dist.config import SpaceConfig
            >>> create_metanet(SpaceConfig(channels=2, layers=1), seed=0).kl().item() > 0
            True
        """
        b = self.cfg.bayes
        total = self.arch.normal.new_zeros(())
        if b.kl_weight_theta:
            total = total + b.kl_weight_theta * self._kl_theta()
        if b.kl_weight_z:
            total = total + b.kl_weight_z * self._kl_z()
        return total

    def arch_distributions(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``softmax(phi)`` of the normal and reduction cells, detached."""
        return (self.arch.normal.detach().softmax(-1), self.arch.reduce.detach().softmax(-1))

    def genotype(self, keep: int = 2) -> Genotype:
        """The most probable architecture under softmax(phi), by the BASE top-2 (input, op) rule."""
        normal, reduce = self.arch_distributions()
        return derive_genotype(normal, reduce, self.ops, self.nodes, keep)

    def sampled_genotype(self, gen: torch.Generator, samples: int = 8, tau: float = 1.0, keep: int = 2) -> Genotype:
        """Derive from the average of ``samples`` relaxed Gumbel-softmax draws (the paper's ImageNet recipe)."""
        with torch.no_grad():
            draws = [self.sample_arch(gen, tau, mode="gumbel") for _ in range(samples)]
        return derive_genotype(average_distributions([d[0].weights for d in draws]),
                               average_distributions([d[1].weights for d in draws]), self.ops, self.nodes, keep)

    def arch_parameters(self) -> Iterator[nn.Parameter]:
        """phi (the ``arch.*`` parameters)."""
        return iter((self.arch.normal, self.arch.reduce))

    def weight_parameters(self) -> Iterator[nn.Parameter]:
        """Every parameter that is not ``arch.*``."""
        return (p for n, p in self.named_parameters() if not n.startswith("arch."))


def create_metanet(cfg: SpaceConfig, *, seed: int | None = None) -> MetaNetwork:
    """Build the meta-network of ``cfg``; with ``seed`` the initial weights do not depend on global RNG state.

    Example:
        >>> from base_dist.config import SpaceConfig
        >>> a = create_metanet(SpaceConfig(channels=2, layers=1), seed=3)
        >>> b = create_metanet(SpaceConfig(channels=2, layers=1), seed=3)
        >>> all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))
        True
    """
    if seed is None:
        return MetaNetwork(cfg)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MetaNetwork(cfg)
