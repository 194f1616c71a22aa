"""Tracking: run directories, atomic checkpoints, MLflow logging (driver only), progress."""
