"""The one SGD rule and gradient clip of every inner step: meta-training, adaptation, second order, MAML.

A layer-0 module because both ``meta`` (the BASE inner loop, its second-order replay) and ``train``
(MAML over episodes) step with it, and neither may import the other. Out of place, so second-order
paths differentiate through it; :class:`base_dist.meta.inner.InnerSGD` applies it in place.

Example:
    >>> import torch
    >>> p, buf = sgd_update(torch.tensor([1.0]), torch.tensor([0.5]), None, lr=0.1, momentum=0.0)
    >>> p.tolist(), buf
    ([0.949999988079071], None)
"""

from __future__ import annotations

import torch
from torch import Tensor

CLIP_EPS = 1e-6  # as torch.nn.utils.clip_grad_norm_


def clip_coefficient(grads: list[Tensor], max_norm: float) -> Tensor:
    """The factor that scales one group's gradients to a total L2 norm of at most ``max_norm``
    (differentiable: the second-order path clips through it too).

    Example:
        >>> float(clip_coefficient([torch.tensor([3.0, 4.0])], 1.0))
        0.2
    """
    total = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    return torch.clamp(max_norm / (total + CLIP_EPS), max=1.0)


def sgd_update(param: Tensor, grad: Tensor, buf: Tensor | None, lr: float,
               momentum: float) -> tuple[Tensor, Tensor | None]:
    """The one SGD(+momentum) rule of every inner step: ``buf = momentum * buf + grad``, ``param - lr * buf``.

    Out of place, so the second-order path differentiates through it; the optimizer of the
    first-order paths (:class:`base_dist.meta.inner.InnerSGD`) applies the same rule in place.

    Example:
        >>> p, b = sgd_update(torch.tensor([1.0]), torch.tensor([0.5]), None, 0.1, 0.9)
        >>> p.tolist(), b.tolist()
        ([0.949999988079071], [0.5])
    """
    buf = grad if buf is None else buf * momentum + grad
    return param - lr * buf, (buf if momentum else None)
