"""`base-dist train` (lands with issue 7)."""

import click

from base_dist.cli.common import config_options, not_implemented


@click.command(name="train")
@config_options
def command(**kwargs: object) -> None:
    """Not implemented yet (issue 7)."""
    not_implemented("train", "issue 7")(**kwargs)
