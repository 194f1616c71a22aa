"""Tracking: run directories, atomic checkpoints, MLflow logging (driver only), progress.

Modules: ``rundir`` (run directories), ``checkpoint`` (CheckpointStore, load_checkpoint),
``rngstate`` (RNG states for exact resume), ``mlflow_logger`` (MlflowTracker, NullTracker,
start_tracker; imports mlflow lazily), ``progress`` (ProgressReporter, format_progress).
"""
