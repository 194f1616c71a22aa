"""Diagnostics of meta-training: coherence, displacement, architecture and sigma, and `base-dist inspect`."""

from __future__ import annotations

import json
import math
from collections import OrderedDict

import pytest
import torch

from base_dist.meta.diagnostics import (
    CoherenceAccumulator,
    GroupLayout,
    arch_stats,
    displacement,
    sigma_mean,
)
from base_dist.meta.rounds import fold_mean
from base_dist.space.meta_state import Layout
from tests.meta.conftest import tiny


def _W(cells, phi):
    return OrderedDict([("arch.normal", torch.tensor(phi)), ("cells.0.op.mu", torch.tensor(cells))])


def _coherence(deltas):
    acc = CoherenceAccumulator(GroupLayout.of(deltas[0]))
    flat = [Layout.of(d).flatten(d) for d in deltas]
    return acc.coherence(fold_mean(iter([lambda f=f: f for f in flat]), on_delta=acc.add))


def test_identical_deltas_have_coherence_one():
    d = _W([3.0, 4.0], [[1.0, 0.0]])
    coh = _coherence([d, d])
    assert coh["coh_cells"] == pytest.approx(1.0) and coh["coh_phi"] == pytest.approx(1.0)


def test_opposite_deltas_have_coherence_zero():
    coh = _coherence([_W([3.0, 4.0], [[1.0, 0.0]]), _W([-3.0, -4.0], [[-1.0, 0.0]])])
    assert coh["coh_cells"] == 0.0 and coh["coh_phi"] == 0.0


def test_orthogonal_deltas_give_one_over_sqrt_c():
    coh = _coherence([_W([1.0, 0.0], [[0.0, 0.0]]), _W([0.0, 1.0], [[0.0, 0.0]])])
    assert coh["coh_cells"] == pytest.approx(1 / math.sqrt(2))
    assert math.isnan(coh["coh_phi"])  # all-zero deltas of a group have no direction


def test_displacement_is_relative_for_weights_and_absolute_for_phi():
    W0 = _W([3.0, 4.0], [[0.0, 0.0]])
    d = displacement(_W([3.0, 4.5], [[0.3, 0.4]]), W0)
    assert d["disp_cells"] == pytest.approx(0.1) and d["disp_phi"] == pytest.approx(0.5)


def test_arch_stats_and_sigma():
    s = arch_stats({"arch.normal": torch.zeros(3, 8)})
    assert s["arch_entropy_W"] == pytest.approx(math.log(8)) and s["arch_gap"] == 0.0
    assert sigma_mean({"a.rho": torch.tensor([-0.01, 0.03])}, "linear") == pytest.approx(0.02)


def test_rounds_log_the_diagnostics(trained_run):
    _, res = trained_run
    row = json.loads((res.run_dir / "metrics.jsonl").read_text().splitlines()[-1])
    for key in ("coh_cells", "coh_phi", "coh_heads", "coh_classifier", "disp_cells", "disp_phi", "arch_entropy_W",
                "arch_gap", "sigma_mean", "val_acc_before", "adapt_gain"):
        assert key in row, key
    assert row["adapt_gain"] == pytest.approx(row["val_acc"] - row["val_acc_before"])
    assert 0.0 <= row["coh_cells"] <= 1.0 + 1e-6 and row["disp_cells"] > 0


def test_inspect_prints_a_verdict_and_writes_figures(trained_run, cli, tmp_path):
    _, res = trained_run
    out = tmp_path / "figs"
    proc = cli("inspect", str(res.run_dir), "--out", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    assert "coherence" in proc.stdout and "phi" in proc.stdout
    assert sorted(p.name for p in out.iterdir()) == ["adaptation.png", "architecture.png", "coherence.png",
                                                      "displacement.png", "sigma.png"]
    assert json.loads(proc.stdout[proc.stdout.index("{"):])["rounds"] == 3.0


def test_inspect_refuses_a_directory_without_metrics(cli, tmp_path):
    proc = cli("inspect", str(tmp_path))
    assert proc.returncode == 2 and "config.yaml" in proc.stderr and "Traceback" not in proc.stderr


def test_linear_sigma_moves_under_its_optimizer():
    """With sigma = |rho| a small sigma gets mu-sized gradients; with softplus it barely moves."""
    from base_dist.data import TaskDistribution
    from base_dist.meta.prior import seeded_metanet
    from base_dist.meta.task import run_task
    from base_dist.space.meta_state import get_state

    moved = {}
    for param in ("linear", "softplus"):
        cfg = tiny(f"space.bayes.sigma_param={param}", "meta.inner_steps=3", "space.bayes.kl_weight_theta=0")
        model = seeded_metanet(cfg)
        W = get_state(model)
        delta = Layout.of(W).unflatten(run_task(model, W, TaskDistribution(cfg.data).spec(0), cfg, 0, 0).delta)
        moved[param] = max(abs(sigma_mean({k: W[k] + delta[k]}, param) - sigma_mean({k: W[k]}, param))
                           for k in W if k.endswith(".rho"))
    assert moved["linear"] > 1e-5
    assert moved["linear"] > 100 * moved["softplus"]


def test_meta_kl_prior_is_zero_at_the_start_of_a_task_and_grows():
    from base_dist.meta.prior import seeded_metanet

    model = seeded_metanet(tiny("space.bayes.kl_prior=meta"))
    model.anchor_prior()
    assert float(model.kl_terms()["kl_theta"].detach()) == pytest.approx(0.0, abs=1e-3)
    with torch.no_grad():
        for p in model.weight_parameters():
            p.add_(0.01)
    assert float(model.kl_terms()["kl_theta"].detach()) > 1.0
