"""Retraining a discrete genotype as a full network with the DARTS recipe (layer 3).

Modules: ``recipe`` (SGD, cosine learning rate, drop-path ramp, auxiliary loss, optimizer state as
tensors), ``inputs`` (whole-dataset splits, seeded batch order), ``state`` (the network, its
checkpoints), ``loop`` (epochs, evaluation, checkpoint/resume; shared by every worker),
``ray_train`` (data parallel over Ray Train's ``TorchTrainer``), ``run`` (the driver: MLflow,
profile, ``metrics.json``).

Example:
    >>> from base_dist.config import load_config
    >>> cfg = load_config(None, ["train.channels=4", "train.layers=3", "train.epochs=1", "train.dataset=digits",
    ...                          "train.image_size=16", "train.max_train_images=64", "tracking.mlflow=false"])
    >>> result = train(cfg, "/tmp/base-dist-doctest-train-pkg", progress=False)  # doctest: +SKIP
    >>> 0.0 <= result.test_acc <= 1.0  # doctest: +SKIP
    True
"""

from base_dist.train.checkpoints import build_network, network_signature
from base_dist.train.inputs import TrainData, epoch_batches, load_train_data
from base_dist.train.loop import FitResult, Peers, evaluate_network, fit
from base_dist.train.recipe import drop_path_at, lr_at, make_optimizer, training_loss
from base_dist.train.run import METRICS_FILE, TrainResult, check_run_dir, train

__all__ = [
    "METRICS_FILE", "FitResult", "Peers", "TrainData", "TrainResult", "build_network", "check_run_dir",
    "drop_path_at", "epoch_batches", "evaluate_network", "fit", "load_train_data", "lr_at", "make_optimizer",
    "network_signature", "train", "training_loss",
]
