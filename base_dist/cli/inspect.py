"""`base-dist inspect`: diagnostics figures and a verdict for a meta-train run directory.

Example:
    $ base-dist inspect runs/prior
    $ base-dist inspect runs/prior --out /tmp/prior-figures --json
"""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command(name="inspect")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="where the PNGs go (default RUN_DIR/inspect)")
@click.option("--json", "as_json", is_flag=True, help="also print the first/last-quarter summary as JSON")
def command(run_dir: Path, out_dir: Path | None, as_json: bool) -> None:
    """Does meta-training learn? Coherence, displacement, adaptation gain, architecture, sigma; a verdict."""
    from base_dist.errors import UserError
    from base_dist.report.inspect import inspect_run

    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: not a directory; pass a meta-train run directory")
    result = inspect_run(run_dir, out_dir)
    click.echo(f"{run_dir}: {int(result.summary['rounds'])} rounds")
    for line in result.verdict:
        click.echo(f"- {line}")
    for fig in result.figures:
        click.echo(f"figure: {fig}")
    if as_json:
        click.echo(json.dumps(result.summary, indent=1, sort_keys=True))
