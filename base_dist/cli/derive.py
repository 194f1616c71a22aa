"""`base-dist derive`: the genotype of an adapted run, or of a meta-train run adapted to a dataset.

Example:
    $ base-dist derive --checkpoint runs/adapt-digits --run-dir runs/derive-digits
    $ base-dist derive --checkpoint runs/meta-train-x --dataset digits             # adapt, most probable
    $ base-dist derive --checkpoint runs/meta-train-x --dataset fashion-mnist --tasks 8   # task average
"""

from __future__ import annotations

from pathlib import Path

import click

from base_dist.cli.common import config_options, echo_run_dir, resolve_config


@click.command(name="derive")
@config_options
@click.option("--checkpoint", type=click.Path(path_type=Path), required=True,
              help="adapt run directory / checkpoint, or a meta-train one (then --dataset is needed)")
@click.option("--dataset", default=None, help="adapt the checkpoint to this dataset first (e.g. digits)")
@click.option("--tasks", type=int, default=None,
              help="average the sampled architectures over K tasks of --dataset (the paper's ImageNet recipe)")
@click.option("--samples", type=click.IntRange(min=1), default=8, help="Gumbel draws per task with --tasks")
def command(config_path: Path | None, overrides: tuple[str, ...], run_dir: Path | None, checkpoint: Path,
            dataset: str | None, tasks: int | None, samples: int) -> None:
    """Derive the genotype (top-2 rule); write genotype.json, cells.png and derive.json into --run-dir."""
    from base_dist.cli.meta_train import setup_logging
    from base_dist.errors import UserError
    from base_dist.report.derive import check_derive_inputs, derive, load_posterior, write_derive_outputs
    from base_dist.track.rundir import open_run_dir

    if tasks is not None and tasks < 1:
        raise UserError(f"--tasks {tasks}: must be >= 1")
    post = load_posterior(checkpoint)  # bad input fails before a run directory is created
    check_derive_inputs(post, dataset, tasks)
    if config_path is not None or overrides:
        if config_path is None:
            from base_dist.config import apply_overrides, config_from_dict

            cfg = config_from_dict(apply_overrides(dict(post.config), list(overrides)), origin=f"config of {post.path}")
        else:
            cfg = resolve_config(config_path, overrides)
    else:
        cfg = None
    setup_logging()
    with open_run_dir("derive", run_dir, cfg) as run_dir:
        result = derive(cfg, post.path, dataset=dataset, tasks=tasks, samples=samples)
        paths = write_derive_outputs(result, run_dir, title=f"derived ({result.info.get('recipe', '')})")
    click.echo(f"recipe: {result.info.get('recipe')}")
    click.echo(f"genotype: {result.genotype}")
    click.echo(f"genotype file: {paths['genotype']}")
    click.echo(f"cells diagram: {paths['cells']}")
    echo_run_dir(run_dir)
