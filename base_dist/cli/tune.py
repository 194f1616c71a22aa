"""`base-dist tune`: a Ray Tune search over meta-hyper-parameters (ASHA / Optuna), best config as YAML.

Example:
    $ base-dist tune --config jobs/configs/demo.yaml --space jobs/configs/tune_space.yaml
    $ base-dist tune --config jobs/configs/tiny.yaml --space jobs/configs/tune_tiny.yaml \\
        --set tracking.mlflow=true --run-dir runs/tune-tiny
"""

from __future__ import annotations

from pathlib import Path

import click

from base_dist.cli.common import config_options, echo_run_dir, resolve_config


@click.command(name="tune")
@config_options
@click.option("--space", "space_path", type=click.Path(path_type=Path), required=True,
              help="TUNE.yaml: metric, scheduler, search, params (format: jobs/configs/tune_space.yaml)")
def command(config_path: Path | None, overrides: tuple[str, ...], run_dir: Path | None, space_path: Path) -> None:
    """Search meta-hyper-parameters: one full meta-training per trial, scored on held-out tasks.

    Writes best.yaml (ready for `base-dist meta-train --config`), results.csv and one MLflow run per
    trial under the search's run.
    """
    from base_dist.cli.meta_train import setup_logging
    from base_dist.track.rundir import open_run_dir
    from base_dist.tune.params import prepare_base
    from base_dist.tune.spec import load_tune_spec

    spec = load_tune_spec(space_path)
    cfg = prepare_base(resolve_config(config_path, overrides), spec, str(space_path))  # before any dir / Ray
    setup_logging()
    from base_dist.tune.search import run_search

    with open_run_dir("tune", run_dir, cfg) as run_dir:
        result = run_search(cfg, spec, run_dir, spec_origin=str(space_path), echo=click.echo)
    click.echo(result.table)
    click.echo(f"best: trial {result.best_trial_id} {spec.metric}={result.best_metric:.4f} "
               f"params {result.best_params}")
    click.echo(f"best config: {result.best_path} (base-dist meta-train --config {result.best_path})")
    click.echo(f"results: {result.results_path}")
    echo_run_dir(result.run_dir)
