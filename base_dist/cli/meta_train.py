"""`base-dist meta-train`: BASE Algorithm 1, in process or on Ray workers (``dist.workers``).

Example:
    $ base-dist meta-train --config jobs/configs/tiny.yaml --set dist.workers=0 --run-dir runs/tiny
    $ base-dist meta-train --resume runs/tiny --set meta.rounds=10
    $ base-dist meta-train --config jobs/configs/prior.yaml --init runs/pre --set meta.rounds=5   # after pretraining
    $ base-dist meta-train --config jobs/configs/prior.yaml --set meta.budget_minutes=60           # never past an hour
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

from base_dist.cli.common import config_options, echo_run_dir, resolve_config, resume_settings
from base_dist.errors import UserError


def setup_logging() -> None:
    """Progress and notes go to stderr as plain lines unless logging is configured already."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("base_dist").setLevel(logging.INFO)


@click.command(name="meta-train")
@config_options
@click.option("--resume", "resume_dir", type=click.Path(path_type=Path), default=None,
              help="continue the run in this directory from its newest good checkpoint "
                   "(its config.yaml is used unless --config is given; --set still applies)")
@click.option("--init", "init", default=None, metavar="CKPT|RUN_DIR|PRIOR",
              help="start from this network's W instead of the seeded init (meta.init), e.g. a `base-dist "
                   "pretrain` run; its cells must match the config's space")
def command(config_path: Path | None, overrides: tuple[str, ...], run_dir: Path | None,
            resume_dir: Path | None, init: str | None) -> None:
    """Meta-train the BASE meta-network: rounds of C tasks, T inner steps each, outer update, checkpoints."""
    from base_dist.distributed import create_trainer
    from base_dist.meta.prior import seeded_metanet, start_W
    from base_dist.meta.task import check_meta_config
    from base_dist.space.meta_state import get_state
    from base_dist.track.rundir import check_run_dir, open_run_dir

    if init is not None and resume_dir is not None:
        raise UserError("--init starts a new run; a resumed run keeps the start in its config.yaml (drop --init)")
    resume, run_dir, config_path = resume_settings(resume_dir, run_dir, config_path, "meta-train")
    cfg = resolve_config(config_path, overrides)
    if init is not None:
        cfg.meta.init = init
    check_meta_config(cfg)  # refuse what the strategy cannot run before the run directory exists
    if cfg.meta.init is not None:
        start_W(cfg, get_state(seeded_metanet(cfg)))  # likewise a bad start
    setup_logging()
    # No cfg: meta_train writes config.yaml only once the directory (and a resumed checkpoint) is accepted.
    with open_run_dir("meta-train", run_dir) as run_dir:
        check_run_dir(run_dir, resume)  # before Ray starts
        result = create_trainer(cfg, run_dir, resume=resume, progress=True).run()
    if result.history:
        last = result.history[-1]
        click.echo(f"meta-train: {result.rounds_done}/{cfg.meta.rounds} rounds | val acc "
                   f"{100 * last.get('val_acc', float('nan')):.1f}% | {last.get('tasks_per_s', float('nan')):.2f} tasks/s"
                   + (" | meta.budget_minutes spent (--resume goes on)" if result.stopped_by_budget else ""))
    if result.genotype is not None:
        click.echo(f"genotype: {result.genotype}")
    if result.checkpoint is not None:
        click.echo(f"checkpoint: {result.checkpoint}")
    echo_run_dir(run_dir)
