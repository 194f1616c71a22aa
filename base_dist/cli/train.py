"""`base-dist train`: train a genotype's full network with the DARTS recipe.

Example:
    $ base-dist train --genotype darts_v2 --dataset fashion-mnist --set train.epochs=20 --run-dir runs/fm
    $ base-dist train --genotype runs/derive-x/genotype.json --dataset digits --set train.workers=2
    $ base-dist train --resume runs/fm --set train.epochs=30
"""

from __future__ import annotations

from pathlib import Path

import click

from base_dist.cli.common import config_options, echo_run_dir, flag_overrides, resolve_config, resume_settings


def _genotype_key(value: str) -> str:
    """A genotype file becomes an absolute path, so ``config.yaml`` still finds it from another cwd."""
    from base_dist.space.genotypes import is_genotype_file

    return str(Path(value).resolve()) if is_genotype_file(value) else value


@click.command(name="train")
@config_options
@click.option("--genotype", default=None, help="registry name (darts_v1, darts_v2, base_cifar10, base_imagenet) "
              "or a genotype file (JSON or DARTS Genotype(...) text); default: train.genotype")
@click.option("--dataset", default=None, help="dataset to train and test on, e.g. fashion-mnist, digits "
              "(train.dataset)")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="epochs (train.epochs)")
@click.option("--workers", type=click.IntRange(min=0), default=None,
              help="Ray Train data-parallel workers; 0 trains in this process (train.workers)")
@click.option("--resume", "resume_dir", type=click.Path(path_type=Path), default=None,
              help="continue the run in this directory from its newest good checkpoint "
                   "(its config.yaml is used unless --config is given; --set still applies)")
def command(config_path: Path | None, overrides: tuple[str, ...], run_dir: Path | None, genotype: str | None,
            dataset: str | None, epochs: int | None, workers: int | None, resume_dir: Path | None) -> None:
    """Train a genotype's full network; report test accuracy, parameters, MACs and wall time."""
    from base_dist.cli.meta_train import setup_logging
    from base_dist.data import check_dataset
    from base_dist.space.genotypes import get_genotype
    from base_dist.track.rundir import check_run_dir, open_run_dir
    from base_dist.train.run import train

    resume, run_dir, config_path = resume_settings(resume_dir, run_dir, config_path, "train")
    extra = flag_overrides({"train.genotype": None if genotype is None else _genotype_key(genotype),
                            "train.dataset": dataset, "train.epochs": epochs, "train.workers": workers})
    cfg = resolve_config(config_path, overrides, extra)
    # Bad names fail here, before a run directory is created.
    get_genotype(cfg.train.genotype)
    check_dataset(cfg.train.dataset)
    setup_logging()
    # No cfg: train writes config.yaml once the directory (and a resumed checkpoint) is accepted.
    with open_run_dir("train", run_dir) as run_dir:
        check_run_dir(run_dir, resume)
        result = train(cfg, run_dir, resume=resume)
    click.echo(result.results_line())
    if result.metrics.get("mlflow_model_uri"):
        click.echo(f"MLflow model: {result.metrics['mlflow_model_uri']}")
    echo_run_dir(run_dir)
