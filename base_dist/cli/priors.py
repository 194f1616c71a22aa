"""`base-dist priors`: the meta-priors shipped with the package, what each was trained on and measured.

Example:
    $ base-dist priors
    $ base-dist adapt --prior glyphs-fmnist --dataset digits                 # no meta-training needed
    $ base-dist adapt --prior glyphs-fmnist --from-scratch --dataset digits  # the same network, untrained
"""

from __future__ import annotations

import json

import click


@click.command(name="priors")
@click.option("--json", "as_json", is_flag=True, default=False, help="the cards as JSON")
def command(as_json: bool) -> None:
    """List the shipped meta-priors (use one with `base-dist adapt --prior NAME`)."""
    from base_dist.meta.prior import shipped_prior, shipped_priors

    cards = shipped_priors()
    if as_json:
        click.echo(json.dumps(cards, indent=1))
        return
    for name, card in cards.items():
        click.echo(f"{name}  ({shipped_prior(name)})")
        for key in ("trained_on", "adapt_defaults", "caveat"):
            if key in card:
                click.echo(f"  {key.replace('_', ' ')}: {card[key]}")
        for what, figure in card.get("measured", {}).items():
            click.echo(f"  measured, {what}: {figure}")
