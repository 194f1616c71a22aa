"""``fewshot select``: score a few-shot search's genotypes by a short MAML run each and keep the best.

The supernet ranks cells by how well *it* learns with them; a MAML network of one cell can train quite
differently (docs/results.md (e): at 4x conv4's size, searched cells from 30.8 to 51.9 %). This is the
search's evaluator: the candidates are the search's most probable genotype and genotypes derived from
Gumbel draws of its phi (seeded, distinct), each is trained with ``fewshot.select_iterations`` MAML
iterations exactly as ``fewshot train`` would, and scored by its accuracy on
``fewshot.select_val_episodes`` episodes of the *val* classes (the same episodes for every candidate;
the holdout classes stay unseen). The winner (ties: the earlier candidate) is written as
``genotype.json``; ``candidates.json`` lists every candidate with its score. ``fewshot.select_workers``
candidates train at once, each in its own process; the scores are the same for any number.

``fewshot.select_halving`` selects by successive halving: every candidate is trained to half of
``select_iterations`` and scored on the same episodes, the better half (rounded up; ties: the earlier)
continues from its checkpoint to ``select_iterations`` and only those compete for the win. Training
does not depend on when it is scored, so a continued candidate ends with the full selection's weights
and score: the two rules differ only where the full selection's winner is dropped at half time.

Layout of the run directory: ``candidates/K.json`` (candidate K's genotype), ``candidate-K/`` (its
MAML run: checkpoints, metrics), ``candidates.json``, ``genotype.json``. A run resumes candidate by
candidate: finished ones are read back, an interrupted one continues from its checkpoint.

Example:
    >>> # res = select_fewshot(cfg, "runs/fs-search", "runs/fs-select")
    >>> # res.best.genotype, [c.val_acc for c in res.candidates]
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from torch import Tensor

from base_dist.config import ExperimentConfig, config_from_dict, config_to_dict, load_config
from base_dist.errors import UserError
from base_dist.meta.prior import Posterior
from base_dist.space.arch import sample_arch
from base_dist.space.genotypes import (
    Genotype,
    derive_genotype,
    genotype_to_dict,
    genotype_to_json,
    load_genotype_file,
    shared_edges,
)
from base_dist.track.checkpoint import CHECKPOINT_SUBDIR, CheckpointStore
from base_dist.track.rundir import write_config
from base_dist.train.fewshot import METRICS_FILE, SUMMARY_FILE, check_fewshot, fewshot_train
from base_dist.utils import make_generator, map_spawned, write_text_atomic

log = logging.getLogger(__name__)
CANDIDATES_FILE = "candidates.json"
GENOTYPE_FILE = "genotype.json"
RULE_KEYS = ("select_iterations", "select_halving", "select_val_episodes")  # what a resume must not change
DRAWS_PER_CANDIDATE = 50  # a peaked phi repeats its genotype often: give up after this many draws each


@dataclass
class Candidate:
    """One genotype of the search, where it came from, and its short-MAML score on the val classes."""

    index: int
    origin: str
    genotype: Genotype
    val_acc: float
    val_ci95: float
    params: int
    train_s: float
    iterations: int  # the MAML iterations its score is at: under halving, half of select_iterations if dropped
    half_val_acc: float | None = None  # under halving: its score at half time

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "genotype": genotype_to_dict(self.genotype)}


@dataclass
class SelectResult:
    """Every candidate, scored, and the winner."""

    candidates: list[Candidate]
    best: Candidate

    def line(self) -> str:
        top = max(c.iterations for c in self.candidates)
        scores = ", ".join(f"{c.index}: {100 * c.val_acc:.1f}%" + ("" if c.iterations == top else f" at {c.iterations} it")
                           for c in self.candidates)
        return (f"fewshot select: {len(self.candidates)} candidates (val accuracy {scores}) | best: candidate "
                f"{self.best.index} ({self.best.origin}), {100 * self.best.val_acc:.2f}% ± {100 * self.best.val_ci95:.2f}%")


def candidate_genotypes(phi_normal: Tensor, phi_reduce: Tensor, ops: list[str], nodes: int, count: int,
                        seed: int) -> list[tuple[str, Genotype]]:
    """The most probable genotype of phi, then distinct genotypes derived from seeded Gumbel draws of phi.

    Fewer than ``count`` come back when phi is so peaked that new draws keep repeating known genotypes.

    Example:
        >>> import torch
        >>> phi = torch.zeros(5, 3); phi[:, 1] = 3.0
        >>> found = candidate_genotypes(phi, phi, ["none", "skip_connect", "sep_conv_3x3"], 2, 3, seed=0)
        >>> [origin for origin, _ in found][0], found[0][1].normal[:2]
        ('most probable', [('skip_connect', 0), ('skip_connect', 1)])
        >>> len(found) == len({str(g) for _, g in found}) == 3
        True
    """
    out = [("most probable", derive_genotype(phi_normal.softmax(-1), phi_reduce.softmax(-1), ops, nodes))]
    gen = make_generator(seed, "fewshot-select")
    for draw in range(1, DRAWS_PER_CANDIDATE * count + 1):
        if len(out) >= count:
            break
        normal = sample_arch(phi_normal, "gumbel", gen=gen).weights
        reduce = sample_arch(phi_reduce, "gumbel", gen=gen).weights
        g = derive_genotype(normal, reduce, ops, nodes)
        if all(shared_edges(g, known) < 1.0 for _, known in out):
            out.append((f"gumbel draw {draw}", g))
    return out


def candidate_config(cfg: ExperimentConfig, genotype_file: Path, iterations: int | None = None) -> ExperimentConfig:
    """``cfg`` for one candidate's short MAML run: its genotype, ``iterations`` (None: ``select_iterations``),
    one val score at the end."""
    fs = cfg.fewshot
    iterations = iterations or fs.select_iterations
    data = config_to_dict(cfg)
    data["fewshot"].update(network=str(genotype_file), iterations=iterations,
                           val_every=iterations, val_episodes=fs.select_val_episodes,
                           checkpoint_every=min(fs.checkpoint_every, iterations))
    return config_from_dict(data, origin="fewshot select candidate config")


def _score_all(configs: list[ExperimentConfig], subs: list[Path], workers: int) -> list[tuple[float, float, int, float]]:
    """Every candidate's score, in order; ``workers`` > 1 trains that many at once in spawned processes.

    A candidate's run depends only on its config (seeded generators, its own run directory), so the
    scores are the same for any ``workers``; a candidate interrupted in a dead process resumes from
    its checkpoint on ``fewshot select --resume``, as in the sequential case.
    """
    if workers == 1:
        return [_logged(c, sub, _score(c, sub)) for c, sub in zip(configs, subs, strict=True)]
    calls = [(config_to_dict(c), str(sub)) for c, sub in zip(configs, subs, strict=True)]
    scores = map_spawned(_score_in_process, calls, workers)
    return [_logged(c, sub, score) for c, sub, score in zip(configs, subs, scores, strict=True)]


def _score_in_process(cfg_dict: dict[str, Any], sub: str) -> tuple[float, float, int, float]:
    """:func:`_score` in a worker process, with the config's torch threads."""
    import torch

    cfg = config_from_dict(cfg_dict, origin="fewshot select candidate config")
    torch.set_num_threads(cfg.dist.torch_threads)
    return _score(cfg, Path(sub))


def _logged(cfg: ExperimentConfig, sub: Path, score: tuple[float, float, int, float]) -> tuple[float, float, int, float]:
    log.info("%s: val accuracy %.2f%% ± %.2f%% after %d iterations", sub.name, 100 * score[0], 100 * score[1],
             cfg.fewshot.iterations)
    return score


def _score(cfg: ExperimentConfig, sub: Path) -> tuple[float, float, int, float]:
    """Train (or finish, or read back) one candidate's run; ``(val acc, its CI, params, train seconds)``."""
    summary_path = sub / SUMMARY_FILE
    done = summary_path.is_file() and json.loads(summary_path.read_text())["iterations_done"] >= cfg.fewshot.iterations
    if not done:  # an interrupted candidate continues from its newest checkpoint, as `fewshot train --resume`
        fewshot_train(cfg, sub, resume=bool(CheckpointStore(sub / CHECKPOINT_SUBDIR).list()))
    summary = json.loads(summary_path.read_text())
    rows = [json.loads(line) for line in (sub / METRICS_FILE).read_text().splitlines() if line.strip()]
    # The score at this config's end: a candidate continued since (halving, or the winner trained on) has later ones.
    last = next(r for r in reversed(rows) if "val_acc" in r and r["iteration"] == cfg.fewshot.iterations)
    return float(last["val_acc"]), float(last["val_ci95"]), int(summary["params"]), float(summary["train_s"])


def _score_candidates(cfg: ExperimentConfig, found: list[tuple[str, Genotype]], files: list[Path],
                      subs: list[Path]) -> list[Candidate]:
    """Every candidate trained and scored: all to ``select_iterations``, or by successive halving."""
    fs, workers = cfg.fewshot, cfg.fewshot.select_workers
    full = [candidate_config(cfg, f) for f in files]
    if not fs.select_halving:
        return [Candidate(k, origin, g, *score, iterations=fs.select_iterations)
                for k, ((origin, g), score) in enumerate(zip(found, _score_all(full, subs, workers), strict=True))]
    half = fs.select_iterations // 2
    at_half = _score_all([candidate_config(cfg, f, half) for f in files], subs, workers)
    kept = sorted(range(len(found)), key=lambda k: (-at_half[k][0], k))[:(len(found) + 1) // 2]
    log.info("halving: candidates %s continue to %d iterations", kept, fs.select_iterations)
    at_end = dict(zip(kept, _score_all([full[k] for k in kept], [subs[k] for k in kept], workers), strict=True))
    return [Candidate(k, origin, g, *at_end.get(k, at_half[k]), iterations=fs.select_iterations if k in at_end else half,
                      half_val_acc=at_half[k][0]) for k, (origin, g) in enumerate(found)]


def check_select(cfg: ExperimentConfig, post: Posterior) -> None:
    """Refuse what would fail later, before the run directory is written: a search without few-shot heads,
    or MAML settings (source, sizes, network width) that ``fewshot train`` refuses."""
    if post.kind != "meta-train" or "fewshot" not in post.config or not post.config.get("meta", {}).get("second_order"):
        raise UserError(f"{post.path}: not a `fewshot search` run (pass the run directory that `base-dist fewshot "
                        f"search` wrote)")
    # The candidates do not exist yet: darts_v2 stands in, to check the cell network's settings (stem, sizes).
    data = config_to_dict(cfg)
    data["fewshot"].update(network="darts_v2", val_every=1)  # val_every: the val classes must serve episodes
    check_fewshot(config_from_dict(data, origin="fewshot select config"))
    if cfg.fewshot.select_halving and cfg.fewshot.select_iterations < 2:
        raise UserError("fewshot.select_halving needs fewshot.select_iterations >= 2 (candidates stop at half of it); "
                        "raise it or drop the halving")


def _check_same_rule(cfg: ExperimentConfig, run_dir: Path) -> None:
    """A resumed selection keeps its scoring rule: its candidates' checkpoints and scores were made under it."""
    if not (run_dir / "config.yaml").is_file():
        return
    before = load_config(run_dir / "config.yaml").fewshot
    for key in RULE_KEYS:
        if getattr(before, key) != getattr(cfg.fewshot, key):
            raise UserError(f"{run_dir}: the selection ran with fewshot.{key}={getattr(before, key)}, not "
                            f"{getattr(cfg.fewshot, key)}; resume it with its own setting, or pick another --run-dir")


def select_fewshot(cfg: ExperimentConfig, post: Posterior, run_dir: str | Path) -> SelectResult:
    """Score the search ``post``'s candidates (see the module docstring) into ``run_dir``; the caller holds its lock."""
    fs, run_dir = cfg.fewshot, Path(run_dir).absolute()
    found = candidate_genotypes(post.W["arch.normal"], post.W["arch.reduce"], list(post.space.ops), post.space.nodes,
                                fs.select_candidates, cfg.seed)
    for k, (_, g) in enumerate(found):  # a resumed selection must continue the same search's candidates
        path = run_dir / "candidates" / f"{k}.json"
        if path.is_file() and load_genotype_file(path) != g:
            raise UserError(f"{run_dir}: candidate {k} came from another search or seed than {post.path}; resume with "
                            f"the same SEARCH_DIR and seed, or pick another --run-dir")
    _check_same_rule(cfg, run_dir)
    write_config(cfg, run_dir)
    (run_dir / "candidates").mkdir(parents=True, exist_ok=True)
    files = []
    for k, (origin, g) in enumerate(found):
        path = run_dir / "candidates" / f"{k}.json"
        write_text_atomic(path, genotype_to_json(g) + "\n")
        log.info("candidate %d of %d (%s): %s", k, len(found), origin, g)
        files.append(path)
    subs = [run_dir / f"candidate-{k}" for k in range(len(found))]
    scored = _score_candidates(cfg, found, files, subs)
    best = max((c for c in scored if c.iterations == fs.select_iterations), key=lambda c: (c.val_acc, -c.index))
    write_text_atomic(run_dir / GENOTYPE_FILE, genotype_to_json(best.genotype) + "\n")
    record = {"search": str(post.path), "best": best.index, "iterations": fs.select_iterations,
              "halving": fs.select_halving, "val_episodes": fs.select_val_episodes,
              "candidates": [c.to_dict() for c in scored]}
    write_text_atomic(run_dir / CANDIDATES_FILE, json.dumps(record, indent=1) + "\n")
    return SelectResult(scored, best)
