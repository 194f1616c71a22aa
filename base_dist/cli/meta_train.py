"""`base-dist meta-train` (lands with issue 5 in-process / issue 6 distributed)."""

import click

from base_dist.cli.common import config_options, not_implemented


@click.command(name="meta-train", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@config_options
def command(**kwargs: object) -> None:
    """Not implemented yet (issue 5 in-process / issue 6 distributed)."""
    not_implemented("meta-train", "issue 5 in-process / issue 6 distributed")(**kwargs)
