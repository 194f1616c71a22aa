"""The "plain pretraining" arm of Fig. 4: the same supernet trained supervised on the pooled classes.

Does BASE's meta-learning beat ordinary pretraining? This trains the seeded initial supernet of a
config (the scratch arm's W) on every meta-train class of its sources at once — one K-way classifier
over the pooled classes, batches drawn like the inner loop's (source by weight, an image size of that
source, ``meta.batch_size`` images), the inner optimizer with its learning rates, the eq.-11
objective in the config's architecture mode — for a budget of SGD steps. Equal budget with a
meta-prior means the prior's ``rounds x tasks_per_round x inner_steps`` steps (the same number of
forward/backward passes; the meta-training also paid for its per-task evaluations). Equal
wall-clock is the other reading (the issue's): ``seconds`` stops the run at the first step boundary
past that many seconds from the call, data loading included. The result is a checkpoint ``adapt``
loads like a meta-prior.

Example:
    >>> # ckpt = pretrain(cfg, steps=budget_steps(prior_ckpt), run_dir=Path("runs/pretrain"))
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from pathlib import Path

import torch

from base_dist.config import ExperimentConfig, SpaceConfig, config_from_dict, config_to_dict
from base_dist.data import TaskDistribution, create_source
from base_dist.data.tasks import source_root
from base_dist.meta.checkpoints import save_meta_checkpoint
from base_dist.meta.inner import make_optimizers, optimizer_step
from base_dist.meta.prior import config_with_space, fit_to_target, load_posterior, seeded_metanet
from base_dist.meta.task import configure_process
from base_dist.space.meta_state import cpu_fp32, get_state
from base_dist.track.checkpoint import CHECKPOINT_SUBDIR, CheckpointStore, load_checkpoint
from base_dist.utils import make_generator, resolve_device

log = logging.getLogger(__name__)


def budget_steps(checkpoint: str | Path) -> int:
    """The SGD steps a meta-prior's training took: rounds x tasks per round x inner steps.

    Example:
        >>> # budget_steps("runs/prior")  -> 100 * 4 * 10 = 4000
    """
    ckpt = load_checkpoint(checkpoint)
    meta = (ckpt.meta.get("config") or {}).get("meta", {})
    return int(ckpt.round) * int(meta.get("tasks_per_round", 1)) * int(meta.get("inner_steps", 1))


class PooledBatches:
    """Seeded batches over the pooled meta-train classes of ``cfg.data``; labels index the pool."""

    def __init__(self, cfg: ExperimentConfig) -> None:
        tasks = TaskDistribution(cfg.data, split="meta-train")
        self.cfg = cfg
        self.sources = list(cfg.data.sources)
        self.weights = torch.tensor([s.weight for s in self.sources], dtype=torch.float64)
        self.pools, self.offsets = [], []
        for s in self.sources:
            src = create_source(s.name, source_root(cfg.data, s))
            per_class = src.by_class()
            self.pools.append((src, [per_class[c] for c in tasks.class_pool(s.name)]))
            self.offsets.append(tasks.pool_offset(s.name))
        self.n_classes = tasks.pooled_classes

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        gen = make_generator(self.cfg.seed, "pretrain", step)
        i = int(torch.multinomial(self.weights, 1, generator=gen)) if len(self.sources) > 1 else 0
        spec = self.sources[i]
        size = spec.image_sizes[int(torch.randint(len(spec.image_sizes), (1,), generator=gen))]
        src, classes = self.pools[i]
        picks = torch.randint(len(classes), (self.cfg.meta.batch_size,), generator=gen).tolist()
        idx = torch.stack([classes[c][int(torch.randint(classes[c].numel(), (1,), generator=gen))] for c in picks])
        return src.pixels(idx, size), torch.tensor(picks) + self.offsets[i]


def pretrain(cfg: ExperimentConfig, steps: int | None, run_dir: Path, save_every: int | None = None,
             seconds: float | None = None, start: str | Path | None = None) -> Path:
    """Train the scratch supernet of ``cfg`` (or ``start``'s trained one) on the pooled classes; its checkpoint.

    The K-way classifier is added as one more arity of ``space.n_ways``; every other parameter
    starts from exactly the scratch arm's seeded W. ``save_every`` also keeps a checkpoint every
    that many steps (``ckpt-<step>``), so one run serves priors of several lengths. ``seconds``
    caps the wall clock: the run ends at the first step boundary at or past it (the steps done are
    the checkpoint's round and ``pretrain.json``'s ``steps``), whichever of the two comes first;
    ``steps=None`` leaves the clock alone to end it. ``start`` (a checkpoint) begins from its trained
    W instead: meta-training first, then plain pretraining (a hybrid of the two arms).
    """
    if steps is None and seconds is None:
        raise ValueError("pretrain needs a budget: steps, seconds or both")
    if steps is None and save_every:
        raise ValueError("save_every needs a step count (it sizes the checkpoints kept)")
    started = time.perf_counter()
    configure_process(cfg)
    device = resolve_device(cfg.device)
    data = PooledBatches(cfg)
    head = cfg.space.heads[0]

    def supervised(space: SpaceConfig) -> SpaceConfig:
        space.bayes.kl_prior = "fixed"  # there is no meta-learned Gaussian to stay near: plain supervised training
        return space

    if start is None:
        W, W_space = get_state(seeded_metanet(cfg)), cfg.space
    else:
        post = load_posterior(start)
        W, W_space = post.W, post.space
    fitted = fit_to_target(W, W_space, cfg, image_size=head.image_size,
                           in_channels=head.in_channels, n_classes=data.n_classes, device=device, modes=supervised)
    model, space = fitted.model, fitted.space
    groups = make_optimizers(model, cfg.meta.inner_optimizer, cfg.meta.inner_lr_weights, cfg.meta.inner_lr_arch,
                             cfg.meta.inner_momentum)
    tau = cfg.space.arch.tau_start
    out_cfg = config_with_space(cfg, space)
    run_dir.mkdir(parents=True, exist_ok=True)
    store = CheckpointStore(run_dir / CHECKPOINT_SUBDIR, keep=steps // save_every + 1 if steps and save_every else 1)

    def save(done: int) -> Path:
        return save_meta_checkpoint(store, out_cfg, done, cpu_fp32(get_state(model)), {}, kind="pretrain")

    t0 = time.perf_counter()
    model.train()
    done = 0
    for step in itertools.count() if steps is None else range(steps):
        if seconds is not None and time.perf_counter() - started >= seconds:
            break
        if save_every and step and step % save_every == 0:
            save(step)
        x, y = data.batch(step)
        noise = make_generator(cfg.seed, "pretrain-noise", step, device=device)
        loss, _, _ = optimizer_step(model, groups, x.to(device), y.to(device), data.n_classes, noise, tau,
                                    cfg.meta.grad_clip)
        done = step + 1
        if step % 500 == 0:
            log.info("pretrain step %d/%s | loss %.3f | %.0f s", step, steps or "clock", float(loss.detach()),
                     time.perf_counter() - t0)
    record = {"steps": done, "classes": data.n_classes, "seconds": round(time.perf_counter() - t0, 1),
              "wall_s": round(time.perf_counter() - started, 1), "seconds_budget": seconds,
              "torch_threads": torch.get_num_threads(), "start": None if start is None else str(start)}
    (run_dir / "pretrain.json").write_text(json.dumps(record) + "\n")
    return save(done)


def prior_space_config(checkpoint: str | Path, cfg: ExperimentConfig) -> ExperimentConfig:
    """``cfg`` with the seed, space, data and meta settings of the meta-prior ``checkpoint``.

    The seed matters: :func:`pretrain` then starts from exactly the W the prior was meta-trained from.
    """
    ckpt = load_checkpoint(checkpoint)
    saved = ckpt.meta.get("config") or {}
    # One validation of the merged tree: field by field, cfg's data.n_way could clash with the prior's space.
    merged = {**config_to_dict(cfg), **{k: saved[k] for k in ("seed", "space", "data", "meta") if k in saved}}
    return config_from_dict(merged, origin=f"config of {ckpt.path}")
