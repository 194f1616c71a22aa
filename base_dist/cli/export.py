"""`base-dist export`: a trained network as a TorchScript or ONNX file that runs without base-dist.

Example:
    $ base-dist export runs/demo-x/4-train --format onnx          # runs/demo-x/4-train/export/model.onnx
    $ base-dist export runs/train-fm --format torchscript --output /tmp/fm.pt
"""

from __future__ import annotations

from pathlib import Path

import click


@click.command(name="export")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["torchscript", "onnx"]), required=True,
              help="torchscript (torch.jit.load) or onnx (any ONNX runtime)")
@click.option("--output", type=click.Path(path_type=Path), default=None,
              help="file to write (default RUN_DIR/export/model.pt or model.onnx)")
@click.option("--max-images", type=click.IntRange(min=1), default=None,
              help="check on the first N test images only (default: the whole test split)")
def command(run_dir: Path, fmt: str, output: Path | None, max_images: int | None) -> None:
    """Export the trained network of RUN_DIR (a train run) and check it against PyTorch on the test split."""
    from base_dist.errors import UserError
    from base_dist.train.export import export_network

    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: no such run directory (pass the directory of a base-dist train run)")
    res = export_network(run_dir, fmt, output, max_images=max_images)
    click.echo(res.summary_line())
    click.echo(f"exported: {res.path}")
    click.echo(f"record: {res.record_path}")
