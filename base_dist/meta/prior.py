"""The meta-network a run starts from, and the one loader of a saved posterior (a prior or an adapted one).

- :func:`seeded_metanet`: the meta-network of ``cfg.space`` with its seeded initial weights (the
  "from scratch" W every run and every baseline starts from).
- :func:`load_posterior`: a meta-train, adapt or pretrain checkpoint (file or run directory) as a
  :class:`Posterior` — W, its search space, config, rounds and kind.
- :func:`shipped_priors` / :func:`shipped_prior`: the priors that come with the package
  (``base_dist/meta/priors/<name>/``: ``prior.safetensors``, a checkpoint, and ``card.json``, what it
  was trained on and what it measured), found by name.
- :func:`start_W`: the W a meta-training starts from, the seeded one or ``meta.init``'s (a pretrained or
  earlier meta-trained network on the config's space).
- :func:`fit_to_target`: a posterior's W on a meta-network that has the head and classifier a new
  target needs (extend the space, build the network, transfer the state: :mod:`base_dist.meta.heads`).

Example:
    >>> from base_dist.config import load_config
    >>> cfg = load_config("jobs/configs/tiny.yaml")
    >>> fitted = fit_to_target(get_state(seeded_metanet(cfg)), cfg.space, cfg, image_size=28, in_channels=1,
    ...                        n_classes=10)
    >>> sorted(h.image_size for h in fitted.space.heads), 10 in fitted.space.n_ways
    ([16, 28], True)
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from base_dist.config import ExperimentConfig, SpaceConfig
from base_dist.errors import UserError
from base_dist.meta.heads import extend_space, transfer_state
from base_dist.space.meta_state import cpu_fp32, get_state, load_state
from base_dist.space.metanet import MetaNetwork, create_metanet
from base_dist.track.checkpoint import load_checkpoint, space_of
from base_dist.utils import derive_seed


def init_seed(cfg: ExperimentConfig) -> int:
    """Seed of the meta-network's initial weights (independent of the global RNG).

    Example:
        >>> from base_dist.config import load_config
        >>> init_seed(load_config(None)) == init_seed(load_config(None))
        True
    """
    return derive_seed(cfg.seed, "init")


def seeded_metanet(cfg: ExperimentConfig, device: torch.device | str = "cpu", space: SpaceConfig | None = None) -> MetaNetwork:
    """The meta-network of ``space`` (default ``cfg.space``) with ``cfg``'s seeded initial weights.

    Example:
        >>> from base_dist.config import load_config
        >>> net = seeded_metanet(load_config("jobs/configs/tiny.yaml"))
        >>> next(iter(dict(net.named_parameters())))
        'arch.normal'
    """
    return create_metanet(space or cfg.space, seed=init_seed(cfg)).to(device)


@dataclass
class Posterior:
    """A checkpoint's ``W`` with its search space, config, rounds done and kind (meta-train/adapt/pretrain)."""

    W: OrderedDict[str, Tensor]
    space: SpaceConfig
    config: dict[str, Any]
    rounds: int
    kind: str
    path: Path


PRIORS_DIR = Path(__file__).with_name("priors")
PRIOR_FILE, CARD_FILE = "prior.safetensors", "card.json"


def shipped_priors() -> dict[str, dict[str, Any]]:
    """``name -> card`` of every prior shipped in the package (the card says what it was trained on and measured).

    Example:
        >>> "glyphs-fmnist" in shipped_priors()
        True
    """
    out: dict[str, dict[str, Any]] = {}
    for folder in sorted(PRIORS_DIR.iterdir()) if PRIORS_DIR.is_dir() else []:
        if (folder / PRIOR_FILE).is_file() and (folder / CARD_FILE).is_file():
            out[folder.name] = json.loads((folder / CARD_FILE).read_text())
    return out


def shipped_prior(name: str) -> Path:
    """The checkpoint file of the shipped prior ``name``; an unknown name lists the known ones.

    Example:
        >>> shipped_prior("glyphs-fmnist").name
        'prior.safetensors'
    """
    known = shipped_priors()
    if name not in known:
        raise UserError(f"no shipped prior named {name!r}; shipped: {', '.join(known) or 'none'}", option="prior")
    return PRIORS_DIR / name / PRIOR_FILE


def load_posterior(checkpoint: str | Path) -> Posterior:
    """Load a meta-train, adapt or pretrain checkpoint (a file, a run directory, or the name of a shipped
    prior) as a :class:`Posterior`.

    Raises :class:`base_dist.errors.UserError` (one line) when the path is missing or holds no usable W.

    Example:
        >>> load_posterior("/nonexistent/run")
        Traceback (most recent call last):
        ...
        base_dist.errors.UserError: /nonexistent/run: no such file or directory (expected a run directory or checkpoint)
    """
    p = Path(checkpoint)
    if not p.exists() and str(checkpoint) in shipped_priors():
        p = shipped_prior(str(checkpoint))
    if not p.exists():
        raise UserError(f"{p}: no such file or directory (expected a run directory or checkpoint)")
    ckpt = load_checkpoint(p)
    space = space_of(ckpt)
    W = cpu_fp32(ckpt.tensors["W"])
    if "arch.normal" not in W or "arch.reduce" not in W:
        raise UserError(f"{ckpt.path}: the checkpoint holds no architecture logits (arch.normal/arch.reduce)")
    return Posterior(W=W, space=space, config=dict(ckpt.meta["config"]),
                     rounds=int(ckpt.meta.get("rounds_done", ckpt.round)),
                     kind=str(ckpt.meta.get("kind", "meta-train")), path=Path(ckpt.path))


@dataclass
class FittedNetwork:
    """A meta-network for a target, loaded with the posterior's W (new heads/classifiers by the rules)."""

    model: MetaNetwork
    space: SpaceConfig
    W: OrderedDict[str, Tensor]
    notes: list[str] = field(default_factory=list)


def fit_to_target(W: OrderedDict[str, Tensor], space: SpaceConfig, cfg: ExperimentConfig, *, image_size: int,
                  in_channels: int, n_classes: int, device: torch.device | str = "cpu",
                  modes: Callable[[SpaceConfig], SpaceConfig] | None = None) -> FittedNetwork:
    """``W`` (of ``space``) on a meta-network with a head for ``image_size``/``in_channels`` and an
    ``n_classes``-way classifier; fresh entries come from ``cfg``'s seeded init. ``modes`` may change
    settings that leave W's layout alone (e.g. adaptation's architecture modes). A ``pooled``
    classifier (``meta.pooled_weight``) is left out.

    Example: see the module docstring.
    """
    target, notes = extend_space(space, image_size, in_channels, n_classes)
    if target.pooled_classes:  # meta-training's pooled classifier has no use on a target: leave it out
        target = target.model_copy(update={"pooled_classes": 0})
    if modes is not None:
        target = modes(target)
    model = seeded_metanet(cfg, device, space=target)
    W_new = transfer_state(W, get_state(model), space, target)
    load_state(model, W_new)
    return FittedNetwork(model=model, space=target, W=W_new, notes=notes)


def config_with_space(cfg: ExperimentConfig, space: SpaceConfig) -> ExperimentConfig:
    """A copy of ``cfg`` describing a network of ``space`` (a prior's, fitted to a target), for its run's records.

    ``data.n_way`` must name one of ``space.n_ways``: a prior meta-trained on other task sizes (say
    8-way, ``n_ways: [8, 10]``) adapted with a 5-way config keeps its first arity instead.

    Example:
        >>> from base_dist.config import load_config
        >>> cfg = load_config("jobs/configs/tiny.yaml")
        >>> config_with_space(cfg, cfg.space.model_copy(update={"n_ways": [8, 10]})).data.n_way
        8
    """
    n_way = cfg.data.n_way if cfg.data.n_way in space.n_ways else space.n_ways[0]
    return cfg.model_copy(deep=True, update={"space": space.model_copy(deep=True),
                                             "data": cfg.data.model_copy(update={"n_way": n_way})})


CELL_FIELDS = ("ops", "channels", "layers", "nodes", "stem_multiplier")  # the space settings W's cells depend on


def start_W(cfg: ExperimentConfig, fresh: OrderedDict[str, Tensor]) -> OrderedDict[str, Tensor]:
    """The W meta-training starts from: ``fresh`` (the seeded init of ``cfg.space``) or ``cfg.meta.init``'s W.

    ``meta.init``'s cells and architecture logits must have exactly ``fresh``'s layout, and its
    weights the same sigma parameterisation (a rho means a different sigma under another one);
    heads and classifiers that ``cfg.space`` has and it lacks follow the adapt rules
    (:func:`~base_dist.meta.heads.transfer_state`), and those it has beyond ``cfg.space`` (e.g. a
    pretraining's pooled classifier) are dropped. Raises a one-line
    :class:`~base_dist.errors.UserError` otherwise.

    Example:
        >>> from base_dist.config import load_config
        >>> cfg = load_config("jobs/configs/tiny.yaml")
        >>> fresh = get_state(seeded_metanet(cfg))
        >>> start_W(cfg, fresh) is fresh
        True
    """
    if cfg.meta.init is None:
        return fresh
    try:
        post = load_posterior(cfg.meta.init)
    except UserError as err:
        raise UserError(f"meta.init: {err}") from err
    where = f"meta.init {cfg.meta.init}"
    ours, theirs = cfg.space.bayes.sigma_param, post.space.bayes.sigma_param
    if ours != theirs:
        raise UserError(f"{where}: its weights use space.bayes.sigma_param={theirs}, the config {ours}; "
                        f"set space.bayes.sigma_param={theirs} to start from it")
    differ = [f for f in CELL_FIELDS if getattr(post.space, f) != getattr(cfg.space, f)]
    if differ:
        said = ", ".join(f"space.{f} {getattr(post.space, f)} (config {getattr(cfg.space, f)})" for f in differ)
        sets = " ".join(f"--set space.{f}={getattr(post.space, f)}" for f in differ if f != "ops")
        raise UserError(f"{where}: its cells differ from the config's: {said}; use its settings"
                        + (f" ({sets})" if sets else ""))
    for name, value in fresh.items():
        if name.split(".")[0] in ("heads", "classifiers", "pooled"):
            continue
        got = post.W.get(name)
        if got is None or got.shape != value.shape:
            have = "missing" if got is None else f"shape {tuple(got.shape)}"
            raise UserError(f"{where}: {name} is {have}, the config's space needs {tuple(value.shape)}; start from "
                            "a checkpoint of the same cells (space.channels, layers, nodes, ops)")
    return transfer_state(post.W, fresh, post.space, cfg.space)
