"""Few-shot evaluation: mean query accuracy after adaptation, with a 95 % confidence interval.

Each test episode (held-out classes by default) starts from the meta-learned weights, takes
``fewshot.test_inner_steps`` SGD steps on its support set (no second derivatives: nothing is
meta-learned here) and is scored on its query set. The interval is the normal one of the mean over
episodes, ``1.96 * std / sqrt(n)`` (sample std; n >= 600 in the literature, where it matches the
t-interval to 3 digits). Test episodes are seeded by ``fewshot.eval_seed`` alone, so two runs are
scored on the same episodes.

Example:
    >>> tuple(round(v, 4) for v in mean_ci95([0.5, 0.7, 0.6, 0.6]))
    (0.6, 0.08)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from torch import nn

from base_dist.config import ExperimentConfig
from base_dist.data import Episode
from base_dist.data.episodes import episode_tasks, eval_episode_seed, sample
from base_dist.train.maml import adapt, query_loss
from base_dist.utils import resolve_device

Z_95 = 1.96


def mean_ci95(values: Sequence[float]) -> tuple[float, float]:
    """``(mean, half-width of the 95 % normal interval)``; the half-width needs two values at least.

    Example:
        >>> mean_ci95([1.0, 1.0])
        (1.0, 0.0)
    """
    n = len(values)
    if n < 2:
        raise ValueError("a confidence interval needs at least two values")
    mean = math.fsum(values) / n
    var = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, Z_95 * math.sqrt(var / n)


@dataclass
class FewshotEval:
    """Accuracy over test episodes; ``accuracies`` holds each episode's query accuracy, in seed order."""

    split: str
    episodes: int
    mean: float
    ci95: float
    inner_steps: int
    n_way: int
    k_shot: int
    k_query: int
    accuracies: list[float]

    def line(self) -> str:
        """One line for the CLI.

        Example:
            >>> FewshotEval("holdout", 600, 0.9312, 0.0061, 10, 5, 1, 15, []).line()
            '5-way 1-shot holdout accuracy: 93.12% ± 0.61% (95% CI, 600 episodes, 10 inner steps)'
        """
        return (f"{self.n_way}-way {self.k_shot}-shot {self.split} accuracy: {100 * self.mean:.2f}% ± "
                f"{100 * self.ci95:.2f}% (95% CI, {self.episodes} episodes, {self.inner_steps} inner steps)")

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def episode_accuracy(net: nn.Module, weights: dict[str, torch.Tensor], ep: Episode, *, steps: int, lr: float,
                     grad_clip: float | None = None) -> float:
    """Query accuracy of ``ep`` after ``steps`` SGD steps on its support set from ``weights`` (detached leaves)."""
    fast = adapt(net, weights, ep.x_support, ep.y_support, steps=steps, lr=lr, create_graph=False, grad_clip=grad_clip)
    with torch.no_grad():
        _, logits = query_loss(net, fast, ep.x_query, ep.y_query)
    return float((logits.argmax(1) == ep.y_query).float().mean())


def eval_inner_steps(cfg: ExperimentConfig, steps: int | None = None) -> int:
    """SGD steps per test episode: ``steps``, else ``fewshot.test_inner_steps``, else ``fewshot.inner_steps``."""
    fs = cfg.fewshot
    return steps if steps is not None else fs.test_inner_steps if fs.test_inner_steps is not None else fs.inner_steps


def episode_accuracies(cfg: ExperimentConfig, net: nn.Module, split: str, indices: range, *, steps: int,
                       device: torch.device) -> list[float]:
    """Query accuracy of each test episode ``indices`` of ``split`` (episode i is seeded by its index alone)."""
    fs = cfg.fewshot
    tasks = episode_tasks(cfg, split)
    weights = {k: v.detach().requires_grad_(True) for k, v in net.named_parameters()}  # new tensors, no in-place
    return [episode_accuracy(net, weights, sample(tasks, cfg, eval_episode_seed(cfg, split, i)).to(device),
                             steps=steps, lr=fs.inner_lr, grad_clip=fs.inner_grad_clip) for i in indices]


def summarise_split(cfg: ExperimentConfig, split: str, steps: int, accs: list[float]) -> FewshotEval:
    """Mean ± 95 % CI of the episodes' accuracies ``accs``, with the settings they were scored at."""
    fs = cfg.fewshot
    mean, ci = mean_ci95(accs)
    return FewshotEval(split, len(accs), mean, ci, steps, fs.n_way, fs.k_shot, fs.k_query, accs)


def evaluate_split(cfg: ExperimentConfig, net: nn.Module, split: str, *, episodes: int, steps: int | None = None,
                   device: torch.device | None = None) -> FewshotEval:
    """Mean accuracy ± 95 % CI of ``net`` over ``episodes`` test episodes of ``split`` (val or holdout).

    ``steps`` defaults to ``fewshot.test_inner_steps`` (itself defaulting to ``fewshot.inner_steps``).
    """
    steps = eval_inner_steps(cfg, steps)
    accs = episode_accuracies(cfg, net, split, range(episodes), steps=steps, device=device or resolve_device(cfg.device))
    return summarise_split(cfg, split, steps, accs)
