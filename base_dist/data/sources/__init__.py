"""One module per data source; each registers itself with ``@register_source`` when imported.

``base_dist.data.registry`` imports every module here, so adding a source is adding one file.
"""
