"""The TUNE.yaml file of ``base-dist tune``: what to search, how, and with which budget.

Format (every key optional except ``params``; unknown keys are errors)::

    metric: holdout_acc        # holdout_acc | holdout_loss | val_acc | val_loss | train_loss
                               #   | adapt_gain | adapt_acc (once, after meta-training: scheduler fifo)
    mode: max                  # max | min
    num_samples: 8             # trials
    max_concurrent: 2          # trials at once (each also needs its placement group to fit)
    seed: 0                    # of the search algorithm (default: the config's seed)
    eval_tasks: 8              # held-out tasks adapted to at every report (one report per round)
    driver_cpus: 1.0           # CPUs of a trial's driver bundle (the meta_train loop itself)
    scheduler: asha            # asha | fifo, or {name: asha, grace_period: 1, reduction_factor: 2}
    search: random             # random | optuna (needs `pip install optuna`)
    fixed:                     # config values every trial (and best.yaml) uses, like --set
      data.holdout_classes: 5
    params:                    # config path -> one distribution
      meta.inner_lr_weights: {loguniform: [0.01, 0.2]}
      meta.inner_steps: {choice: [2, 5]}
      meta.outer_lr: {uniform: [0.5, 1.0]}

Distributions: ``uniform: [lo, hi]``, ``loguniform: [lo, hi]`` (lo > 0), ``quniform: [lo, hi, q]``,
``randint: [lo, hi]`` and ``lograndint: [lo, hi]`` (integers, ``hi`` inclusive), ``choice: [v, ...]``.
A param path is any leaf of the config tree (``meta.*``, ``space.arch.tau_end``,
``space.bayes.kl_weight_z``, ``data.n_way`` ...); lists are set whole (``choice: [[5], [5, 10]]``).
ASHA's ``max_t`` is ``meta.rounds`` (its time unit is one reported round). Trials are scored on
tasks of held-out classes, so the config needs ``data.holdout_classes >= data.n_way``.

``adapt_gain`` scores what the prior is for: after meta-training, the trial adapts its prior and a
from-scratch supernet to ``adapt.dataset`` for ``adapt.epochs`` (same seed and settings) and
reports the difference of their held-out accuracies (``adapt_acc`` is the prior's alone). It is
measured once per trial, so it needs ``scheduler: fifo``.

Example:
    >>> spec = TuneSpec.model_validate({"params": {"meta.outer_lr": {"uniform": [0.5, 1.0]}}})
    >>> spec.metric, spec.scheduler.name, spec.params["meta.outer_lr"].kind
    ('holdout_acc', 'asha', 'uniform')
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from base_dist.config import read_yaml
from base_dist.errors import UserError

ADAPT_METRICS = ("adapt_gain", "adapt_acc")  # measured once, after a trial's meta-training
METRICS = ("holdout_acc", "holdout_loss", "val_acc", "val_loss", "train_loss", *ADAPT_METRICS)
KINDS = ("uniform", "loguniform", "quniform", "randint", "lograndint", "choice")
_FLOAT_KINDS = ("uniform", "loguniform", "quniform")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ParamSpec(_Strict):
    """One distribution: exactly one of the keys of :data:`KINDS`.

    Example:
        >>> ParamSpec.model_validate({"choice": [2, 5]}).values()
        [2, 5]
    """

    uniform: tuple[float, float] | None = None
    loguniform: tuple[float, float] | None = None
    quniform: tuple[float, float, float] | None = None
    randint: tuple[int, int] | None = None
    lograndint: tuple[int, int] | None = None
    choice: list[Any] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _one_kind(self) -> ParamSpec:
        given = [k for k in KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one distribution of {', '.join(KINDS)} (got {len(given)})")
        kind = given[0]
        args = getattr(self, kind)
        if kind != "choice":
            lo, hi = args[0], args[1]
            if not lo < hi:
                raise ValueError(f"{kind}: lower bound {lo} must be below upper bound {hi}")
            if kind in ("loguniform", "lograndint") and lo <= 0:
                raise ValueError(f"{kind}: bounds must be > 0")
            if kind == "quniform" and args[2] <= 0:
                raise ValueError("quniform: the step q must be > 0")
        return self

    @property
    def kind(self) -> str:
        """The distribution's name (``uniform``, ``choice``, ...)."""
        return next(k for k in KINDS if getattr(self, k) is not None)

    @property
    def args(self) -> Any:
        """Its arguments as written (bounds, or the list of choices)."""
        return getattr(self, self.kind)

    def is_float(self) -> bool:
        """True for continuous distributions (their samples are floats)."""
        return self.kind in _FLOAT_KINDS

    def values(self) -> list[Any]:
        """Values a config must accept: the choices, or both bounds.

        Example:
            >>> ParamSpec.model_validate({"randint": [2, 6]}).values()
            [2, 6]
        """
        return list(self.args) if self.kind == "choice" else [self.args[0], self.args[1]]


class SchedulerSpec(_Strict):
    """``asha`` (early stopping on the reported rounds) or ``fifo`` (every trial runs all rounds)."""

    name: Literal["asha", "fifo"] = "asha"
    grace_period: int = Field(1, ge=1, description="rounds every trial runs before ASHA may stop it")
    reduction_factor: float = Field(2.0, gt=1)


class TuneSpec(_Strict):
    """The whole TUNE.yaml (see the module docstring).

    Example:
        >>> TuneSpec.model_validate({"scheduler": "fifo", "params": {"meta.inner_steps": {"choice": [1]}}}).scheduler.name
        'fifo'
    """

    metric: Literal[METRICS] = "holdout_acc"  # type: ignore[valid-type]
    mode: Literal["max", "min"] = "max"
    num_samples: int = Field(8, ge=1)
    max_concurrent: int = Field(2, ge=1)
    seed: int | None = None
    eval_tasks: int = Field(8, ge=1)
    driver_cpus: float = Field(1.0, ge=0)
    scheduler: SchedulerSpec = Field(default_factory=SchedulerSpec)
    search: Literal["random", "optuna"] = "random"
    fixed: dict[str, Any] = Field(default_factory=dict)
    params: dict[str, ParamSpec] = Field(min_length=1)

    @field_validator("scheduler", mode="before")
    @classmethod
    def _scheduler_shorthand(cls, v: Any) -> Any:
        return {"name": v} if isinstance(v, str) else v

    @model_validator(mode="after")
    def _adapt_metric_needs_fifo(self) -> TuneSpec:
        if self.adapt_metric and self.scheduler.name != "fifo":
            raise ValueError(f"metric {self.metric} is measured once, after each trial's meta-training, so ASHA "
                             "has nothing to stop trials on; use `scheduler: fifo`")
        return self

    @property
    def adapt_metric(self) -> bool:
        """Whether trials are scored by adapting their prior (:data:`ADAPT_METRICS`)."""
        return self.metric in ADAPT_METRICS


def parse_tune_spec(data: Any, origin: str = "tune spec") -> TuneSpec:
    """Validate a TUNE mapping; :class:`UserError` (one line naming the key) on bad input.

    Example:
        >>> parse_tune_spec({"params": {"meta.outer_lr": {"gaussian": [0, 1]}}}, "t.yaml")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        base_dist.errors.UserError: t.yaml: params.meta.outer_lr.gaussian: unknown key (valid: ...
    """
    if not isinstance(data, dict):
        raise UserError(f"{origin}: the top level must be a mapping with at least `params:`")
    try:
        return TuneSpec.model_validate(data)
    except ValidationError as err:
        raise UserError(_one_line(err, origin)) from err


def _one_line(err: ValidationError, origin: str) -> str:
    """``origin: params.meta.outer_lr.gaussian: unknown key ...`` for the first error."""
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "<root>"
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = f"unknown key (valid: {', '.join(_valid_keys(first['loc']))}; format: jobs/configs/tune_space.yaml)"
    extra = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"{origin}: {loc}: {msg}{extra}"


def _valid_keys(loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed where an unknown key ``loc`` was found."""
    if loc and loc[0] == "params":
        return list(KINDS)
    if loc and loc[0] == "scheduler":
        return list(SchedulerSpec.model_fields)
    return list(TuneSpec.model_fields)


def load_tune_spec(path: str | Path) -> TuneSpec:
    """Read and validate a TUNE.yaml file.

    Example:
        >>> load_tune_spec("jobs/configs/tune_tiny.yaml").num_samples
        2
    """
    p = Path(path)
    if not p.is_file():
        raise UserError(f"search space {p}: file not found (see jobs/configs/tune_space.yaml for the format)",
                        option="space")
    return parse_tune_spec(read_yaml(p, "tune space"), str(p))
