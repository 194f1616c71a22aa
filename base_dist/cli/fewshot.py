"""`base-dist fewshot`: few-shot architecture search and MAML over N-way K-shot episodes.

Example:
    $ base-dist fewshot search --arch-mode gumbel --k-shot 5 --set meta.rounds=40 --run-dir runs/fs-search
    $ base-dist fewshot train --network runs/fs-search/genotype.json --k-shot 5 --run-dir runs/fs-base
    $ base-dist fewshot train --network conv4 --k-shot 1 --set fewshot.iterations=300 --run-dir runs/maml
    $ base-dist fewshot train --resume runs/maml --set fewshot.iterations=600
    $ base-dist fewshot eval runs/maml --episodes 600
    $ base-dist fewshot select runs/fs-search --candidates 4 --iterations 100 --run-dir runs/fs-select
"""

from __future__ import annotations

from pathlib import Path

import click

from base_dist.cli.common import (
    config_options,
    echo_run_dir,
    flag_overrides,
    resolve_config,
    resume_settings,
)
from base_dist.cli.train import _genotype_key
from base_dist.config import ExperimentConfig
from base_dist.errors import UserError


def set_threads(cfg: ExperimentConfig) -> None:
    """Torch threads per ``dist.torch_threads`` (1 by default), as ``meta-train`` sets them."""
    import torch

    torch.set_num_threads(cfg.dist.torch_threads)


@click.group(name="fewshot", invoke_without_command=True)
@click.pass_context
def command(ctx: click.Context) -> None:
    """Few-shot learning: meta-train a network with MAML on episodes, evaluate it on held-out classes."""
    if ctx.invoked_subcommand is None:  # bare `base-dist fewshot`: help, not an error
        click.echo(ctx.get_help())


@command.command(name="train")
@config_options
@click.option("--network", default=None, help="conv4 (MAML's 4-conv network), a genotype name (darts_v2, ...) or "
              "a genotype file (fewshot.network)")
@click.option("--k-shot", type=click.IntRange(min=1), default=None, help="support images per class (fewshot.k_shot)")
@click.option("--iterations", type=click.IntRange(min=1), default=None, help="outer steps (fewshot.iterations)")
@click.option("--resume", "resume_dir", type=click.Path(path_type=Path), default=None,
              help="continue the run in this directory from its newest good checkpoint "
                   "(its config.yaml is used unless --config is given; --set still applies)")
@click.option("--workers", type=click.IntRange(min=1, max=64), default=None,
              help="processes each meta-batch is split over (fewshot.train_workers); the same trained weights")
def train_cmd(config_path: Path | None, overrides: tuple[str, ...], run_dir: Path | None, network: str | None,
              k_shot: int | None, iterations: int | None, resume_dir: Path | None, workers: int | None) -> None:
    """Meta-train a network with (second-order) MAML on the meta-train classes' episodes."""
    from base_dist.cli.meta_train import setup_logging
    from base_dist.track.rundir import check_run_dir, open_run_dir
    from base_dist.train.fewshot import check_fewshot, fewshot_train

    resume, run_dir, config_path = resume_settings(resume_dir, run_dir, config_path, "fewshot train")
    extra = flag_overrides({"fewshot.network": None if network is None else _genotype_key(network),
                            "fewshot.k_shot": k_shot, "fewshot.iterations": iterations,
                            "fewshot.train_workers": workers})
    cfg = resolve_config(config_path, overrides, extra)
    check_fewshot(cfg)  # bad input fails here, before a run directory is created
    set_threads(cfg)
    setup_logging()
    with open_run_dir("fewshot-train", run_dir) as run_dir:
        check_run_dir(run_dir, resume)
        result = fewshot_train(cfg, run_dir, resume=resume)
    click.echo(result.results_line())
    echo_run_dir(run_dir)


@command.command(name="eval")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="override a fewshot.* evaluation field, e.g. --set fewshot.eval_seed=1 (repeatable)")
@click.option("--episodes", type=click.IntRange(min=2), default=None, help="test episodes (fewshot.eval_episodes)")
@click.option("--split", type=click.Choice(["holdout", "val"]), default=None, help="classes (fewshot.eval_split)")
@click.option("--steps", type=click.IntRange(min=0), default=None,
              help="SGD steps on each support set (fewshot.test_inner_steps)")
@click.option("--workers", type=click.IntRange(min=1, max=64), default=None,
              help="processes the episodes are split over (fewshot.eval_workers); the same accuracies")
def eval_cmd(run_dir: Path, overrides: tuple[str, ...], episodes: int | None, split: str | None,
             steps: int | None, workers: int | None) -> None:
    """Mean query accuracy ± 95% CI of RUN_DIR's network over test episodes of held-out classes."""
    from base_dist.track.rundir import lock_run_dir
    from base_dist.train.fewshot_eval_run import eval_file, evaluate_run

    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: not a directory (pass the run directory of a `fewshot train` run)")
    extra = flag_overrides({"fewshot.eval_episodes": episodes, "fewshot.eval_split": split,
                            "fewshot.test_inner_steps": steps, "fewshot.eval_workers": workers})
    with lock_run_dir(run_dir, "fewshot-eval"):
        result, _ = evaluate_run(run_dir, [*extra, *overrides], configure=set_threads)
    click.echo(result.line())
    click.echo(f"results: {run_dir / eval_file(result.split)}")


@command.command(name="search")
@config_options
@click.option("--arch-mode", type=click.Choice(["gumbel", "softmax"]), default=None,
              help="architecture sampling of the supernet while searching (space.arch.mode; Table 4 compares both)")
@click.option("--k-shot", type=click.IntRange(min=1), default=None, help="support images per class (fewshot.k_shot)")
@click.option("--rounds", type=click.IntRange(min=1), default=None, help="outer steps of the search (meta.rounds)")
@click.option("--resume", "resume_dir", type=click.Path(path_type=Path), default=None,
              help="continue the search in this directory from its newest good checkpoint")
def search_cmd(config_path: Path | None, overrides: tuple[str, ...], run_dir: Path | None, arch_mode: str | None,
               k_shot: int | None, rounds: int | None, resume_dir: Path | None) -> None:
    """Search a cell for few-shot learning: BASE meta-training over N-way K-shot episodes, second order."""
    from base_dist.cli.meta_train import setup_logging
    from base_dist.distributed import create_trainer
    from base_dist.meta.fewshot import search_config
    from base_dist.track.rundir import check_run_dir, open_run_dir

    resume, run_dir, config_path = resume_settings(resume_dir, run_dir, config_path, "fewshot search")
    cfg = resolve_config(config_path, overrides, flag_overrides({"fewshot.k_shot": k_shot, "meta.rounds": rounds}))
    if not resume:  # a resumed search's config.yaml is already the mapped one
        cfg = search_config(cfg, arch_mode)
    elif arch_mode is not None:
        raise UserError("a resumed search keeps its architecture mode; drop --arch-mode", option="arch-mode")
    setup_logging()
    with open_run_dir("fewshot-search", run_dir) as run_dir:
        check_run_dir(run_dir, resume)
        result = create_trainer(cfg, run_dir, resume=resume, progress=True).run()
    click.echo(f"fewshot search: {result.rounds_done}/{cfg.meta.rounds} rounds ({cfg.space.arch.mode}) | "
               f"genotype: {result.genotype}")
    click.echo(f"next: base-dist fewshot train --network {run_dir / 'genotype.json'}")
    echo_run_dir(run_dir)


@command.command(name="select")
@click.argument("search_dir", type=click.Path(path_type=Path))
@config_options
@click.option("--candidates", type=click.IntRange(min=1), default=None,
              help="genotypes to score: the most probable, then Gumbel draws (fewshot.select_candidates)")
@click.option("--iterations", type=click.IntRange(min=1), default=None,
              help="MAML iterations per candidate (fewshot.select_iterations)")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="candidates trained at once, one process each (fewshot.select_workers); same scores")
@click.option("--halving", is_flag=True, default=None,
              help="successive halving: all to half the iterations, the better half on (fewshot.select_halving)")
@click.option("--resume", "resume_dir", type=click.Path(path_type=Path), default=None,
              help="continue the selection in this directory: finished candidates are kept, an interrupted one resumes")
def select_cmd(search_dir: Path, config_path: Path | None, overrides: tuple[str, ...], run_dir: Path | None,
               candidates: int | None, iterations: int | None, workers: int | None, halving: bool | None,
               resume_dir: Path | None) -> None:
    """Score SEARCH_DIR's genotypes by a short MAML run each on the val classes; keep the best as genotype.json.

    The config is SEARCH_DIR's own (the same source, shots and sizes) unless --config is given.
    """
    from base_dist.cli.meta_train import setup_logging
    from base_dist.config import apply_overrides, config_from_dict
    from base_dist.meta.prior import load_posterior
    from base_dist.report.fewshot_select import CANDIDATES_FILE, check_select, select_fewshot
    from base_dist.track.rundir import open_run_dir

    try:  # bad input fails before a run directory is created
        post = load_posterior(search_dir)
    except UserError as err:
        raise UserError(f"{err}; pass the run directory that `base-dist fewshot search` wrote") from err
    resume, run_dir, config_path = resume_settings(resume_dir, run_dir, config_path, "fewshot select")
    extra = flag_overrides({"fewshot.select_candidates": candidates, "fewshot.select_iterations": iterations,
                            "fewshot.select_workers": workers, "fewshot.select_halving": halving})
    if config_path is None:
        cfg = config_from_dict(apply_overrides(dict(post.config), [*overrides, *extra]), origin=f"config of {post.path}")
    else:
        cfg = resolve_config(config_path, overrides, extra)
    check_select(cfg, post)
    if resume and not (run_dir / "candidates").is_dir():
        raise UserError(f"cannot resume {run_dir}: it holds no selection (no candidates/); start a new one",
                        option="resume")
    if not resume and run_dir is not None and (run_dir / "candidates").exists():
        raise UserError(f"{run_dir} already holds a selection; continue it with --resume {run_dir} or pick another "
                        f"--run-dir", option="run-dir")
    set_threads(cfg)
    setup_logging()
    with open_run_dir("fewshot-select", run_dir) as run_dir:
        result = select_fewshot(cfg, post, run_dir)
    click.echo(result.line())
    click.echo(f"candidates: {run_dir / CANDIDATES_FILE}")
    if cfg.fewshot.iterations > cfg.fewshot.select_iterations:  # the recipe docs/results.md confirmed
        click.echo(f"next: base-dist fewshot train --resume {run_dir / f'candidate-{result.best.index}'} "
                   f"--set fewshot.iterations={cfg.fewshot.iterations}   # continue the winner")
        click.echo(f"  or: base-dist fewshot train --network {run_dir / 'genotype.json'}   # the winner afresh")
    else:
        click.echo(f"next: base-dist fewshot train --network {run_dir / 'genotype.json'}")
    echo_run_dir(run_dir)
