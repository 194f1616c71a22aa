"""Full networks and the profiler, including the published figures and the CLI."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import torch

from base_dist.space.network import create_network
from base_dist.space.profiler import profile_genotype

BIN = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "base-dist"


@pytest.mark.parametrize("macro,size", [("cifar", 32), ("imagenet", 64)])
def test_full_network_train_step_with_aux_and_drop_path(macro: str, size: int) -> None:
    net = create_network("base_cifar10", macro=macro, channels=8, layers=5, num_classes=4, auxiliary=True,
                         drop_path_prob=0.3)
    net.train()
    logits, aux = net.forward_with_aux(torch.randn(3, 3, size, size))
    assert logits.shape == (3, 4) and aux is not None and aux.shape == (3, 4)
    (logits.sum() + 0.4 * aux.sum()).backward()
    net.eval()
    assert net.forward_with_aux(torch.randn(2, 3, size, size))[1] is None


def test_drop_path_masks_come_from_the_network_generator_not_global_state() -> None:
    from base_dist.utils import make_generator

    net = create_network("darts_v2", macro="cifar", channels=4, layers=3, num_classes=3, drop_path_prob=0.5)
    net.train()
    x = torch.randn(8, 3, 16, 16)

    def run(seed: int) -> torch.Tensor:
        net.drop_gen = make_generator(seed, "drop-path")
        return net(x).detach()

    global_state = torch.get_rng_state()
    first = run(1)
    assert torch.equal(torch.get_rng_state(), global_state)  # nothing drawn from the global RNG
    torch.manual_seed(123)  # global state must not matter
    assert torch.equal(run(1), first)
    assert not torch.equal(run(2), first)  # another seed drops other samples


def test_darts_v2_cifar10_params() -> None:
    p = profile_genotype("darts_v2", channels=36, layers=20, dataset="cifar10")
    assert round(p.params / 1e6, 1) == 3.3
    assert p.aux_params > 0  # built with an auxiliary head, left out of the count


def test_darts_v2_imagenet_params_and_macs() -> None:
    p = profile_genotype("darts_v2", channels=48, layers=14, dataset="imagenet")
    assert round(p.params / 1e6, 1) == 4.7
    # Conv + linear MACs: 530M. The DARTS paper prints 574M, which no standard counting reproduces
    # (quark0/darts#46 measures 523-545M); the same counting gives BASE's published 559M within 2%.
    assert abs(p.macs - 530e6) / 530e6 < 0.02


def test_base_imagenet_matches_base_paper() -> None:
    p = profile_genotype("base_imagenet", channels=48, layers=14, dataset="imagenet")
    assert round(p.params / 1e6, 1) == 4.9
    assert abs(p.macs - 559e6) / 559e6 < 0.02


def test_cli_profile_json() -> None:
    out = subprocess.run([str(BIN), "profile", "--genotype", "darts_v2", "--dataset", "cifar10", "--channels", "36",
                          "--layers", "20", "--json"], capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout)
    assert record["params_m"] == pytest.approx(3.35, abs=0.01) and record["macro"] == "cifar"


def test_cli_profile_bad_genotype_is_one_line_exit_2() -> None:
    out = subprocess.run([str(BIN), "profile", "--genotype", "no_such_genotype", "--dataset", "cifar10"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1 and "no_such_genotype" in out.stderr
