"""TUNE.yaml validation: unknown keys, unknown config paths, bad distributions -> one-line UserError / exit 2."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from base_dist.cli import main
from base_dist.config import config_to_dict, load_config
from base_dist.errors import UserError
from base_dist.tune.params import apply_params, check_params, prepare_base
from base_dist.tune.resources import trial_bundles
from base_dist.tune.spec import TuneSpec, load_tune_spec, parse_tune_spec

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "jobs" / "configs"
GOOD = {"params": {"meta.inner_lr_weights": {"loguniform": [0.01, 0.2]}, "meta.inner_steps": {"choice": [2, 5]}}}


def tiny():
    return load_config(CONFIGS / "tiny.yaml")


def _prepare(data: dict) -> None:
    prepare_base(tiny(), parse_tune_spec(data, "t.yaml"), "t.yaml")


@pytest.mark.parametrize("data, needle", [
    ({**GOOD, "metirc": "holdout_acc"}, "t.yaml: metirc: unknown key"),
    ({**GOOD, "scheduler": {"name": "asha", "grace": 2}}, "t.yaml: scheduler.grace: unknown key"),
    ({**GOOD, "search": "bayesopt"}, "t.yaml: search:"),
    ({"params": {"meta.bogus": {"choice": [1]}}}, "t.yaml: params.meta.bogus: unknown config path"),
    ({"params": {"metta.inner_steps": {"choice": [1]}}}, "t.yaml: params.metta.inner_steps: unknown config path"),
    ({"params": {"meta": {"choice": [1]}}}, "t.yaml: params.meta: is a config section"),
    ({"params": {"meta.outer_lr": {"gaussian": [0, 1]}}}, "t.yaml: params.meta.outer_lr.gaussian: unknown key"),
    ({"params": {"meta.outer_lr": {"uniform": [1, 0.5]}}}, "t.yaml: params.meta.outer_lr: "),
    ({"params": {"meta.outer_lr": {"loguniform": [0, 1]}}}, "t.yaml: params.meta.outer_lr: "),
    ({"params": {"meta.outer_lr": {"uniform": [0.1]}}}, "t.yaml: params.meta.outer_lr.uniform"),
    ({"params": {"meta.outer_lr": {"uniform": [0.1, 1], "choice": [1]}}}, "t.yaml: params.meta.outer_lr: "),
    ({"params": {"meta.outer_lr": {"choice": []}}}, "t.yaml: params.meta.outer_lr.choice"),
    ({"params": {"meta.inner_steps": {"uniform": [1, 5]}}}, "t.yaml: params.meta.inner_steps: an integer field"),
    ({"params": {"meta.inner_lr_weights": {"uniform": [-0.1, 0.2]}}},
     "t.yaml: params.meta.inner_lr_weights: the config rejects -0.1"),
    ({"params": {"meta.inner_optimizer": {"choice": ["sgd", "rmsprop"]}}},
     "t.yaml: params.meta.inner_optimizer: the config rejects 'rmsprop'"),
    ({**GOOD, "fixed": {"meta.roundz": 3}}, "t.yaml: fixed.meta.roundz: unknown config path"),
    ({"params": {}}, "t.yaml: params:"),
    ({"metric": "holdout_acc"}, "t.yaml: params:"),
    ({**GOOD, "metric": "adapt_gain"}, "t.yaml: <root>: metric adapt_gain is measured once"),
    ({**GOOD, "fixed": {"meta.budget_minutes": 5}}, "t.yaml: meta.budget_minutes would stop trials"),
    ({"params": {"meta.budget_minutes": {"choice": [5, 10]}}}, "t.yaml: meta.budget_minutes would stop trials"),
])
def test_tune_spec_errors_are_one_line_naming_the_key(data, needle):
    with pytest.raises(UserError) as err:
        _prepare(data)
    message = str(err.value)
    assert needle in message, message
    assert "\n" not in message


def test_tune_spec_without_held_out_classes_says_how_to_fix():
    with pytest.raises(UserError, match=r"data.holdout_classes >= data.n_way"):
        prepare_base(load_config(CONFIGS / "tiny.yaml", ["data.holdout_classes=0"]), parse_tune_spec(GOOD), "t.yaml")


def test_tune_spec_defaults_shorthands_and_fixed_values():
    spec = parse_tune_spec({**GOOD, "scheduler": "fifo", "fixed": {"meta.rounds": 4}})
    assert (spec.metric, spec.mode, spec.search, spec.scheduler.name) == ("holdout_acc", "max", "random", "fifo")
    cfg = prepare_base(tiny(), spec)
    assert cfg.meta.rounds == 4
    assert apply_params(config_to_dict(cfg), {"meta.inner_steps": 5}).meta.inner_steps == 5


def test_tune_shipped_spaces_validate_against_their_configs():
    for config, space in (("tiny.yaml", "tune_tiny.yaml"), ("demo.yaml", "tune_space.yaml"),
                          ("prior-glyphs.yaml", "tune_prior.yaml")):
        spec = load_tune_spec(CONFIGS / space)
        cfg = prepare_base(load_config(CONFIGS / config), spec, space)
        check_params(spec, config_to_dict(cfg), space)
    assert load_tune_spec(CONFIGS / "tune_tiny.yaml").num_samples == 2


def test_tune_search_space_maps_to_ray_domains():
    pytest.importorskip("ray.tune")
    from base_dist.tune.params import search_space

    spec = TuneSpec.model_validate({"params": {"meta.inner_steps": {"randint": [2, 3]},
                                               "meta.outer_lr": {"loguniform": [0.1, 1.0]}}})
    space = search_space(spec)
    samples = {space["meta.inner_steps"].sample() for _ in range(50)}
    assert samples == {2, 3}  # our upper bound is inclusive
    assert all(0.1 <= space["meta.outer_lr"].sample() <= 1.0 for _ in range(20))


def test_tune_trial_bundles_reserve_driver_and_workers():
    cfg = load_config(CONFIGS / "tiny.yaml", ["dist.workers=2", "dist.num_cpus_per_worker=0.5"])
    assert trial_bundles(cfg, 0.5) == [{"CPU": 0.5}, {"CPU": 0.5}, {"CPU": 0.5}]
    gpu = load_config(CONFIGS / "tiny.yaml", ["dist.workers=1", "dist.num_gpus_per_worker=1"])
    assert trial_bundles(gpu, 1) == [{"CPU": 1.0}, {"CPU": 0.5, "GPU": 1.0}]
    assert trial_bundles(tiny(), 0.25) == [{"CPU": 1.0}]  # in-process trials train in the driver


def test_tune_optuna_missing_names_pip_install(monkeypatch):
    pytest.importorskip("ray.tune")
    from base_dist.tune.search import make_searcher

    monkeypatch.setitem(sys.modules, "optuna", None)  # `import optuna` now raises ImportError
    with pytest.raises(UserError, match=r"pip install optuna"):
        make_searcher(parse_tune_spec({**GOOD, "search": "optuna"}), seed=0)


def test_tune_cli_bad_space_exits_2_with_one_line(tmp_path, capsys):
    space = tmp_path / "space.yaml"
    cases = [({**GOOD, "bogus": 1}, "bogus: unknown key"),
             ({"params": {"meta.nope": {"choice": [1]}}}, "params.meta.nope: unknown config path"),
             ({"params": {"meta.outer_lr": {"normal": [0, 1]}}}, "params.meta.outer_lr.normal: unknown key")]
    for data, needle in cases:
        space.write_text(yaml.safe_dump(data))
        code = main(["tune", "--config", str(CONFIGS / "tiny.yaml"), "--space", str(space),
                     "--run-dir", str(tmp_path / "run")])
        err = capsys.readouterr().err.strip()
        assert code == 2, err
        assert err.startswith("base-dist: error: ") and needle in err and "\n" not in err, err
    assert not (tmp_path / "run").exists()  # nothing is created before the spec is valid
    code = main(["tune", "--config", str(CONFIGS / "tiny.yaml"), "--space", str(tmp_path / "missing.yaml")])
    assert code == 2 and "file not found" in capsys.readouterr().err
