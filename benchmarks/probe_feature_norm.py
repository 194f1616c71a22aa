"""Probe: why cell networks need ``fewshot.feature_norm`` under MAML (docs/results.md, section (e)).

From the seeded initialisation (no meta-training), on 8 meta-train episodes of the few-shot config
(5-way 5-shot glyphs at 16 px): the classifier's share of the support-loss gradient norm, and the
query accuracy after 5 clipped SGD steps at lr 0.01 and 0.1, for conv4 and darts_v2 with and
without the normalised ending. Seconds on one core:

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/probe_feature_norm.py
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

EPISODES = 8
LRS = (0.01, 0.1)


def probe(network: str, feature_norm: bool) -> str:
    import torch

    from base_dist.config import load_config
    from base_dist.data.episodes import episode_tasks, sample, source_channels, train_episode_seed
    from base_dist.train.fewshot_state import build_fewshot_network
    from base_dist.train.maml import adapt, query_loss

    cfg = load_config("jobs/configs/fewshot.yaml", [f"fewshot.network={network}", "fewshot.k_shot=5",
                                                    f"fewshot.feature_norm={feature_norm}"])
    tasks = episode_tasks(cfg, "meta-train")
    net = build_fewshot_network(cfg, source_channels(cfg))
    params = dict(net.named_parameters())
    shares, accs = [], {lr: [] for lr in LRS}
    for i in range(EPISODES):
        ep = sample(tasks, cfg, train_episode_seed(cfg, i, 0))
        loss, _ = query_loss(net, params, ep.x_support, ep.y_support)
        grads = dict(zip(params, torch.autograd.grad(loss, list(params.values())), strict=True))
        total = sum(g.square().sum() for g in grads.values()).sqrt()
        head = sum(g.square().sum() for k, g in grads.items() if k.startswith("classifier")).sqrt()
        shares.append(float(head / total))
        for lr in LRS:
            fast = adapt(net, params, ep.x_support, ep.y_support, steps=5, lr=lr, create_graph=False,
                         grad_clip=cfg.fewshot.inner_grad_clip)
            _, logits = query_loss(net, fast, ep.x_query, ep.y_query)
            accs[lr].append(float((logits.argmax(1) == ep.y_query).float().mean()))
    after = " | ".join(f"{100 * sum(a) / len(a):.1f} %" for a in accs.values())
    ending = "-" if network == "conv4" else feature_norm  # conv4 always ends in BatchNorm-ReLU
    return f"| {network} | {ending} | {sum(shares) / len(shares):.2f} | {after} |"


def main() -> None:
    import torch

    torch.set_num_threads(1)
    print("| network | feature_norm | classifier share of the gradient norm | "
          + " | ".join(f"query acc after 5 steps at lr {lr}" for lr in LRS) + " |")
    print("|---|---|---|" + "---|" * len(LRS))
    for network, feature_norm in (("conv4", False), ("darts_v2", False), ("darts_v2", True)):
        print(probe(network, feature_norm))


if __name__ == "__main__":
    main()
