"""One pydantic config tree for every command.

Load with :func:`load_config` (YAML + ``--set`` overrides), save with :func:`save_config`.

Example:
    >>> cfg = load_config(None, ["meta.inner_steps=2"])
    >>> cfg.meta.inner_steps
    2
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from base_dist.errors import UserError
from base_dist.utils import write_text_atomic

# What a config, a genotype or a CLI flag may ask for: generous for real use, refused before
# anything is allocated (an image size or a class count of 10**6 would ask for terabytes).
MAX_IMAGE_SIZE = 1024
MAX_CHANNELS = 1024
MAX_LAYERS = 100
MAX_NODES = 16
MAX_CLASSES = 100_000
MAX_ACTIVATION_BYTES = 4 * 2**30  # one float32 activation tensor (batch x channels x size x size)
MAX_CONFIG_BYTES = 4 * 2**20  # a config / tune-space / genotype file is a few KB

ImageSize = Annotated[int, Field(ge=4, le=MAX_IMAGE_SIZE)]
# W's parameter groups, for diagnostics and per-group outer step sizes (base_dist.meta.diagnostics.group_of).
ParamGroup = Literal["phi", "heads", "cells", "rho", "classifier", "pooled"]
PARAM_GROUPS: tuple[str, ...] = get_args(ParamGroup)

DARTS_OPS = [
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
]


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, assignments are validated.

    Numbers are strict: ``true`` or ``2.0`` is not an int, a bool is not a float, and NaN/inf are
    refused (YAML and ``--set`` already give native types, so nothing legitimate needs coercion).
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, strict=True, allow_inf_nan=False)


# ----------------------------------------------------------------------------- space
class HeadConfig(Section):
    """A featurization head: one per (input image size, channels)."""

    image_size: ImageSize = Field(description="input height = width in pixels")
    in_channels: int = Field(1, ge=1, le=4)
    stride: int = Field(1, description="total stride of the stem (1, 2, 4 or 8)")

    @field_validator("stride")
    @classmethod
    def _power_of_two(cls, v: int) -> int:
        if v not in (1, 2, 4, 8):
            raise ValueError("stride must be 1, 2, 4 or 8")
        return v


class ArchConfig(Section):
    """The architecture distribution q(z | phi): Gumbel-softmax, hard straight-through, or softmax."""

    mode: Literal["gumbel", "hard", "softmax"] = Field("gumbel", description="how z is sampled in training")
    eval_mode: Literal["auto", "softmax", "argmax"] = Field(
        "auto", description="evaluation at the posterior mean: softmax(phi) mixes every op, argmax runs one op "
        "per edge; auto = argmax after hard training, else softmax")
    tau_start: float = Field(1.0, gt=0)
    tau_end: float = Field(0.5, gt=0)
    tau_anneal_rounds: int = Field(0, ge=0, description="0 keeps tau at tau_start")


class BayesConfig(Section):
    """Gaussian weights N(mu, sigma) and the KL terms of eq. 9."""

    deterministic: bool = False
    sigma_param: Literal["softplus", "log", "linear"] = Field(
        "softplus", description="sigma = softplus(rho), exp(rho) or |rho|; only linear lets SGD move a small sigma")
    sigma_init: float = Field(1e-3, gt=0)
    prior_mu: float = 0.0
    prior_sigma: float = Field(0.1, gt=0)
    kl_weight_theta: float = Field(1e-6, ge=0, description="weight of KL(q(theta)||p(theta)); 0 disables")
    kl_weight_z: float = Field(1e-4, ge=0, description="weight of KL(q(z)||p(z; alpha)); 0 disables")
    kl_prior: Literal["fixed", "meta"] = Field(
        "fixed", description="KL(q(theta)) to the fixed N(prior_mu, prior_sigma^2), or to the meta-learned "
        "Gaussian a task starts from (eq. 9/11: p(theta; mu, sigma) = W)")


class SpaceConfig(Section):
    """The search space and the meta-network built on it."""

    ops: list[str] = Field(default_factory=lambda: list(DARTS_OPS), min_length=1)
    channels: int = Field(8, ge=1, le=MAX_CHANNELS)
    layers: int = Field(5, ge=1, le=MAX_LAYERS, description="number of cells L")
    nodes: int = Field(4, ge=1, le=MAX_NODES, description="intermediate nodes K per cell")
    stem_multiplier: int = Field(3, ge=1, le=8)
    heads: list[HeadConfig] = Field(
        default_factory=lambda: [
            HeadConfig(image_size=16, stride=1),
            HeadConfig(image_size=28, stride=2),
            HeadConfig(image_size=56, stride=4),
        ],
        min_length=1,
    )
    n_ways: list[Annotated[int, Field(le=MAX_CLASSES)]] = Field(default_factory=lambda: [5, 10], min_length=1)
    pooled_classes: int = Field(0, ge=0, le=MAX_CLASSES, description="arity of the `pooled` classifier over every "
                                "meta-train class (what meta.pooled_weight trains); 0 = none, or, with "
                                "meta.pooled_weight, the meta-train class count of data.sources, set when "
                                "meta-training starts; a number must equal that count")
    arch: ArchConfig = Field(default_factory=ArchConfig)
    bayes: BayesConfig = Field(default_factory=BayesConfig)

    @field_validator("n_ways")
    @classmethod
    def _ways(cls, v: list[int]) -> list[int]:
        if any(n < 2 for n in v):
            raise ValueError("every N-way arity must be >= 2")
        return sorted(set(v))


# ----------------------------------------------------------------------------- data
class SourceSpec(Section):
    """One data source of the task distribution and the image sizes its tasks use."""

    name: str
    root: Path | None = Field(None, strict=False)  # YAML gives a str
    # The minimum is the data layer's (TaskDistribution names the source); the maximum bounds memory.
    image_sizes: list[Annotated[int, Field(le=MAX_IMAGE_SIZE)]] = Field(default_factory=lambda: [28], min_length=1)
    weight: float = Field(1.0, gt=0)
    train_per_class: int | None = Field(None, ge=1, description="training images per class in this source's "
                                        "tasks (default data.train_per_class): a source with thousands of images "
                                        "per class can show its tasks more of them than one with twenty")


class AugmentConfig(Section):
    """Augmentation for full training (random crop with padding, flip, cutout)."""

    crop_padding: int = Field(0, ge=0)
    flip: bool = False
    cutout: int = Field(0, ge=0, description="cutout square side in pixels; 0 disables")


class DataConfig(Section):
    """The task distribution: N-way tasks over sources at several image sizes."""

    root: Path | None = Field(None, strict=False, description="data root; else $BASE_DIST_DATA, else the Debian path")
    sources: list[SourceSpec] = Field(
        default_factory=lambda: [SourceSpec(name="fashion-mnist", image_sizes=[16, 28, 56])], min_length=1
    )
    n_way: int = Field(5, ge=2, le=MAX_CLASSES)
    train_per_class: int = Field(20, ge=1)
    val_per_class: int = Field(10, ge=1)
    holdout_classes: int = Field(0, ge=0, description="classes per source kept out of meta-training")
    split_seed: int = 0
    augment: AugmentConfig = Field(default_factory=AugmentConfig)


# ----------------------------------------------------------------------------- meta
class MetaConfig(Section):
    """BASE meta-training (Algorithm 1)."""

    rounds: int = Field(10, ge=1, description="outer iterations E")
    tasks_per_round: int = Field(4, ge=1, le=100_000, description="C tasks per round")
    inner_steps: int = Field(5, ge=0, description="T SGD steps per task")
    batch_size: int = Field(32, ge=1)
    inner_optimizer: Literal["sgd", "adam"] = "sgd"
    inner_lr_weights: float = Field(0.05, gt=0)
    inner_lr_arch: float = Field(0.05, gt=0)
    inner_momentum: float = Field(0.9, ge=0, lt=1)
    outer_lr: float = Field(1.0, gt=0, description="lambda")
    outer_lr_scale: dict[ParamGroup, Annotated[float, Field(ge=0)]] = Field(
        default_factory=dict, description="lambda multipliers per parameter group (phi, heads, cells, rho, "
        "classifier, pooled; absent: 1), same schedule, e.g. {classifier: 0}: a lambda above 1 on the shared 5-way "
        "classifier, whose labels are permuted per task, random-walks it (docs/results.md)")
    outer_lr_schedule: Literal["constant", "linear", "cosine"] = "constant"
    outer_lr_end: float = Field(0.1, ge=0)
    arch_warmup_rounds: int = Field(0, ge=0, description="first rounds whose outer step leaves phi where it is while "
                                    "the weights train, as P-DARTS and PC-DARTS warm up (the few-shot search's "
                                    "pool collapse survived it: docs/results.md (e))")
    outer_optimizer: Literal["none", "adam"] = "none"
    outer_adam_lr_weights: float = Field(1e-3, gt=0)
    outer_adam_lr_arch: float = Field(3e-3, gt=0)
    second_order: bool = False
    init: str | None = Field(None, description="start W from this checkpoint, run directory or shipped prior "
                             "instead of the seeded init (e.g. a `base-dist pretrain` run: pretraining, then "
                             "meta-training); its cells must match space, missing heads and classifiers follow "
                             "the adapt rules, extra ones are dropped. Rounds count from 0 and draw seed's tasks: "
                             "to continue a run, resume it instead (--resume, more meta.rounds)")
    pooled_weight: float = Field(0.0, ge=0, description="weight of a supervised term in every inner step: the "
                                 "cross-entropy of the `pooled` classifier (sized by space.pooled_classes) on the batch's "
                                 "meta-train class labels, which, unlike a task's permuted labels, mean the same "
                                 "class in every task; 0 = BASE's objective alone")
    eval_before_inner: bool = Field(True, description="measure each task's held-out accuracy at W too (the "
                                    "adaptation gain in metrics.jsonl); costs one evaluation per task")
    grad_clip: float = Field(5.0, gt=0)
    checkpoint_every: int = Field(1, ge=1)
    keep_checkpoints: int = Field(3, ge=1)
    keep_every: int | None = Field(None, ge=1, description="also keep every checkpoint whose round is a "
                                   "multiple of this (the last keep_checkpoints are kept anyway), so an "
                                   "experiment can adapt from a long run's early rounds")
    budget_minutes: float | None = Field(None, gt=0, description="wall-clock budget of one meta-train call, counted "
                                         "from the start of the run (Ray workers' start included, the process's "
                                         "imports not): a round starts only while the minutes spent plus the slowest "
                                         "round so far (its checkpoint and logging included) fit, the first always; "
                                         "the run then ends with a checkpoint (closing takes seconds more) and "
                                         "--resume goes on. Schedules stay laid out over rounds, so a stopped run "
                                         "ends mid-schedule. None = no budget")

    @model_validator(mode="after")
    def _keep_every_saved(self) -> MetaConfig:
        # Only rounds that are saved can be kept: a keep_every off the checkpoint grid keeps nothing.
        if self.keep_every is not None and self.keep_every % self.checkpoint_every:
            raise ValueError(f"meta.keep_every={self.keep_every} is not a multiple of meta.checkpoint_every="
                             f"{self.checkpoint_every}, so no round it names is ever saved: use a multiple")
        return self


# ----------------------------------------------------------------------------- dist
class DistConfig(Section):
    """Ray workers. ``workers: 0`` runs everything in this process, without Ray."""

    workers: int = Field(0, ge=0)
    address: str | None = Field(None, description="Ray address; else $RAY_ADDRESS, else auto/local")
    num_cpus_per_worker: float = Field(1.0, ge=0)
    num_gpus_per_worker: float = Field(0.0, ge=0)
    torch_threads: int = Field(1, ge=1)
    delta_dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    max_task_retries: int = Field(3, ge=0)
    task_timeout_s: float | None = Field(None, gt=0, description="a task running longer is retried on a fresh worker "
                                         "(timed from its worker's start, so start-up is not taken for a hang)")
    worker_start_timeout_s: float | None = Field(300.0, gt=0, description="a worker not started within this "
                                                 "(imports, CUDA, data loading) is replaced, its task retried; "
                                                 "None: wait for ever (e.g. for an autoscaler's new nodes)")
    on_nonfinite: Literal["resample", "skip"] = "resample"
    dashboard_host: str = "127.0.0.1"


# ----------------------------------------------------------------------------- track
class TrackingConfig(Section):
    """MLflow (driver only) and run directories."""

    mlflow: bool = True
    tracking_uri: str | None = Field(None, description="else $MLFLOW_TRACKING_URI, else sqlite in the run dir")
    experiment: str = "base-dist"
    log_checkpoints: bool = False
    registered_model: str | None = Field(None, description="register the model a train run logs under this name "
                                         "in the MLflow model registry (None: log it, do not register)")


# ----------------------------------------------------------------------------- adapt / train
class AdaptConfig(Section):
    """Quick adaptation of the meta-network to a whole dataset."""

    dataset: str = "digits"
    image_size: ImageSize = 16
    epochs: int = Field(3, ge=1)
    batch_size: int = Field(64, ge=1)
    lr_weights: float = Field(0.05, gt=0)
    # 1.0: at 0.01 (and 0.3) one digits epoch left softmax(phi) at ln 8 entropy, so "co-adapted" and
    # "frozen architecture" were one network; at 1.0 phi moves (2.079 -> 2.051) and scratch gains 6 points.
    lr_arch: float = Field(1.0, gt=0)
    tau: float | None = Field(None, gt=0, description="Gumbel temperature; None: the schedule's value at the "
                              "checkpoint's round (tau_start from scratch)")
    freeze_arch: bool = False
    arch_mode: Literal["gumbel", "hard", "softmax"] | None = Field(
        None, description="architecture sampling while adapting; None keeps the prior's space.arch.mode")
    eval_mode: Literal["auto", "softmax", "argmax"] | None = Field(
        None, description="evaluation of the adapted network; None keeps the prior's space.arch.eval_mode")
    max_train_images: int | None = Field(None, ge=1)
    val_fraction: float = Field(0.2, gt=0, lt=1)
    max_val_images: int | None = Field(None, ge=1, description="cap on the held-out part (evaluated every epoch)")


class TrainConfig(Section):
    """Retraining a discrete genotype as a full network (DARTS recipe)."""

    genotype: str = "darts_v2"
    dataset: str = "fashion-mnist"
    image_size: ImageSize = 28
    macro: Literal["cifar", "imagenet"] = "cifar"
    channels: int = Field(16, ge=1, le=MAX_CHANNELS)
    layers: int = Field(8, ge=1, le=MAX_LAYERS)
    epochs: int = Field(10, ge=1)
    batch_size: int = Field(96, ge=1)
    lr: float = Field(0.025, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(3e-4, ge=0)
    auxiliary_weight: float = Field(0.4, ge=0)
    drop_path_prob: float = Field(0.2, ge=0, lt=1)
    grad_clip: float = Field(5.0, gt=0)
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    workers: int = Field(0, ge=0, description="Ray Train data-parallel workers; 0 = in process")
    max_minutes: float | None = Field(None, gt=0, description="wall-clock budget: stop after the epoch in "
                                      "progress once this many minutes have passed (None = no budget)")
    max_train_images: int | None = Field(None, ge=2, description="train on a seeded subset of this many "
                                         "images (quick runs); None = the whole train split")


# ----------------------------------------------------------------------------- fewshot
class FewshotConfig(Section):
    """Few-shot learning of one discrete network with MAML over N-way K-shot episodes (issue 15).

    Defaults are sized for a CPU: 5-way 1-shot glyphs at 28 px, 15 query images per class, a
    meta-batch of 4 episodes, 5 inner SGD steps at lr 0.1 (MAML++'s Omniglot setting) and 10 at test
    time, second-order meta-gradients, outer Adam at 1e-3, 1,000 iterations (about 0.5 s each on one
    CPU thread for conv4, so ~9 minutes; 5-shot ~1.1 s; MAML itself ran 60,000 with meta-batch 32).
    Evaluation: 600 held-out episodes (~40 s for 1-shot).
    """

    source: str = Field("glyphs", description="a source with a fixed class split: glyphs, glyphs-hard, omniglot, mini-imagenet")
    root: Path | None = Field(None, strict=False, description="the source's root; else data.root")
    image_size: ImageSize = 28
    network: str = Field("conv4", description="conv4 (MAML's 4-conv net), conv4-wide (its filters matched to "
                         "param_ratio x its parameters), a genotype name or a genotype file")
    channels: int | None = Field(None, ge=1, le=MAX_CHANNELS, description="conv4 filters (None: 32) or the "
                                 "genotype network's width (None: matched to conv4's parameter count)")
    layers: int = Field(4, ge=1, le=MAX_LAYERS, description="cells of a genotype network")
    param_ratio: float = Field(1.0, gt=0, le=100, description="a genotype or conv4-wide network without "
                               "`channels` gets the width whose parameter count is closest to this many times "
                               "conv4's (conv4 keeps 32 filters); 1 = matched size, the paper's BASE networks had "
                               "~12x MAML's")
    feature_norm: bool = Field(True, description="genotype networks end in BatchNorm-ReLU before the global "
                               "pooling and BatchNorm after it, as conv4's blocks end in BatchNorm-ReLU; "
                               "without it their pooled features are so large that MAML's inner step "
                               "throws the classifier off (docs/results.md)")
    conv_stem: int = Field(0, ge=0, le=4, description="genotype networks: replace DARTS's stem (conv3x3-BatchNorm) "
                           "by this many of conv4's blocks (conv3x3-BatchNorm-ReLU-2x2 max-pool) at the same "
                           "width, so the cells see maps 2^k smaller; 0 = DARTS's stem; conv4 ignores it")
    n_way: int = Field(5, ge=2, le=MAX_CLASSES)
    k_shot: int = Field(1, ge=1, description="support images per class")
    k_query: int = Field(15, ge=1, description="query images per class")
    meta_batch: int = Field(4, ge=1, le=10_000, description="episodes per outer step")
    inner_steps: int = Field(5, ge=0, description="SGD steps on the support set while meta-training")
    inner_lr: float = Field(0.1, gt=0)
    test_inner_steps: int | None = Field(10, ge=0, description="SGD steps at evaluation; None: inner_steps")
    inner_grad_clip: float | None = Field(5.0, gt=0, description="L2 clip of each inner step's gradient, as BASE's "
                                          "inner loop (meta.grad_clip); None: MAML's plain steps")
    first_order: bool = Field(False, description="first-order MAML (no second derivatives)")
    outer_lr: float = Field(1e-3, gt=0, description="Adam's learning rate on the query loss")
    iterations: int = Field(1000, ge=1, description="outer steps")
    checkpoint_every: int = Field(100, ge=1)
    keep_checkpoints: int = Field(2, ge=1)
    log_every: int = Field(50, ge=1, description="progress line every this many iterations")
    val_every: int = Field(0, ge=0, description="evaluate on the val classes every this many iterations; 0: never")
    val_episodes: int = Field(100, ge=2)
    eval_episodes: int = Field(600, ge=2, description="test episodes of `fewshot eval`")
    eval_split: Literal["holdout", "val"] = "holdout"
    eval_source: str | None = Field(None, description="cross-domain check: held-out episodes from this source "
                                    "(e.g. meta-train on fashion-mnist, test on digits); None: the source's holdout")
    eval_seed: int = Field(0, description="seeds the test episodes (not the run's seed: runs are paired)")
    eval_workers: int = Field(1, ge=1, le=64, description="`fewshot eval`: processes the test episodes are split "
                              "over, each with dist.torch_threads threads; the accuracies do not depend on it")
    train_workers: int = Field(1, ge=1, le=64, description="`fewshot train`: processes each meta-batch's episodes are "
                               "split over (and its val scoring), each with dist.torch_threads threads; the trained weights "
                               "and scores do not depend on it")
    select_candidates: int = Field(4, ge=1, le=64, description="`fewshot select`: genotypes to score (the search's "
                                   "most probable, then distinct ones from Gumbel draws of its phi)")
    select_iterations: int = Field(100, ge=1, description="`fewshot select`: MAML iterations per candidate")
    select_val_episodes: int = Field(100, ge=2, description="`fewshot select`: val-class episodes scoring each candidate")
    select_halving: bool = Field(False, description="`fewshot select` by successive halving: every candidate to half "
                                 "of select_iterations and scored; the better half (rounded up) continues to "
                                 "select_iterations and the best of those wins. A continued candidate ends exactly as "
                                 "in the full selection, so the winner differs only where the full selection's was "
                                 "dropped at half time")
    select_workers: int = Field(1, ge=1, le=64, description="`fewshot select`: candidates trained at once, one "
                                "process each with dist.torch_threads threads (2 on a 2-core machine); the scores "
                                "do not depend on it")


class ExperimentConfig(Section):
    """The root of the tree."""

    name: str = "base"
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    space: SpaceConfig = Field(default_factory=SpaceConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    meta: MetaConfig = Field(default_factory=MetaConfig)
    dist: DistConfig = Field(default_factory=DistConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    adapt: AdaptConfig = Field(default_factory=AdaptConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    fewshot: FewshotConfig = Field(default_factory=FewshotConfig)

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentConfig:
        if self.data.n_way not in self.space.n_ways:
            raise ValueError(f"data.n_way={self.data.n_way} has no classifier: add it to space.n_ways")
        sp = self.space
        check_activation("meta.batch_size x space.channels", self.meta.batch_size, sp.channels * sp.stem_multiplier,
                         max(h.image_size // h.stride for h in sp.heads))
        check_activation("adapt.batch_size x space.channels", self.adapt.batch_size, sp.channels * sp.stem_multiplier,
                         self.adapt.image_size)
        check_activation("train.batch_size x train.channels", self.train.batch_size, 3 * self.train.channels,
                         self.train.image_size)
        head_sizes = {h.image_size for h in self.space.heads}
        for src in self.data.sources:
            missing = sorted(set(src.image_sizes) - head_sizes)
            if missing:
                raise ValueError(f"data.sources[{src.name}] uses image sizes {missing} with no head in space.heads")
        return self


def check_activation(what: str, batch: int, channels: int, size: int) -> None:
    """Refuse (ValueError) a shape whose one float32 activation exceeds :data:`MAX_ACTIVATION_BYTES`.

    Example:
        >>> check_activation("profile", 1, 3 * 36, 32)
    """
    need = 4 * batch * channels * size * size
    if need > MAX_ACTIVATION_BYTES:
        raise ValueError(f"{what}: batch {batch} x {channels} channels x {size}x{size} pixels asks for "
                         f"{need / 2**30:.1f} GiB per activation (limit {MAX_ACTIVATION_BYTES // 2**30} GiB); "
                         "use a smaller batch, channel count or image size")


# ----------------------------------------------------------------------------- loading
class _Loader(yaml.SafeLoader):
    """``safe_load`` that also reads ``1e-3`` as a float (YAML 1.2; PyYAML's 1.1 wants ``1.0e-3``).

    Numbers are strict in the tree, so a float written without a dot must not arrive as a string.
    """


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def _parse_value(text: str) -> Any:
    """A ``--set`` value is parsed as YAML (so ``3``, ``true``, ``[16, 28]`` work)."""
    try:
        return _yaml(text)
    except yaml.YAMLError:
        return text
    except RecursionError as err:  # PyYAML composes recursively
        raise UserError(f"override value {text[:40]!r}...: nested too deeply", option="set") from err


def read_text(path: str | os.PathLike, what: str) -> str:
    """The UTF-8 text of a small input file (config, tune space, genotype); one-line UserError otherwise.

    Example:
        >>> read_text("/nonexistent.yaml", "config")
        Traceback (most recent call last):
        ...
        base_dist.errors.UserError: /nonexistent.yaml: cannot read the config (FileNotFoundError: No such file or directory)
    """
    p = Path(path)
    try:
        with p.open("rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as err:
        raise UserError(f"{p}: cannot read the {what} ({type(err).__name__}: {err.strerror or err})") from err
    if len(raw) > MAX_CONFIG_BYTES:
        raise UserError(f"{p}: the {what} is larger than {MAX_CONFIG_BYTES // 2**20} MiB; is this the right file?")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UserError(f"{p}: cannot read the {what} (not UTF-8 text at byte {err.start}; save it as UTF-8)") from err


def read_yaml(path: str | os.PathLike, what: str) -> Any:
    """Parse a YAML file with ``safe_load`` (no tags that build objects); one-line UserError otherwise.

    Example:
        >>> read_yaml("jobs/configs/tiny.yaml", "config")["name"]
        'tiny'
    """
    text = read_text(path, what)
    try:
        return _yaml(text)
    except yaml.YAMLError as err:
        raise UserError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from err
    except RecursionError as err:
        raise UserError(f"{path}: the {what} is nested too deeply to be a {what}") from err


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` overrides to a nested dict (in place) and return it.

    Example:
        >>> apply_overrides({}, ["meta.rounds=3"])
        {'meta': {'rounds': 3}}
    """
    for item in overrides:
        if "=" not in item:
            raise UserError(f"override {item!r}: expected KEY=VALUE, e.g. meta.inner_steps=5", option="set")
        key, value = item.split("=", 1)
        parts = key.strip().split(".")
        if not all(parts):
            raise UserError(f"override {item!r}: empty key segment", option="set")
        node = data
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise UserError(f"override {key}: {part} is not a section", option="set")
            node = child
        node[parts[-1]] = _parse_value(value)
    return data


def format_validation_error(err: ValidationError, origin: str = "config") -> str:
    """One line naming the first offending field."""
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "<root>"
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown key (check the spelling; see jobs/configs/demo.yaml for the valid keys)"
    extra = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"{origin}: {loc}: {msg}{extra}"


def config_from_dict(data: dict[str, Any], origin: str = "config") -> ExperimentConfig:
    """Validate a plain dict into an :class:`ExperimentConfig`, raising :class:`UserError` on bad input."""
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as err:
        raise UserError(format_validation_error(err, origin)) from err


def load_config(path: str | os.PathLike | None, overrides: list[str] | None = None) -> ExperimentConfig:
    """Load a YAML config (or the defaults when ``path`` is None) and apply ``--set`` overrides.

    Example:
        >>> load_config(None).dist.workers
        0
    """
    data: dict[str, Any] = {}
    origin = "config"
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise UserError(f"config file not found: {p}")
        origin = str(p)
        loaded = read_yaml(p, "config")
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise UserError(f"{p}: the top level must be a mapping of sections")
        data = loaded
    apply_overrides(data, overrides or [])
    return config_from_dict(data, origin)


def config_to_dict(cfg: ExperimentConfig) -> dict[str, Any]:
    """Plain, YAML-safe dict of a config (paths as strings)."""
    return cfg.model_dump(mode="json")


def save_config(cfg: ExperimentConfig, path: str | os.PathLike) -> Path:
    """Write the resolved config as YAML, atomically."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    return write_text_atomic(p, yaml.safe_dump(config_to_dict(cfg), sort_keys=False))


def flatten_config(cfg: ExperimentConfig) -> dict[str, str]:
    """``{"meta.inner_steps": "5", ...}`` for logging as params.

    Example:
        >>> flatten_config(load_config(None))["meta.inner_steps"]
        '5'
    """
    out: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        else:
            out[prefix] = str(value)

    walk("", config_to_dict(cfg))
    return out
