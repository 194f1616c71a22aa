"""A PNG grid of one task, for a person to look at (matplotlib, Agg backend; no display needed).

Example:
    >>> from base_dist.config import DataConfig
    >>> from base_dist.data import TaskDistribution
    >>> import tempfile
    >>> p = save_task_grid(TaskDistribution(DataConfig()).sample(0), Path(tempfile.mkdtemp()) / "t.png")
    >>> p.suffix
    '.png'
"""

from __future__ import annotations

from pathlib import Path

import torch

from base_dist.data.tasks import Task
from base_dist.data.transforms import denormalise


def save_task_grid(task: Task, path: str | Path, per_class: int = 8) -> Path:
    """Write one row per class (up to ``per_class`` train images each) to ``path`` as PNG."""
    import matplotlib

    matplotlib.use("Agg")  # headless clusters: never try to open a window
    import matplotlib.pyplot as plt

    x = denormalise(task.x_train.detach().float().cpu(), task.mean, task.std) if task.mean else task.x_train.cpu()
    labels = task.y_train.cpu()
    per_class = max(1, min(per_class, int(torch.bincount(labels, minlength=task.n_way).max())))
    rows = []
    for label in range(task.n_way):
        imgs = x[labels == label][:per_class]
        pad = torch.ones(per_class - imgs.shape[0], *x.shape[1:])
        rows.append(torch.cat([imgs, pad]))
    grid = torch.stack(rows)  # [N, K, C, S, S]
    n, k = grid.shape[:2]
    fig, axes = plt.subplots(n, k, figsize=(1.2 * k + 1.5, 1.2 * n + 0.6), squeeze=False)
    for i in range(n):
        for j in range(k):
            ax = axes[i][j]
            img = grid[i, j]
            if img.shape[0] == 1:
                ax.imshow(img[0].numpy(), cmap="gray", vmin=0, vmax=1)
            else:
                ax.imshow(img.permute(1, 2, 0).numpy())
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(task.class_names[i][:14], rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle(f"{task.source} · {task.n_way}-way · {task.image_size}px · seed {task.seed}", fontsize=9)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80, bbox_inches="tight")
    plt.close(fig)
    return out
