"""`base-dist pretrain`: the plain-pretraining baseline of a prior, for a budget of steps or seconds.

The same supernet a prior was meta-trained from (its seed, space, data and meta settings), trained
supervised on the pooled meta-train classes instead. ``base-dist adapt --checkpoint RUN_DIR`` adapts
the result like a prior: the comparison BASE's meta-learning has to win.

Example:
    $ base-dist pretrain --prior glyphs-fmnist --seconds 750 --set dist.torch_threads=2 --run-dir runs/pre
    $ base-dist pretrain --checkpoint runs/prior --run-dir runs/pre-steps     # the prior's own SGD steps
    $ base-dist pretrain --prior glyphs-fmnist --steps 800 --without-source fashion-mnist
    $ base-dist pretrain --checkpoint runs/prior/checkpoints/ckpt-000005.safetensors --from-trained --seconds 490
    $ base-dist adapt --checkpoint runs/pre --dataset digits
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from base_dist.cli.common import config_options, echo_run_dir, resolve_config
from base_dist.config import ExperimentConfig
from base_dist.errors import UserError


def _pretrain_config(cfg: ExperimentConfig, source: Path | None, overrides: tuple[str, ...],
                     without: tuple[str, ...]) -> ExperimentConfig:
    """``cfg`` with the prior's network settings (if any), then ``--set``, then the sources left out."""
    from base_dist.config import apply_overrides, config_from_dict, config_to_dict
    from base_dist.report.pretrain import prior_space_config

    if source is not None:  # the prior's settings define the network; --set still has the last word
        cfg = config_from_dict(apply_overrides(config_to_dict(prior_space_config(source, cfg)), list(overrides)))
    names = [s.name for s in cfg.data.sources]
    unknown = sorted(set(without) - set(names))
    if unknown:
        raise UserError(f"--without-source {', '.join(unknown)}: not a source of this config ({', '.join(names)})")
    if set(names) <= set(without):
        raise UserError("--without-source leaves no source to pretrain on; keep at least one of " + ", ".join(names))
    cfg.data.sources = [s for s in cfg.data.sources if s.name not in without]
    return cfg


@click.command(name="pretrain")
@config_options
@click.option("--prior", default=None, help="start from the network of this shipped prior (see `base-dist priors`)")
@click.option("--checkpoint", type=click.Path(path_type=Path), default=None,
              help="start from the network of this meta-train checkpoint or run directory")
@click.option("--steps", type=click.IntRange(min=0), default=None,
              help="SGD steps (default with --prior/--checkpoint and no --seconds: the prior's own, rounds x tasks "
                   "x inner steps)")
@click.option("--seconds", type=click.FloatRange(min=0), default=None,
              help="wall-clock budget: stop at the first step boundary at or past it (data loading included)")
@click.option("--without-source", "without", multiple=True, metavar="NAME",
              help="leave this data source out of the pooled classes (repeatable)")
@click.option("--from-trained", is_flag=True, default=False,
              help="start from the prior's trained W, not its seeded init: meta-training, then plain pretraining")
def command(config_path: Path | None, overrides: tuple[str, ...], run_dir: Path | None, prior: str | None,
            checkpoint: Path | None, steps: int | None, seconds: float | None, without: tuple[str, ...],
            from_trained: bool) -> None:
    """Pretrain a prior's supernet supervised on its pooled classes: the baseline meta-learning must beat.

    Without --prior/--checkpoint, the seeded supernet of --config. Writes RUN_DIR/checkpoints and
    pretrain.json (steps done, seconds, threads); adapt it with `base-dist adapt --checkpoint RUN_DIR`.
    """
    from base_dist.meta.prior import shipped_prior

    if checkpoint is not None and prior is not None:
        raise UserError("pass --checkpoint or --prior, not both")
    if checkpoint is not None and not checkpoint.exists():
        raise UserError(f"--checkpoint {checkpoint}: no such file or directory")
    source = shipped_prior(prior) if prior is not None else checkpoint
    if from_trained and source is None:
        raise UserError("--from-trained needs the prior to start from: add --prior NAME or --checkpoint CKPT|RUN_DIR")
    if source is None and steps is None and seconds is None:
        raise UserError("pass --steps N or --seconds S (or --prior/--checkpoint to take the prior's steps)")
    cfg = _pretrain_config(resolve_config(config_path, () if source else overrides), source, overrides, without)
    from base_dist.cli.meta_train import setup_logging
    from base_dist.report.pretrain import budget_steps, pretrain
    from base_dist.track.rundir import check_run_dir, open_run_dir

    if run_dir is not None:
        check_run_dir(run_dir, resume=False, resumable=False)

    if steps is None and seconds is None:
        steps = budget_steps(source)
    setup_logging()
    with open_run_dir("pretrain", run_dir, cfg) as run_dir:
        ckpt = pretrain(cfg, steps, run_dir, seconds=seconds, start=source if from_trained else None)
    record = json.loads((run_dir / "pretrain.json").read_text())
    click.echo(f"pretrain: {record['steps']} SGD steps over {record['classes']} classes "
               f"({', '.join(s.name for s in cfg.data.sources)}) in {record['wall_s']:.1f} s")
    click.echo(f"checkpoint: {ckpt}")
    click.echo(f"adapt it: base-dist adapt --checkpoint {run_dir} --dataset DATASET")
    echo_run_dir(run_dir)
