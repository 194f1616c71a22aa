"""Gaussian (Bayesian) weights: q(theta) = N(mu, sigma^2), sampled by reparameterisation (eq. 7-8).

Each layer owns two parameters, ``mu`` and ``rho``; ``sigma = softplus(rho)``, ``exp(rho)`` or
``|rho|`` (``bayes.sigma_param``). Only ``linear`` (``|rho|``) lets SGD move a small sigma: with
softplus or exp, ``d sigma / d rho = sigma`` (about 1e-3), so rho's gradient is 1e-3 of mu's. All layers of one network share one :class:`NoiseSource`, which the
network points at the generator of the current forward pass: with a generator every layer draws
``eps ~ N(0, 1)`` from it (``theta = mu + sigma * eps``); without one (or with
``bayes.deterministic``) layers use ``mu``, the posterior mean.

Example:
    >>> import torch
    >>> noise = NoiseSource()
    >>> conv = BayesConv2d(2, 3, 3, padding=1, noise=noise)
    >>> conv(torch.zeros(1, 2, 5, 5)).shape
    torch.Size([1, 3, 5, 5])
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.utils import _pair


@dataclass
class NoiseSource:
    """The generator of the current forward pass, shared by every Gaussian layer of a network.

    A plain object, not a module: it holds no state to learn or save, only "where eps comes from now".
    """

    gen: torch.Generator | None = None


def randn_from(gen: torch.Generator, shape: torch.Size, like: torch.Tensor) -> torch.Tensor:
    """``N(0, 1)`` noise of ``shape`` drawn from ``gen`` and placed on ``like``'s device.

    Drawing on the generator's own device keeps the stream identical whatever device the model is on.
    """
    if gen.device == like.device:
        return torch.randn(shape, generator=gen, device=like.device, dtype=like.dtype)
    eps = torch.randn(shape, generator=gen, device=gen.device, dtype=torch.float32)
    return eps.to(device=like.device, dtype=like.dtype)


def sigma_from_rho(rho: torch.Tensor, sigma_param: str) -> torch.Tensor:
    """``softplus(rho)``, ``exp(rho)`` or ``|rho|`` (``linear``), floored at 1e-8 for ``linear``."""
    if sigma_param == "softplus":
        return F.softplus(rho)
    if sigma_param == "log":
        return torch.exp(rho)
    return rho.abs().clamp_min(1e-8)


def rho_from_sigma(sigma: float, sigma_param: str) -> float:
    """Inverse of :func:`sigma_from_rho` for a scalar (used to initialise ``rho``).

    Example:
        >>> round(float(sigma_from_rho(torch.tensor(rho_from_sigma(0.1, "softplus")), "softplus")), 6)
        0.1
    """
    if sigma_param == "softplus":
        # log(exp(s) - 1), written to stay finite for small s.
        return sigma + math.log(-math.expm1(-sigma))
    if sigma_param == "log":
        return math.log(sigma)
    return sigma


class GaussianMixin:
    """Shared code of the Gaussian layers: ``mu``, ``rho``, sampling, KL."""

    mu: nn.Parameter
    rho: nn.Parameter
    noise: NoiseSource
    sigma_param: str

    def _init_gaussian(self, shape: tuple[int, ...], fan_in: int, noise: NoiseSource | None,
                       sigma_param: str, sigma_init: float) -> None:
        # Kaiming-uniform mean (what nn.Conv2d/nn.Linear use), small constant sigma.
        bound = 1.0 / math.sqrt(max(fan_in, 1))
        self.mu = nn.Parameter(torch.empty(shape).uniform_(-bound, bound))
        self.rho = nn.Parameter(torch.full(shape, rho_from_sigma(sigma_init, sigma_param)))
        self.noise = noise if noise is not None else NoiseSource()
        self.sigma_param = sigma_param

    @property
    def sigma(self) -> torch.Tensor:
        return sigma_from_rho(self.rho, self.sigma_param)

    def sample_weight(self) -> torch.Tensor:
        """``mu + sigma * eps`` with eps from the shared generator, or ``mu`` when there is none."""
        gen = self.noise.gen
        if gen is None:
            return self.mu
        return torch.addcmul(self.mu, self.sigma, randn_from(gen, self.mu.shape, self.mu))  # one fused op

    def kl(self, prior_mu: float, prior_sigma: float) -> torch.Tensor:
        """``KL(N(mu, sigma^2) || N(prior_mu, prior_sigma^2))`` summed over elements."""
        return gaussian_kl(self.mu, self.sigma, prior_mu, prior_sigma)


def gaussian_kl(mu: torch.Tensor, sigma: torch.Tensor, prior_mu: float | torch.Tensor,
                prior_sigma: float | torch.Tensor) -> torch.Tensor:
    """Closed-form KL between diagonal Gaussians, summed; zero iff the two are equal.

    Example:
        >>> float(gaussian_kl(torch.zeros(3), torch.full((3,), 0.1), 0.0, 0.1))
        0.0
    """
    # Element-wise, then summed: each element is exactly 0 at the prior (a sum-then-subtract form
    # loses that to float32 cancellation over ~1e6 weights).
    ratio = sigma / prior_sigma
    return (0.5 * (ratio.square() + ((mu - prior_mu) / prior_sigma).square() - 1.0) - torch.log(ratio)).sum()


class BayesConv2d(GaussianMixin, nn.Module):
    """A bias-free ``Conv2d`` whose weight is Gaussian (same signature as ``nn.Conv2d``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0,
                 dilation: int | tuple[int, int] = 1, groups: int = 1, *, noise: NoiseSource | None = None,
                 sigma_param: str = "softplus", sigma_init: float = 1e-3) -> None:
        nn.Module.__init__(self)
        k = _pair(kernel_size)
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, k
        self.stride, self.padding, self.dilation, self.groups = _pair(stride), _pair(padding), _pair(dilation), groups
        shape = (out_channels, in_channels // groups, *k)
        self._init_gaussian(shape, (in_channels // groups) * k[0] * k[1], noise, sigma_param, sigma_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.sample_weight(), None, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}, groups={self.groups}")


class BayesLinear(GaussianMixin, nn.Module):
    """A ``Linear`` whose weight is Gaussian; the bias stays a plain parameter."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 noise: NoiseSource | None = None, sigma_param: str = "softplus", sigma_init: float = 1e-3) -> None:
        nn.Module.__init__(self)
        self.in_features, self.out_features = in_features, out_features
        self._init_gaussian((out_features, in_features), in_features, noise, sigma_param, sigma_init)
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.sample_weight(), self.bias)


def gaussian_layers(module: nn.Module) -> Iterator[GaussianMixin]:
    """Every Gaussian layer inside ``module``, in module order."""
    for m in module.modules():
        if isinstance(m, GaussianMixin):
            yield m
