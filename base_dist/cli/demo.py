"""`base-dist demo`: meta-train -> adapt -> derive -> retrain -> report, end to end on the embedded data.

Example:
    $ base-dist demo                       # jobs/configs/demo.yaml, about 10 minutes on 2 cores
    $ base-dist demo --quick --run-dir /tmp/demo   # the tiny config: seconds (tests)
"""

from __future__ import annotations

from pathlib import Path

import click

from base_dist.cli.common import config_options, echo_run_dir, resolve_config

CONFIGS = Path(__file__).resolve().parents[2] / "jobs" / "configs"


@click.command(name="demo")
@config_options
@click.option("--quick", is_flag=True, default=False, help="use jobs/configs/tiny.yaml (seconds; for tests)")
def command(config_path: Path | None, overrides: tuple[str, ...], run_dir: Path | None, quick: bool) -> None:
    """Run the whole pipeline; print where the MLflow runs, the figures and the genotype are."""
    from base_dist.cli.meta_train import setup_logging
    from base_dist.report.demo import run_demo
    from base_dist.track.rundir import open_run_dir

    if config_path is None:
        config_path = CONFIGS / ("tiny.yaml" if quick else "demo.yaml")
    cfg = resolve_config(config_path, overrides)
    setup_logging()
    with open_run_dir("demo", run_dir) as run_dir:
        res = run_demo(cfg, run_dir)
    click.echo(f"demo finished in {res.seconds['total']:.0f} s "
               + " | ".join(f"{k} {v:.0f}s" for k, v in res.seconds.items() if k != "total"))
    click.echo(f"genotype: {res.genotype_path}")
    click.echo(f"cells diagram: {res.cells_path}")
    click.echo("figures: " + ", ".join(str(p) for p in res.figures))
    click.echo(f"summary: {res.summary_path}")
    if res.model_uri:
        click.echo(f"MLflow model: {res.model_uri}")
    if res.tracking_uri:
        click.echo(f"MLflow runs: {res.tracking_uri}")
        click.echo(f"open them with: {res.mlflow_command()}")
    else:
        click.echo("MLflow: off (tracking.mlflow=false)")
    echo_run_dir(run_dir)
