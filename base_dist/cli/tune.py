"""`base-dist tune` (lands with issue 8)."""

import click

from base_dist.cli.common import config_options, not_implemented


@click.command(name="tune")
@config_options
def command(**kwargs: object) -> None:
    """Not implemented yet (issue 8)."""
    not_implemented("tune", "issue 8")(**kwargs)
