"""`base-dist adapt`: quickly adapt a meta-trained network to a whole dataset.

Example:
    $ base-dist adapt --checkpoint runs/meta-train-x --dataset digits --run-dir runs/adapt-digits
    $ base-dist adapt --prior glyphs-fmnist --dataset digits                  # a shipped prior (base-dist priors)
    $ base-dist adapt --prior glyphs-fmnist --from-scratch --dataset digits   # its network without meta-training
    $ base-dist adapt --from-scratch --dataset digits --config jobs/configs/tiny.yaml   # baseline
"""

from __future__ import annotations

from pathlib import Path

import click

from base_dist.cli.common import config_options, echo_run_dir, flag_overrides, resolve_config
from base_dist.cli.meta_train import setup_logging
from base_dist.errors import UserError


@click.command(name="adapt")
@config_options
@click.option("--checkpoint", type=click.Path(path_type=Path), default=None,
              help="meta-train checkpoint file, or a run directory (its newest good checkpoint)")
@click.option("--prior", default=None, help="a shipped meta-prior by name (see `base-dist priors`)")
@click.option("--from-scratch", is_flag=True, default=False,
              help="start from the seeded initial meta-network instead of a checkpoint (the baseline); with "
                   "--prior or --checkpoint, that network and its settings without the meta-training")
@click.option("--dataset", default=None, help="target dataset (adapt.dataset), e.g. digits")
@click.option("--epochs", type=int, default=None, help="adaptation epochs (adapt.epochs)")
@click.option("--image-size", type=int, default=None, help="image size (adapt.image_size)")
@click.option("--freeze-arch", is_flag=True, default=False, help="keep the architecture fixed (adapt.freeze_arch)")
def command(config_path: Path | None, overrides: tuple[str, ...], run_dir: Path | None, checkpoint: Path | None,
            prior: str | None, from_scratch: bool, dataset: str | None, epochs: int | None, image_size: int | None,
            freeze_arch: bool) -> None:
    """Adapt the meta-network to DATASET; prints the genotype, writes genotype.json, metrics.json and cells.png."""
    from base_dist.meta.prior import shipped_prior
    from base_dist.track.checkpoint import load_checkpoint
    from base_dist.track.rundir import open_run_dir

    if checkpoint is not None and prior is not None:
        raise UserError("pass --checkpoint or --prior, not both")
    source = shipped_prior(prior) if prior is not None else checkpoint
    if source is None and not from_scratch:
        raise UserError("pass --checkpoint CKPT|RUN_DIR, --prior NAME, or --from-scratch for the untrained baseline")
    if checkpoint is not None and not checkpoint.exists():
        raise UserError(f"--checkpoint {checkpoint}: no such file or directory")
    extra = flag_overrides({"adapt.dataset": dataset, "adapt.epochs": epochs, "adapt.image_size": image_size,
                            "adapt.freeze_arch": freeze_arch})
    checkpoint = None if from_scratch else source
    if config_path is None and source is not None:
        # Default settings are the meta-train run's own (its config travels in the checkpoint).
        ckpt = load_checkpoint(source)
        from base_dist.config import apply_overrides, config_from_dict

        cfg = config_from_dict(apply_overrides(dict(ckpt.meta.get("config") or {}), extra + list(overrides)),
                               origin=f"config of {ckpt.path}")
    else:
        cfg = resolve_config(config_path, overrides, extra)
    setup_logging()
    from base_dist.report.stages import adapt_stage
    from base_dist.track.mlflow_logger import start_tracker

    with open_run_dir("adapt", run_dir, cfg) as run_dir, \
            start_tracker(cfg, run_dir, run_name=f"{cfg.name}-adapt", tags={"command": "adapt"}) as tracker:
        result = adapt_stage(cfg, checkpoint, run_dir, tracker)
    for note in result.notes:
        click.echo(f"note: {note}")
    accs = " ".join(f"{100 * h['val_acc']:.1f}%" for h in result.history)
    click.echo(f"adapt {result.info['dataset']}: held-out accuracy per epoch (0 = before): {accs}")
    click.echo(f"genotype: {result.genotype}")
    echo_run_dir(run_dir)
