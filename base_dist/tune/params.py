"""Config paths as search dimensions: checking them against the config, applying samples, Ray Tune spaces.

Example:
    >>> from base_dist.config import config_to_dict, load_config
    >>> base = config_to_dict(load_config("jobs/configs/tiny.yaml"))
    >>> apply_params(base, {"meta.inner_steps": 3}).meta.inner_steps
    3
"""

from __future__ import annotations

import copy
from typing import Any

from base_dist.config import ExperimentConfig, config_from_dict, config_to_dict
from base_dist.errors import UserError
from base_dist.tune.spec import ParamSpec, TuneSpec

_MISSING = object()


def config_value(data: dict[str, Any], path: str) -> Any:
    """The value at a dotted ``path`` of a config dict, or a sentinel when there is none.

    Example:
        >>> config_value({"meta": {"rounds": 3}}, "meta.rounds")
        3
    """
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def set_value(data: dict[str, Any], path: str, value: Any) -> None:
    """Set ``data[a][b][c] = value`` for ``path == "a.b.c"`` (sections must exist).

    Example:
        >>> d = {"meta": {"rounds": 3}}; set_value(d, "meta.rounds", 5); d
        {'meta': {'rounds': 5}}
    """
    *parents, leaf = path.split(".")
    node = data
    for part in parents:
        node = node[part]
    node[leaf] = value


def apply_params(base: dict[str, Any], params: dict[str, Any], origin: str = "tune params") -> ExperimentConfig:
    """A validated config: ``base`` (a config dict, untouched) with each ``path -> value`` set.

    Example:
        >>> from base_dist.config import config_to_dict, load_config
        >>> apply_params(config_to_dict(load_config(None)), {"meta.outer_lr": 0.5}).meta.outer_lr
        0.5
    """
    data = copy.deepcopy(base)
    for path, value in params.items():
        if config_value(data, path) is _MISSING:
            raise UserError(f"{origin}: {path}: unknown config path")
        set_value(data, path, value)
    return config_from_dict(data, origin)


def _is_int_field(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_params(spec: TuneSpec, base: dict[str, Any], origin: str = "tune spec") -> None:
    """Every param names a config leaf, and the config accepts its bounds / every choice.

    Raises :class:`UserError` naming ``params.<path>`` (unknown path, a section instead of a
    field, a float distribution over an integer field, a value the config rejects).

    Example:
        >>> from base_dist.config import config_to_dict, load_config
        >>> s = TuneSpec.model_validate({"params": {"meta.bogus": {"choice": [1]}}})
        >>> check_params(s, config_to_dict(load_config(None)), "t.yaml")
        Traceback (most recent call last):
        ...
        base_dist.errors.UserError: t.yaml: params.meta.bogus: unknown config path (no such field in the config)
    """
    for path, param in spec.params.items():
        where = f"{origin}: params.{path}"
        current = config_value(base, path)
        if current is _MISSING:
            raise UserError(f"{where}: unknown config path (no such field in the config)")
        if isinstance(current, dict):
            raise UserError(f"{where}: is a config section; search over one of its fields, e.g. {path}.<field>")
        if param.is_float() and _is_int_field(current):
            raise UserError(f"{where}: an integer field; use randint, lograndint or choice instead of {param.kind}")
        for value in param.values():
            try:
                apply_params(base, {path: value})
            except UserError as err:
                reason = str(err).split(": ", 2)[-1]
                raise UserError(f"{where}: the config rejects {value!r} ({reason})") from err


def prepare_base(cfg: ExperimentConfig, spec: TuneSpec, origin: str = "tune spec") -> ExperimentConfig:
    """The search's base config: ``cfg`` with ``spec.fixed`` applied, its params checked, and a usable
    held-out split (trials are scored on held-out classes, unless by adapting their prior to
    ``adapt.dataset``). :class:`UserError` names the key.

    Example:
        >>> from base_dist.config import load_config
        >>> s = TuneSpec.model_validate({"fixed": {"meta.rounds": 3}, "params": {"meta.outer_lr": {"uniform": [0.5, 1]}}})
        >>> prepare_base(load_config("jobs/configs/tiny.yaml"), s).meta.rounds
        3
    """
    base = config_to_dict(cfg)
    for path in spec.fixed:
        if config_value(base, path) is _MISSING:
            raise UserError(f"{origin}: fixed.{path}: unknown config path (no such field in the config)")
    cfg = apply_params(base, dict(spec.fixed), f"{origin}: fixed")
    check_params(spec, config_to_dict(cfg), origin)
    if cfg.meta.budget_minutes is not None or "meta.budget_minutes" in spec.params:
        raise UserError(f"{origin}: meta.budget_minutes would stop trials after different numbers of rounds, but the "
                        "scheduler and the scores compare trials at equal rounds: bound them by meta.rounds "
                        "(fixed: {meta.budget_minutes: null})")
    if spec.adapt_metric:
        return cfg
    from base_dist.data import TaskDistribution

    try:
        TaskDistribution(cfg.data, split="holdout")
    except UserError as err:
        raise UserError(f"{origin}: trials are scored on held-out classes, but {err}; set data.holdout_classes >= "
                        f"data.n_way ({cfg.data.n_way}), e.g. `fixed: {{data.holdout_classes: {cfg.data.n_way}}}`") from err
    return cfg


def to_tune_domain(param: ParamSpec) -> Any:
    """The Ray Tune sampling domain of one distribution (imports Ray).

    Example:
        >>> to_tune_domain(ParamSpec.model_validate({"choice": [2, 5]}))   # doctest: +SKIP
        <ray.tune.search.sample.Categorical object at ...>
    """
    from ray import tune

    a = param.args
    if param.kind == "uniform":
        return tune.uniform(a[0], a[1])
    if param.kind == "loguniform":
        return tune.loguniform(a[0], a[1])
    if param.kind == "quniform":
        return tune.quniform(a[0], a[1], a[2])
    if param.kind == "randint":
        return tune.randint(a[0], a[1] + 1)  # Ray's upper bound is exclusive; ours is inclusive
    if param.kind == "lograndint":
        return tune.lograndint(a[0], a[1] + 1)
    return tune.choice(list(a))


def search_space(spec: TuneSpec) -> dict[str, Any]:
    """``{config path: Tune domain}``: the ``param_space`` of the Tuner.

    Example:
        >>> sorted(search_space(spec))     # doctest: +SKIP
        ['meta.inner_lr_weights', 'meta.inner_steps']
    """
    return {path: to_tune_domain(param) for path, param in spec.params.items()}
