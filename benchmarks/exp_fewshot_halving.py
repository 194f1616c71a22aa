"""Would `fewshot select` by successive halving keep the same winner? (issue 15; pre-registered in 55e8796)

The rule: every candidate to 50 MAML iterations, scored on the same val episodes as select; the best
two (ties: the lower index) continue to 100 iterations and the best of them at 100 wins. A candidate's
training does not depend on the rule, so a select run directory already holds most of the answer: the
scores at 100 are in ``candidates.json`` and the losers' 50-iteration checkpoints are kept. Only the
winner was continued past 100, so its 50-iteration weights are re-trained (its logged query losses of
iterations 1-50 must repeat exactly, else the script stops). Each 50-iteration checkpoint is scored
with ``fewshot eval --split val`` at select's episode count; one candidate's 100-iteration checkpoint
is scored too and must give the recorded score exactly.

Where the halving winner is the select winner, the halving pipeline's result on that seed is the
select run's, bit for bit. Writes ``ROWS_DIR/seedK.json`` per select directory.

Usage:
    .venv/bin/python benchmarks/exp_fewshot_halving.py runs/conf/select-s2 runs/conf/select-s3 \\
        --seeds 2 3 --rows-dir docs/rows/fewshot-halving --workers 2
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BASE_DIST = str(Path(sys.executable).with_name("base-dist"))
HALF = 50


def _run(args: list[str]) -> None:
    subprocess.run([BASE_DIST, *args], check=True, stdout=subprocess.DEVNULL)


def _losses(run: Path, upto: int) -> list[float]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return [r["query_loss"] for r in rows if r["iteration"] <= upto]


def _at_checkpoint(tmp: Path, cand: Path, iteration: int, workers: int) -> Path:
    """A run directory holding ``cand``'s checkpoint at ``iteration``: copied, or re-trained when it is gone."""
    run = tmp / f"{cand.name}-{iteration}"
    ckpt = cand / "checkpoints" / f"ckpt-{iteration:06d}.safetensors"
    if ckpt.is_file():
        (run / "checkpoints").mkdir(parents=True)
        shutil.copy(cand / "config.yaml", run / "config.yaml")
        shutil.copy(ckpt, run / "checkpoints" / ckpt.name)
        return run
    _run(["fewshot", "train", "--config", str(cand / "config.yaml"), "--set", f"fewshot.iterations={iteration}",
          "--set", "fewshot.val_every=0", "--workers", str(workers), "--run-dir", str(run)])
    if _losses(run, iteration) != _losses(cand, iteration):
        sys.exit(f"{cand}: the re-trained iterations 1-{iteration} do not repeat the logged losses")
    return run


def _val_score(run: Path, episodes: int, workers: int) -> float:
    _run(["fewshot", "eval", str(run), "--split", "val", "--episodes", str(episodes), "--workers", str(workers)])
    return float(json.loads((run / "fewshot-eval-val.json").read_text())["mean"])


def halving_row(select_dir: Path, seed: int, workers: int) -> dict[str, object]:
    record = json.loads((select_dir / "candidates.json").read_text())
    episodes, cands = int(record["val_episodes"]), record["candidates"]
    at_full = [float(c["val_acc"]) for c in cands]
    with tempfile.TemporaryDirectory(prefix="halving-") as tmp_name:
        tmp = Path(tmp_name)
        check = next(c["index"] for c in cands if c["index"] != record["best"])  # its 100-iteration checkpoint is kept
        rescored = _val_score(_at_checkpoint(tmp, select_dir / f"candidate-{check}", 100, workers), episodes, workers)
        if rescored != at_full[check]:
            sys.exit(f"{select_dir}: candidate {check} re-scored at 100 iterations: {rescored}, recorded {at_full[check]}")
        at_half = [_val_score(_at_checkpoint(tmp, select_dir / f"candidate-{c['index']}", HALF, workers), episodes,
                          workers) for c in cands]
    kept = sorted(range(len(cands)), key=lambda k: (-at_half[k], k))[:2]
    winner = max(kept, key=lambda k: (at_full[k], -k))
    return {"seed": seed, "select_dir": str(select_dir), "val_episodes": episodes, f"val_acc_at_{HALF}": at_half,
            "val_acc_at_100": at_full, "kept": kept, "halving_winner": winner, "select_winner": record["best"],
            "same_winner": winner == record["best"], "rescored_check": {"candidate": check, "val_acc": rescored}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("select_dirs", nargs="+", type=Path)
    ap.add_argument("--seeds", nargs="+", type=int, required=True)
    ap.add_argument("--rows-dir", type=Path, required=True)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    if len(args.seeds) != len(args.select_dirs):
        sys.exit("--seeds: one seed per select directory")
    args.rows_dir.mkdir(parents=True, exist_ok=True)
    for select_dir, seed in zip(args.select_dirs, args.seeds, strict=True):
        row = halving_row(select_dir, seed, args.workers)
        (args.rows_dir / f"seed{seed}.json").write_text(json.dumps(row, indent=1) + "\n")
        print(f"seed {seed}: at {HALF} {[round(100 * a, 2) for a in row[f'val_acc_at_{HALF}']]} -> keep {row['kept']}; "
              f"halving winner {row['halving_winner']}, select winner {row['select_winner']}: "
              f"{'same' if row['same_winner'] else 'DIFFERENT'}", flush=True)


if __name__ == "__main__":
    main()
