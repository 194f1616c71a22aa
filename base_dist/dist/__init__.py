"""Ray layer: the driver (:func:`run_distributed`), worker actors and a fault-tolerant work queue."""
