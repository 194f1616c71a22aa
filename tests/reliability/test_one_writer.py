"""One writer per run directory, with real processes: a second one is refused and changes nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from reliability_helpers import ROOT, TINY, snapshot

from base_dist.track.rundir import lock_run_dir

pytestmark = pytest.mark.timeout(300)
# A CLI start on a loaded 2-core CI machine (xdist workers beside a running meta-train) once took > 120 s.
SLOW_START_S = 240

HOLD = ("import sys; from base_dist.track.rundir import lock_run_dir\n"
        "with lock_run_dir(sys.argv[1], 'holder'):\n"
        "    print('locked', flush=True); sys.stdin.read()\n")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


@pytest.fixture
def held(tmp_path):
    """A directory whose lock another process holds (until the test ends)."""
    run = tmp_path / "held"
    run.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(run)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=_env())
    assert proc.stdout.readline().strip() == "locked"
    yield run, proc
    proc.kill()
    proc.wait()


def _commands(finished_run: Path) -> dict[str, list[str]]:
    return {
        "meta-train": ["meta-train", "--config", str(TINY)],
        "adapt": ["adapt", "--from-scratch", "--config", str(TINY)],
        "derive": ["derive", "--checkpoint", str(finished_run), "--dataset", "digits"],
        "train": ["train", "--config", str(TINY)],
        "tune": ["tune", "--config", str(TINY), "--space", str(ROOT / "jobs" / "configs" / "tune_tiny.yaml")],
        "demo": ["demo", "--quick"],
        "data sample": ["data", "sample", "--config", str(TINY)],
    }


@pytest.mark.parametrize("name", ["meta-train", "adapt", "derive", "train", "tune", "demo", "data sample"])
def test_every_writing_command_refuses_a_held_directory(name, held, finished_run, base_dist):
    run, proc = held
    (run / "config.yaml").write_text("mine: 1\n")
    before = snapshot(run)
    code, lines = base_dist(*_commands(finished_run)[name], "--run-dir", run)
    assert code == 2 and len(lines) == 1, lines
    assert f"in use by pid {proc.pid} (holder)" in lines[0] and str(run) in lines[0]
    assert snapshot(run) == before


def test_a_killed_holder_leaves_no_stuck_lock(held):
    run, proc = held
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with lock_run_dir(run, "after") as d:
        assert (d / ".lock").read_text() == f"pid {os.getpid()} (after)"


@pytest.mark.timeout(2 * SLOW_START_S + 60)
def test_two_meta_trains_on_one_directory(tmp_path):
    run = tmp_path / "run"
    args = [sys.executable, "-m", "base_dist", "meta-train", "--config", str(TINY), "--run-dir", str(run),
            "--set", "meta.rounds=100000"]
    # A file, not a pipe: a progress line per round would fill an unread pipe and block the child.
    log = (tmp_path / "first.log").open("w")
    # Ctrl-C as from a shell: SIGINT at its default, even if this test process inherited SIG_IGN
    # (the child's log showed it running on, 340 rounds, after the signal).
    first = subprocess.Popen([*args, "--set", "seed=0"], stdout=log, stderr=subprocess.STDOUT, env=_env(),
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        metrics = run / "metrics.jsonl"
        while not (metrics.is_file() and metrics.read_text().count("\n") >= 1):
            assert first.poll() is None, (tmp_path / "first.log").read_text()
            time.sleep(0.2)
        second = subprocess.run([*args, "--set", "seed=1"], capture_output=True, text=True, env=_env(),
                                timeout=SLOW_START_S)
        assert second.returncode == 2, second.stderr
        assert second.stderr.strip().splitlines() == [
            f"base-dist: error: run directory {run} is in use by pid {first.pid} (meta-train); wait for it to end "
            "or pick another --run-dir (one writer per run directory)"]
        assert "seed: 0" in (run / "config.yaml").read_text()
    finally:
        first.send_signal(signal.SIGINT)  # Ctrl-C: saves the round in progress and exits
        try:
            first.wait(timeout=SLOW_START_S)
        except subprocess.TimeoutExpired:
            first.kill()  # never leave a 100000-round meta-train behind
            first.wait()
            raise
        finally:
            log.close()
    rounds = [json.loads(line)["round"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert rounds == list(range(len(rounds)))  # one run's rounds, each once
