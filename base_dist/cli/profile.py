"""`base-dist profile`: parameters and multiply-accumulates of a genotype's full network.

Example:
    $ base-dist profile --genotype darts_v2 --dataset cifar10 --channels 36 --layers 20
    $ base-dist profile --genotype darts_v2 --dataset imagenet --channels 48 --layers 14 --json
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from base_dist.cli.common import resolve_config
from base_dist.config import MAX_CHANNELS, MAX_CLASSES, MAX_IMAGE_SIZE, MAX_LAYERS, check_activation
from base_dist.errors import UserError


@click.command(name="profile")
@click.option("--genotype", default=None, help="registry name (darts_v1, darts_v2, base_cifar10, base_imagenet) "
              "or a genotype file (JSON or DARTS Genotype(...) text); default: train.genotype")
@click.option("--dataset", default=None, help="sets classes, input channels, native image size and macro "
              "(cifar10, imagenet, fashion-mnist, ...); default: train.dataset")
@click.option("--channels", type=click.IntRange(2, MAX_CHANNELS), default=None, help="initial channels C; default: train.channels")
@click.option("--layers", type=click.IntRange(1, MAX_LAYERS), default=None, help="cells L; default: train.layers")
@click.option("--image-size", type=click.IntRange(4, MAX_IMAGE_SIZE), default=None, help="input size; default: the dataset's")
@click.option("--macro", type=click.Choice(["cifar", "imagenet"]), default=None,
              help="macro structure; default: imagenet for --dataset imagenet, else train.macro")
@click.option("--classes", type=click.IntRange(2, MAX_CLASSES), default=None, help="classifier outputs; default: the dataset's")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object instead of text")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
              help="YAML config whose train section supplies the defaults")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="override a config field (repeatable)")
def command(genotype: str | None, dataset: str | None, channels: int | None, layers: int | None,
            image_size: int | None, macro: str | None, classes: int | None, as_json: bool,
            config_path: Path | None, overrides: tuple[str, ...]) -> None:
    """Count parameters (auxiliary head excluded) and MACs of a genotype's full network."""
    # Imported here so `base-dist --help` does not pay for torch.
    from base_dist.space.profiler import dataset_shape, profile_genotype

    train = resolve_config(config_path, overrides).train
    name = genotype or train.genotype
    if dataset is None:
        # Dataset from the config: its configured image size and macro apply too.
        dataset = train.dataset
        image_size = image_size or train.image_size
        macro = macro or train.macro
    shape = dataset_shape(dataset)
    size = image_size or shape.image_size
    macro = macro or shape.macro
    channels = channels or train.channels
    layers = layers or train.layers
    num_classes = classes or shape.num_classes
    try:  # the stem's output (3C channels at full size) is the largest activation of one image
        check_activation("profile", 1, 3 * channels, size)
    except ValueError as err:
        raise UserError(str(err)) from err
    prof = profile_genotype(name, channels=channels, layers=layers, dataset=dataset, num_classes=num_classes,
                            image_size=size, macro=macro)
    record = {"genotype": name, "dataset": dataset, "macro": macro, "channels": channels, "layers": layers,
              "image_size": size, "in_channels": shape.in_channels, "num_classes": num_classes,
              "params": prof.params, "params_m": round(prof.params / 1e6, 2), "macs": prof.macs,
              "macs_m": round(prof.macs / 1e6, 1), "aux_params": prof.aux_params}
    if as_json:
        click.echo(json.dumps(record))
        return
    click.echo(f"{name} on {dataset} ({macro} macro, C={channels}, {layers} cells, "
               f"{shape.in_channels}x{size}x{size}, {num_classes} classes)")
    click.echo(f"  params: {prof.params / 1e6:.2f}M (auxiliary head excluded; it adds {prof.aux_params / 1e6:.2f}M)")
    click.echo(f"  MACs:   {prof.macs / 1e6:.1f}M (convolutions and linear layers, one image)")
