"""`base-dist data` (lands with issue 4)."""

import click

from base_dist.cli.common import config_options, not_implemented


@click.command(name="data", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@config_options
def command(**kwargs: object) -> None:
    """Not implemented yet (issue 4)."""
    not_implemented("data", "issue 4")(**kwargs)
