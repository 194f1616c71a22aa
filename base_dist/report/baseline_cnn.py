"""What a user would do instead of NAS: a plain hand-designed CNN trained for a wall-clock budget.

Conv-BN-ReLU blocks (widths w, 2w, 4w with two max-pools), global average pooling, a linear
classifier; SGD with momentum, cosine learning rate over the planned epochs, weight decay; training
stops after the epoch in progress once ``budget_s`` seconds have passed.

Example:
    >>> net = PlainCNN(1, 10, width=8)
    >>> net(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from base_dist.utils import make_generator


class PlainCNN(nn.Module):
    """Five 3x3 conv blocks (w, w, 2w, 2w, 4w), max-pool after the 2nd and 4th, GAP, linear."""

    def __init__(self, in_channels: int, num_classes: int, width: int = 32) -> None:
        super().__init__()
        widths = [width, width, 2 * width, 2 * width, 4 * width]
        layers: list[nn.Module] = []
        c = in_channels
        for i, w in enumerate(widths):
            layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
            if i in (1, 3):
                layers.append(nn.MaxPool2d(2))
            c = w
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``[batch, classes]``."""
        return self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(self.features(x), 1), 1))


def width_for_params(target: int, in_channels: int, num_classes: int) -> int:
    """The width whose :class:`PlainCNN` has the parameter count closest to ``target``.

    Example:
        >>> width_for_params(140_458, 1, 10)
        32
    """
    def count(w: int) -> int:
        return sum(p.numel() for p in PlainCNN(in_channels, num_classes, w).parameters())

    return min(range(2, 257), key=lambda w: abs(count(w) - target))


@dataclass
class CnnResult:
    """Test accuracy, parameters, MACs, epochs done and seconds of a budgeted CNN run."""

    test_acc: float
    params: int
    macs: int
    epochs_done: int
    train_s: float
    width: int


def _accuracy(net: nn.Module, x: Tensor, y: Tensor, batch: int = 512) -> float:
    net.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(y), batch):
            correct += int((net(x[i:i + batch]).argmax(-1) == y[i:i + batch]).sum())
    return correct / max(len(y), 1)


def train_cnn(x: Tensor, y: Tensor, x_test: Tensor, y_test: Tensor, *, width: int, budget_s: float,
              max_epochs: int = 1000, batch_size: int = 96, lr: float = 0.05, seed: int = 0) -> CnnResult:
    """Train :class:`PlainCNN` until ``budget_s`` seconds (or ``max_epochs``), then test.

    The cosine schedule is planned over the epochs the budget allows, estimated after epoch 1.

    Example:
        >>> x = torch.randn(64, 1, 8, 8); y = torch.arange(64) % 2
        >>> train_cnn(x, y, x, y, width=4, budget_s=1.0, max_epochs=2).epochs_done
        2
    """
    from base_dist.space.profiler import profile_network

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = PlainCNN(int(x.shape[1]), int(y.max()) + 1, width)
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, weight_decay=3e-4, nesterov=True)
    t0 = time.perf_counter()
    planned, epoch = max_epochs, 0
    while epoch < planned:
        net.train()
        for g in opt.param_groups:
            g["lr"] = 0.5 * lr * (1 + math.cos(math.pi * epoch / planned))
        perm = torch.randperm(len(y), generator=make_generator(seed, "cnn", epoch))
        for i in range(0, len(y), batch_size):
            idx = perm[i:i + batch_size]
            loss = nn.functional.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        epoch += 1
        elapsed = time.perf_counter() - t0
        if epoch == 1:
            planned = max(1, min(max_epochs, int(budget_s // max(elapsed, 1e-6))))
        if elapsed >= budget_s:
            break
    train_s = time.perf_counter() - t0
    prof = profile_network(net, tuple(x.shape[1:]))
    return CnnResult(test_acc=_accuracy(net, x_test, y_test), params=prof.params, macs=prof.macs,
                     epochs_done=epoch, train_s=train_s, width=width)
