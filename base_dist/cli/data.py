"""`base-dist data`: list, describe and preview the data sources.

Example:
    $ base-dist data list
    $ base-dist data describe digits --json
    $ base-dist data sample --config jobs/configs/tiny.yaml --run-dir runs/peek
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from base_dist.cli.common import config_options, echo_run_dir, resolve_config
from base_dist.data import TaskDistribution, create_source, get_loader, list_sources
from base_dist.data.discovery import HOW_TO_GET
from base_dist.data.tasks import SPLITS
from base_dist.errors import UserError

_ROOT_HELP = "directory holding the dataset (else $BASE_DIST_DATA, else /usr/share/datasets/<name>)"


@click.group(name="data", invoke_without_command=True)
@click.pass_context
def command(ctx: click.Context) -> None:
    """Inspect data sources and sampled tasks."""
    if ctx.invoked_subcommand is None:  # bare `base-dist data`: help, not an error
        click.echo(ctx.get_help())


@command.command(name="list")
@click.option("--data-root", type=click.Path(path_type=Path), default=None, help=_ROOT_HELP)
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
def list_cmd(data_root: Path | None, as_json: bool) -> None:
    """Registered sources, whether each is available here, and where it was found."""
    rows = []
    for name in list_sources():
        loader = get_loader(name)
        try:
            where, ok = str(loader.locate(data_root)), True
        except UserError:
            where, ok = HOW_TO_GET.get(name, "pass --data-root DIR"), False
        rows.append({"name": name, "available": ok, "where": where, "description": loader.description})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        state = "available" if r["available"] else "missing  "
        click.echo(f"{r['name']:<{width}}  {state}  {r['where']}")


@command.command(name="describe")
@click.argument("source")
@click.option("--data-root", type=click.Path(path_type=Path), default=None, help=_ROOT_HELP)
@click.option("--download", is_flag=True, help="download the dataset into --data-root first if it is missing")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def describe_cmd(source: str, data_root: Path | None, download: bool, as_json: bool) -> None:
    """Classes, images per split and image size of SOURCE."""
    info = create_source(source, data_root, download=download).describe()
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    names = info["class_names"]
    shown = ", ".join(names[:10]) + (f", ... ({len(names) - 10} more)" if len(names) > 10 else "")
    size = f"{info['image_size']}x{info['image_size']}" if info["image_size"] else "varies (resized per task)"
    click.echo(f"source:      {info['name']}")
    click.echo(f"root:        {info['root'] or '(bundled)'}")
    click.echo(f"classes:     {info['classes']} ({shown})")
    click.echo(f"images:      {info['images']} (" + ", ".join(f"{k} {v}" for k, v in info["splits"].items()) + ")")
    click.echo(f"image size:  {size}, {info['channels']} channel(s)")
    click.echo(f"storage:     {info['storage']}")
    click.echo(f"mean / std:  {info['mean']} / {info['std']}")


@command.command(name="sample")
@config_options
@click.option("--seed", type=int, default=0, show_default=True, help="task seed")
@click.option("--split", type=click.Choice(list(SPLITS)), default="meta-train", show_default=True)
def sample_cmd(config_path: Path | None, overrides: tuple[str, ...], run_dir: Path | None, seed: int, split: str) -> None:
    """Write a PNG grid of one sampled task (rows = classes) into the run directory."""
    from base_dist.data.preview import save_task_grid
    from base_dist.track.rundir import open_run_dir

    cfg = resolve_config(config_path, overrides)
    task = TaskDistribution(cfg.data, split=split).sample(seed)
    with open_run_dir("data-sample", run_dir, cfg) as out:
        png = save_task_grid(task, out / f"task-{split}-{seed}.png")
    click.echo(f"task: {task.source}, {task.n_way}-way, {task.image_size}px, classes {', '.join(task.class_names)}")
    click.echo(f"grid: {png}")
    echo_run_dir(out)
