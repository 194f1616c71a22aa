"""CLI error behaviour through a subprocess: exit codes and one-line messages."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from base_dist.cli import SUBCOMMANDS as REGISTERED

SUBCOMMANDS = ["meta-train", "adapt", "derive", "train", "export", "profile", "data", "tune", "fewshot", "demo"]


def test_help_lists_every_subcommand(cli):
    result = cli("--help")
    assert result.returncode == 0
    for name in SUBCOMMANDS:
        assert name in result.stdout


@pytest.mark.parametrize("name", sorted(REGISTERED))
def test_help_summary_is_the_commands_own(name):
    # `base-dist --help` lists the summaries without importing the commands: they must not drift.
    module, summary = REGISTERED[name]
    command = importlib.import_module(f"base_dist.cli.{module}").command
    assert summary == " ".join(command.help.split("\n\n")[0].split())


def test_top_level_help_does_not_import_torch():
    code = ("import sys; from base_dist.cli import main; main(['--help']); "
            "sys.exit(3 if 'torch' in sys.modules else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "meta-train" in result.stdout


def test_unknown_config_key_exits_2_with_one_line(cli, tmp_path, tiny_config_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(tiny_config_path.read_text() + "\nbogus_section: 1\n")
    result = cli("meta-train", "--config", str(bad), "--run-dir", str(tmp_path / "run"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "bogus_section" in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--set", "meta.inner_lr_weights=-1"], "meta.inner_lr_weights"),
        (["--set", "meta.rounds=many"], "meta.rounds"),
        (["--set", "space.arch.mode=nope"], "space.arch.mode"),
    ],
)
def test_bad_override_exits_2(cli, tmp_path, tiny_config_path, args, needle):
    result = cli("meta-train", "--config", str(tiny_config_path), "--run-dir", str(tmp_path / "r"), *args)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert needle in result.stderr


def test_missing_config_file(cli, tmp_path):
    result = cli("meta-train", "--config", str(tmp_path / "missing.yaml"))
    assert result.returncode == 2
    assert "config file not found" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_debug_shows_traceback(cli, tmp_path):
    result = cli("meta-train", "--config", str(tmp_path / "missing.yaml"), "--debug")
    assert result.returncode == 2
    assert "Traceback" in result.stderr


def test_unknown_subcommand_and_option(cli):
    result = cli("frobnicate")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    result = cli("derive", "--no-such-flag")
    assert result.returncode == 2
    assert "no-such-flag" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_fewshot_search_bad_input_is_one_line_and_writes_nothing(cli, tmp_path):
    run = tmp_path / "fs"
    result = cli("fewshot", "search", "--set", "fewshot.k_query=19", "--k-shot", "5", "--run-dir", str(run))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "fewshot.k_shot + fewshot.k_query" in result.stderr and not run.exists()


def test_version(cli):
    result = cli("--version")
    assert result.returncode == 0
    assert "base-dist" in result.stdout


def test_unreadable_config_exits_2(cli, tmp_path):
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"name: caf\xe9\n")
    result = cli("meta-train", "--config", str(bad))
    assert result.returncode == 2
    assert "cannot read the config" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_meta_train_refuses_to_start_over_another_run(cli, tmp_path, tiny_config_path):
    run = tmp_path / "run"
    first = cli("meta-train", "--config", str(tiny_config_path), "--set", "meta.rounds=1", "--run-dir", str(run))
    assert first.returncode == 0, first.stderr
    before = (run / "config.yaml").read_text()
    again = cli("meta-train", "--config", str(tiny_config_path), "--set", "meta.rounds=2", "--run-dir", str(run))
    assert again.returncode == 2
    assert "--resume" in again.stderr and len(again.stderr.strip().splitlines()) == 1
    assert (run / "config.yaml").read_text() == before  # the other run's files are untouched
