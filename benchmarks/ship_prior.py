"""Package the glyphs + Fashion-MNIST meta-prior of docs/results.md (d'') as the shipped prior ``glyphs-fmnist``.

    .venv/bin/base-dist meta-train --config jobs/configs/prior.yaml --run-dir runs/prior
    .venv/bin/python benchmarks/ship_prior.py runs/prior/checkpoints/ckpt-000015.safetensors
"""

from __future__ import annotations

import sys

CARD = {
    "name": "glyphs-fmnist",
    "trained_on": "jobs/configs/prior.yaml (the recipe search's winner): 15 rounds x 4 tasks (60 5-way tasks, 20 "
                  "gumbel inner steps each = 1,200 SGD steps) over 484 glyph classes of 16 scripts (holdout scripts "
                  "and every digit left out) and 8 Fashion-MNIST classes, at 16 and 28 px; 13 min with 2 Ray "
                  "workers on a 2-core CPU machine",
    "adapt_defaults": "1 epoch, batch 32, lr 0.1 (weights) / 1.0 (architecture), tau 1.0, gumbel sampling, "
                      "softmax evaluation: the settings the figures below used",
    "measured": {
        "protocol": "1 adaptation epoch on 1,200 images, 10 seeds, paired differences with 95 % t-intervals "
                    "(docs/results.md (d''))",
        "digits (unseen domain, 16 px)": "prior 88.9 %, scratch 57.3 %, prior - scratch +31.7 [+25.3, +38.0] points",
        "fashion-mnist (10-way, 28 px)": "prior 64.6 %, scratch 43.4 %, prior - scratch +21.2 [+17.5, +24.8] points",
        "glyphs-holdout (197 unseen classes)": "prior 12.6 %, scratch 0.7 %, +11.8 [+10.2, +13.4] points",
        "against plain pretraining": "the same supernet pretrained supervised on the pooled classes for the same "
                                     "1,200 SGD steps: prior +3.5 [+1.5, +5.5] on digits, +0.6 [-1.3, +2.6] in "
                                     "domain, -4.9 [-7.0, -2.9] on Fashion-MNIST",
    },
    "caveat": "Ahead of plain supervised pretraining at equal steps on digits only (level in domain, behind on "
              "Fashion-MNIST); adapting the architecture is no better than freezing it (no CI above 0). "
              "Architecture entropy 0.92 nats of ln 8 = 2.08.",
}


def main() -> None:
    from base_dist.meta.prior import PRIORS_DIR
    from base_dist.report.priors import package_prior

    settings = ["adapt.epochs=1", "adapt.batch_size=32", "adapt.lr_weights=0.1", "adapt.lr_arch=1.0", "adapt.tau=1.0",
                "adapt.arch_mode=gumbel", "adapt.eval_mode=softmax"]
    print(package_prior(sys.argv[1], PRIORS_DIR / CARD["name"], CARD, settings))


if __name__ == "__main__":
    main()
