"""``run_search``: a Ray Tune search over meta-hyper-parameters, one full meta-training per trial.

Layout of the search run directory (absolute)::

    config.yaml       the base config          best.yaml     base config + the best trial's params
    tune.yaml         the search spec          results.csv   one row per trial, best first
    mlflow.db         parent run + one child run per trial (unless tracking_uri / $MLFLOW_TRACKING_URI)
    trials/<id>/      each trial's meta-train run dir (checkpoints, metrics.jsonl, genotype.json)
    ray_results/      Ray Tune's own experiment state (RunConfig.storage_path)

Example:
    >>> from base_dist.config import load_config
    >>> cfg = load_config("jobs/configs/tiny.yaml", ["tracking.mlflow=true"])
    >>> out = run_search(cfg, load_tune_spec("jobs/configs/tune_tiny.yaml"), "/tmp/tune-1")  # doctest: +SKIP
    >>> out.best_path.name                                                                    # doctest: +SKIP
    'best.yaml'
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from base_dist.config import ExperimentConfig, config_to_dict, save_config
from base_dist.errors import UserError
from base_dist.track.mlflow_logger import resolve_tracking_uri, start_tracker
from base_dist.tune.params import apply_params, prepare_base, search_space
from base_dist.tune.resources import placement_group_factory, trial_bundles
from base_dist.tune.results import (
    BEST_FILE,
    RESULTS_FILE,
    close_child_runs,
    columns_of,
    format_table,
    result_row,
    sort_rows,
    write_best_config,
    write_results_csv,
)
from base_dist.tune.spec import TuneSpec
from base_dist.tune.trial import TrialContext, run_trial

log = logging.getLogger(__name__)


@dataclass
class SearchResult:
    """What :func:`run_search` returns: the table (best first), the best trial, the files written."""

    run_dir: Path
    rows: list[dict[str, Any]]
    best_params: dict[str, Any]
    best_metric: float
    best_trial_id: str
    best_path: Path
    results_path: Path
    table: str
    parent_run_id: str | None = None
    tracking_uri: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _absolute_data_roots(base: dict[str, Any]) -> dict[str, Any]:
    """Trials run in Tune's trial folders: pin relative ``data.root`` / ``data.sources[].root`` to this cwd."""
    data = base.get("data", {})
    if data.get("root"):
        data["root"] = str(Path(data["root"]).absolute())
    for src in data.get("sources", []):
        if src.get("root"):
            src["root"] = str(Path(src["root"]).absolute())
    return base


def make_searcher(spec: TuneSpec, seed: int) -> Any:
    """``random``: Tune's BasicVariantGenerator; ``optuna``: OptunaSearch (TPE), both capped at max_concurrent.

    Example:
        >>> make_searcher(spec, seed=0)   # doctest: +SKIP
        <ray.tune.search.basic_variant.BasicVariantGenerator object at ...>
    """
    if spec.search == "optuna":
        try:
            import optuna
            from ray.tune.search import ConcurrencyLimiter
            from ray.tune.search.optuna import OptunaSearch
        except ImportError as err:
            raise UserError("search: optuna needs the optuna package: pip install optuna "
                            "(or pip install -e '.[tune]'), or use search: random") from err
        for path, param in spec.params.items():
            if param.kind == "choice" and any(isinstance(v, (list, dict)) for v in param.args):
                raise UserError(f"params.{path}: optuna only takes scalar choices; use search: random")
        sampler = optuna.samplers.TPESampler(seed=seed)
        return ConcurrencyLimiter(OptunaSearch(metric=spec.metric, mode=spec.mode, sampler=sampler),
                                  max_concurrent=spec.max_concurrent)
    from ray.tune.search.basic_variant import BasicVariantGenerator

    return BasicVariantGenerator(random_state=seed, max_concurrent=spec.max_concurrent)


def make_scheduler(spec: TuneSpec, rounds: int) -> Any:
    """ASHA over reported rounds (``max_t = meta.rounds``) or FIFO.

    Example:
        >>> make_scheduler(spec, rounds=10)   # doctest: +SKIP
        <ray.tune.schedulers.async_hyperband.AsyncHyperBandScheduler object at ...>
    """
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    if spec.scheduler.name == "fifo":
        return FIFOScheduler()
    return ASHAScheduler(time_attr="training_iteration", max_t=rounds,
                         grace_period=min(spec.scheduler.grace_period, rounds),
                         reduction_factor=spec.scheduler.reduction_factor)


def _check_fits(cfg: ExperimentConfig, spec: TuneSpec, base: dict[str, Any]) -> None:
    """A trial whose placement group can never fit would wait forever: fail now instead."""
    import ray

    total = ray.cluster_resources()
    worst: dict[str, float] = {}
    probes = [cfg]
    for path, param in spec.params.items():
        if path.startswith("dist."):
            probes += [apply_params(base, {path: v}) for v in param.values()]
    for c in probes:
        need: dict[str, float] = {}
        for bundle in trial_bundles(c, spec.driver_cpus):
            for k, v in bundle.items():
                need[k] = need.get(k, 0.0) + v
        for k, v in need.items():
            worst[k] = max(worst.get(k, 0.0), v)
    for k, v in worst.items():
        if v > total.get(k, 0.0) + 1e-9:
            raise UserError(f"one trial needs {v:g} {k} (driver_cpus + dist.workers x dist.num_*_per_worker) but "
                            f"the Ray cluster has {total.get(k, 0.0):g}; lower them or add nodes")


class _ProgressLines:
    """A Tune callback printing one line per report / finished trial (built lazily: imports Ray)."""

    @staticmethod
    def make(echo: Callable[[str], None], metric: str, rounds: int) -> Any:
        from ray.tune import Callback

        class ProgressLines(Callback):
            def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
                echo(f"tune: {trial.trial_id} round {int(result.get('rounds_done', 0))}/{rounds} "
                     f"{metric}={float(result.get(metric, math.nan)):.4f} ({float(result.get('trial_s', 0)):.1f} s)")

            def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
                echo(f"tune: {trial.trial_id} done")

            def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
                echo(f"tune: {trial.trial_id} FAILED (see {trial.local_path or 'the trial log'})")

        return ProgressLines()


def _summary_params(spec: TuneSpec) -> dict[str, str]:
    out = {"tune.metric": spec.metric, "tune.mode": spec.mode, "tune.num_samples": str(spec.num_samples),
           "tune.max_concurrent": str(spec.max_concurrent), "tune.search": spec.search,
           "tune.scheduler": spec.scheduler.name, "tune.eval_tasks": str(spec.eval_tasks)}
    for path, param in spec.params.items():
        out[f"tune.space.{path}"] = json.dumps({param.kind: param.args})
    return out


def run_search(cfg: ExperimentConfig, spec: TuneSpec, run_dir: str | Path, *, spec_origin: str = "tune spec",
               echo: Callable[[str], None] = print) -> SearchResult:
    """Run the search on the current (or a joined / started) Ray cluster and write its outputs.

    Raises :class:`UserError` for a bad spec (unknown config path, values the config rejects), a
    trial that cannot fit the cluster, a missing optuna, or when every trial failed.

    Example:
        >>> res = run_search(cfg, spec, "/abs/runs/tune-1")   # doctest: +SKIP
        >>> res.best_params                                   # doctest: +SKIP
        {'meta.inner_lr_weights': 0.031, 'meta.inner_steps': 5}
    """
    cfg = prepare_base(cfg, spec, spec_origin)
    run_dir = Path(run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    user_base = config_to_dict(cfg)
    base = _absolute_data_roots(config_to_dict(cfg))
    seed = cfg.seed if spec.seed is None else spec.seed
    searcher = make_searcher(spec, seed)
    save_config(cfg, run_dir / "config.yaml")
    (run_dir / "tune.yaml").write_text(yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True), sort_keys=False))

    from ray import tune

    from base_dist.ray_cluster import connect

    connection = connect(cfg.dist)
    try:
        _check_fits(cfg, spec, base)
        uri = resolve_tracking_uri(cfg, run_dir) if cfg.tracking.mlflow else None
        parent_cfg = cfg.model_copy(update={"tracking": cfg.tracking.model_copy(update={"tracking_uri": uri})})
        parent = start_tracker(parent_cfg, run_dir, run_name=f"{cfg.name}-tune", resume=False,
                               tags={"command": "tune", "search": spec.search, "scheduler": spec.scheduler.name})
        status = "FAILED"
        try:
            parent.log_params({**_summary_params(spec)})
            ctx = TrialContext(base=base, search_dir=str(run_dir), tracking_uri=uri,
                               parent_run_id=parent.run_id, eval_tasks=spec.eval_tasks,
                               adapt_metric=spec.adapt_metric)
            trainable = tune.with_resources(
                tune.with_parameters(run_trial, ctx=ctx),
                lambda config: placement_group_factory(apply_params(base, config, "tune trial"), spec.driver_cpus))
            tuner = tune.Tuner(
                trainable,
                param_space=search_space(spec),
                tune_config=tune.TuneConfig(metric=spec.metric, mode=spec.mode, num_samples=spec.num_samples,
                                            search_alg=searcher, scheduler=make_scheduler(spec, cfg.meta.rounds)),
                run_config=tune.RunConfig(name="search", storage_path=str(run_dir / "ray_results"), verbose=0,
                                          callbacks=[_ProgressLines.make(echo, spec.metric, cfg.meta.rounds)],
                                          failure_config=tune.FailureConfig(max_failures=0)),
            )
            grid = tuner.fit()
            result = _finish(cfg, spec, run_dir, grid, user_base, uri, parent)
            status = "FINISHED"
            return result
        finally:
            parent.end(status)
            if uri and parent.run_id:
                try:
                    close_child_runs(uri, parent.run_id)
                except Exception as err:  # tidying must never hide the search's own outcome
                    log.warning("could not close leftover MLflow child runs (%s)", err)
    finally:
        connection.close()


def _finish(cfg: ExperimentConfig, spec: TuneSpec, run_dir: Path, grid: Any, user_base: dict[str, Any],
            uri: str | None, parent: Any) -> SearchResult:
    """Table, best.yaml, parent-run summary."""
    names = list(spec.params)
    rows = sort_rows([result_row(r, cfg.meta.rounds, names) for r in grid], spec.metric, spec.mode)
    columns = columns_of(rows, names)
    results_path = write_results_csv(rows, columns, run_dir / RESULTS_FILE)
    table = format_table(rows, columns)
    ok = [r for r in rows if r["status"] != "error" and isinstance(r.get(spec.metric), float)
          and math.isfinite(r[spec.metric])]
    if not ok:
        first = next((r.get("error") for r in rows if r.get("error")), "no trial reported a finite metric")
        raise UserError(f"tune: every trial failed ({first}); see {run_dir / 'ray_results'} and {results_path}")
    best = ok[0]
    best_params = {n: best[n] for n in names}
    best_cfg = apply_params(user_base, best_params, "best trial")
    header = (f"base-dist tune: best of {len(rows)} trials by {spec.metric} ({spec.mode}) = "
              f"{best[spec.metric]:.4f}\ntrial {best['trial_id']}, search dir {run_dir}\n"
              f"params: {json.dumps(best_params)}")
    best_path = write_best_config(best_cfg, run_dir / BEST_FILE, header)
    parent.log_metrics({f"best_{spec.metric}": best[spec.metric], "trials": float(len(rows)),
                        "trials_failed": float(sum(r["status"] == "error" for r in rows)),
                        "trials_stopped": float(sum(r["status"] == "stopped" for r in rows))}, step=0)
    parent.set_tag("best_trial_id", best["trial_id"])
    for path in (best_path, results_path, run_dir / "tune.yaml"):
        parent.log_artifact(path)
    return SearchResult(run_dir=run_dir, rows=rows, best_params=best_params, best_metric=float(best[spec.metric]),
                        best_trial_id=str(best["trial_id"]), best_path=best_path, results_path=results_path,
                        table=table, parent_run_id=parent.run_id, tracking_uri=uri)


__all__ = ["SearchResult", "run_search", "make_searcher", "make_scheduler"]
