"""``python -m base_dist`` is the same as ``base-dist``."""

from base_dist.cli import run

run()
