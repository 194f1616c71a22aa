"""Experiment (a), paper Fig. 4: accuracy per adaptation epoch, meta-prior vs frozen architecture vs scratch.

For each seed and dataset, three adaptations of the same supernet with the same budget
(:func:`base_dist.meta.adapt.adapt`): ``co-adapted`` (meta-train checkpoint, phi and weights
trained), ``frozen-arch`` (checkpoint, phi fixed) and ``scratch`` (the seeded initial W of the
checkpoint's space, no meta-training). Seeds vary the held-out split, the noise and the scratch initialisation.

All three adapt at one Gumbel temperature (``adapt.tau``, else the checkpoint's): left to the
schedule, scratch would run at ``tau_start`` and the meta-prior at its annealed value, and the
temperature alone moved epoch-1 accuracy by more than 20 points (docs/results.md).

Example:
    >>> # res = run_fast_adaptation(cfg, ckpt, seeds=[0, 1, 2], datasets=["digits"], run_dir=Path("runs/fa"))
    >>> # print(res.table)
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from base_dist.config import ExperimentConfig
from base_dist.errors import UserError
from base_dist.report.common import with_seed
from base_dist.report.figures import plot_curves
from base_dist.report.tables import fmt_mean_std, fmt_paired, markdown_table
from base_dist.space.genotypes import genotype_from_dict, genotype_stability, genotype_to_dict

log = logging.getLogger(__name__)
VARIANTS = ("co-adapted", "frozen-arch", "scratch")
PRETRAINED = "pretrained"  # the plain-pretraining arm (report.pretrain), when a checkpoint is given
# Full 10-way Fashion-MNIST is adapted at 28 px (its native size, a meta-training head).
DATASET_SIZES = {"digits": None, "fashion-mnist": 28, "glyphs-holdout": 16, "glyphs-hard-holdout": 16}
Curves = dict[str, dict[str, list[list[float]]]]  # [dataset][variant] -> per seed, accuracy per epoch
Seconds = dict[str, dict[str, list[float]]]
Genotypes = dict[str, dict[str, list[dict[str, Any]]]]  # [dataset][variant] -> per seed, genotype_to_dict
# (row label, variant a, variant b) of the paired-difference table.
CONTRASTS = (("prior - scratch", "co-adapted", "scratch"), ("prior - pretrained", "co-adapted", PRETRAINED),
             ("co-adapted - frozen-arch", "co-adapted", "frozen-arch"))


@dataclass
class FastAdaptationResult:
    """``curves[dataset][variant]`` = one held-out accuracy list per seed (epoch 0 first)."""

    curves: Curves
    seconds: Seconds
    table: str
    figures: list[Path]
    tau: float = 1.0


@dataclass
class FastAdaptationRecord:
    """What ``fast_adaptation.json`` holds: one run's, or several joined seed by seed (joinable again)."""

    curves: Curves
    seconds: Seconds
    genotypes: Genotypes
    seeds: dict[str, list[int]]  # per dataset, in the order of the curves
    tau: float | None = None  # the adaptation temperature; a join of runs does not record one

    def write(self, run_dir: Path) -> FastAdaptationResult:
        """Write ``run_dir/fast_adaptation.json``, then the figures and tables (:func:`summarize_fast_adaptation`)."""
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "fast_adaptation.json").write_text(json.dumps(
            {"curves": self.curves, "seconds": self.seconds, "seeds": self.seeds, "tau": self.tau,
             "genotypes": self.genotypes}, indent=1))
        return summarize_fast_adaptation(self.curves, self.seconds, run_dir, self.genotypes)


def adapt_variant(cfg: ExperimentConfig, checkpoint: Path, variant: str,
                  pretrained: Path | None = None) -> tuple[list[float], float, dict[str, Any]]:
    """Held-out accuracy per epoch (epoch 0 first), seconds and derived genotype (as a dict) of one variant.

    Example:
        >>> # accs, s, genotype = adapt_variant(cfg, Path("runs/mt"), "scratch")
    """
    from base_dist.meta.adapt import adapt
    from base_dist.meta.prior import config_with_space, load_posterior

    c = cfg.model_copy(deep=True)
    c.adapt.freeze_arch = variant == "frozen-arch"
    if variant == "scratch":  # the prior's own supernet (its space), untrained, whatever --config's space says
        c = config_with_space(c, load_posterior(checkpoint).space)
    start = {"scratch": None, PRETRAINED: pretrained}.get(variant, checkpoint)
    res = adapt(c, start, progress=False)
    return [float(h["val_acc"]) for h in res.history], float(res.info["seconds"]), genotype_to_dict(res.genotype)


def run_fast_adaptation(cfg: ExperimentConfig, checkpoint: Path, *, seeds: list[int], datasets: list[str],
                        run_dir: Path, pretrained: Path | None = None,
                        variants: tuple[str, ...] | None = None) -> FastAdaptationResult:
    """Run every (dataset, seed, variant); write ``fast_adaptation.json``, ``*.png`` and ``table.md``.

    ``pretrained`` (a :func:`base_dist.report.pretrain.pretrain` checkpoint) adds the plain
    pretraining arm. ``variants`` runs only those arms (e.g. a new prior's two, to be joined with
    another run's scratch and pretrained arms by :func:`join_fast_adaptation`).

    Example:
        >>> # run_fast_adaptation(cfg, ckpt, seeds=[0], datasets=["digits"], run_dir=Path("/tmp/fa"))
    """
    from base_dist.meta.adapt import pin_tau

    run_dir.mkdir(parents=True, exist_ok=True)
    cfg = pin_tau(cfg, checkpoint)
    log.info("fast adaptation: every variant adapts at tau %.3f", cfg.adapt.tau)
    variants = variants or ((*VARIANTS, PRETRAINED) if pretrained is not None else VARIANTS)
    if PRETRAINED in variants and pretrained is None:
        raise UserError("the pretrained arm needs a pretraining checkpoint (--pretrained)")
    curves: Curves = {}
    seconds: Seconds = {}
    genotypes: Genotypes = {}  # is the derived architecture stable across seeds?
    for ds in datasets:
        curves[ds] = {v: [] for v in variants}
        seconds[ds] = {v: [] for v in variants}
        genotypes[ds] = {v: [] for v in variants}
        for seed in seeds:
            c = with_seed(cfg, seed)
            c.adapt.dataset = ds
            if DATASET_SIZES.get(ds):
                c.adapt.image_size = DATASET_SIZES[ds]
            for v in variants:
                accs, s, genotype = adapt_variant(c, checkpoint, v, pretrained)
                curves[ds][v].append(accs)
                seconds[ds][v].append(s)
                genotypes[ds][v].append(genotype)
                log.info("fast adaptation %s seed %d %s: %s (%.0f s)", ds, seed, v,
                         " ".join(f"{100 * a:.1f}" for a in accs), s)
    record = FastAdaptationRecord(curves, seconds, genotypes, {ds: list(seeds) for ds in datasets}, cfg.adapt.tau)
    res = record.write(run_dir)
    res.tau = float(cfg.adapt.tau or 1.0)
    return res


def join_fast_adaptation(paths: list[str | Path]) -> FastAdaptationRecord:
    """Merge the ``fast_adaptation.json`` of several runs, seed by seed.

    Runs may split the work by dataset, seed range or variant; ``PATH:v1,v2`` takes only those
    variants from a file (a new prior's arms beside an older run's scratch and pretrained ones). A
    file without ``seeds`` holds seeds 0, 1, ... Every variant of a dataset must cover the same seeds
    (the contrasts pair them), and a (dataset, variant, seed) given twice is an error. A variant's
    genotypes are kept when every one of its seeds recorded one (older files have none).

    Example:
        >>> # join_fast_adaptation(["runs/fa-old/fast_adaptation.json:scratch,pretrained", "runs/fa-new/fast_adaptation.json"])
    """
    runs: dict[str, dict[str, dict[int, tuple[list[float], float, dict[str, Any] | None]]]] = {}
    for spec in paths:
        path, _, wanted = str(spec).partition(":")
        if not Path(path).is_file():
            raise UserError(f"{path}: no such file; give each run's fast_adaptation.json, as PATH or PATH:variants "
                            "(a shell glob does not expand with ':variants' after it)")
        data = json.loads(Path(path).read_text())
        for ds, by_variant in data["curves"].items():
            seeds = data.get("seeds")
            seeds = seeds.get(ds) if isinstance(seeds, dict) else seeds  # older files: one list for all datasets
            for v, per_seed in by_variant.items():
                if wanted and v not in wanted.split(","):
                    continue
                recorded = data.get("genotypes", {}).get(ds, {}).get(v) or [None] * len(per_seed)
                got = runs.setdefault(ds, {}).setdefault(v, {})
                for seed, curve, secs, genotype in zip(seeds or range(len(per_seed)), per_seed,
                                                       data["seconds"][ds][v], recorded, strict=True):
                    if seed in got:
                        raise UserError(f"{path}: {ds} / {v} / seed {seed} is in another file too")
                    got[seed] = (curve, secs, genotype)
    for ds, by_variant in runs.items():
        seed_sets = {v: sorted(got) for v, got in by_variant.items()}
        if len({tuple(s) for s in seed_sets.values()}) > 1:
            raise UserError(f"{ds}: the variants cover different seeds ({seed_sets}); join runs of the same seeds")

    def column(k: int) -> dict[str, dict[str, list[Any]]]:
        return {ds: {v: [got[s][k] for s in sorted(got)] for v, got in bv.items()} for ds, bv in runs.items()}

    genotypes = {ds: {v: gs for v, gs in bv.items() if None not in gs} for ds, bv in column(2).items()}
    seeds = {ds: sorted(next(iter(bv.values()))) for ds, bv in runs.items()}
    return FastAdaptationRecord(column(0), column(1), genotypes, seeds)


def summarize_fast_adaptation(curves: Curves, seconds: Seconds, run_dir: Path,
                              genotypes: Genotypes | None = None) -> FastAdaptationResult:
    """Figures (one per dataset) and the markdown tables from the per-seed curves (and genotypes).

    Example:
        >>> r = summarize_fast_adaptation({"d": {"a": [[0.1, 0.5]]}}, {"d": {"a": [2.0]}}, Path("/tmp/base-dist-fa"))
        >>> "| d | a |" in r.table
        True
    """
    figures = []
    rows: list[list[Any]] = []
    n_epochs = 0
    for ds, by_variant in curves.items():
        figures.append(plot_curves(by_variant, run_dir / f"fast_adaptation_{ds}.png", "adaptation epoch",
                                   "held-out accuracy", f"fast adaptation to {ds} (mean ± std over seeds)"))
        for v, runs in by_variant.items():
            n_epochs = max(n_epochs, len(runs[0]))
            cols = [fmt_mean_std([r[e] for r in runs], 100) for e in range(len(runs[0]))]
            rows.append([ds, v, len(runs), *cols, fmt_mean_std(seconds[ds][v], 1, 0)])
    header = ["dataset", "variant", "seeds", *[f"epoch {e} (%)" for e in range(n_epochs)], "adapt s"]
    # Pad shorter curves (another dataset's epoch count) so every row has the header's width.
    table = markdown_table(header, [r[:-1] + [""] * (len(header) - len(r)) + [r[-1]] for r in rows])
    table += "\n" + paired_table(curves)
    if genotypes and any(genotypes.values()):
        table += "\n" + stability_table(genotypes)
    (run_dir / "table.md").write_text(table)
    return FastAdaptationResult(curves=curves, seconds=seconds, table=table, figures=figures)


def paired_table(curves: Curves) -> str:
    """Paired differences per seed after every epoch (points, mean and 95 % CI) for :data:`CONTRASTS`.

    Example:
        >>> c = {"d": {"co-adapted": [[0.1, 0.6], [0.1, 0.7]], "scratch": [[0.1, 0.5], [0.1, 0.55]]}}
        >>> "| d | prior - scratch | 2 | +12.5" in paired_table(c)
        True
    """
    rows = []
    for ds, by_variant in curves.items():
        for label, a, b in CONTRASTS:
            if a in by_variant and b in by_variant and by_variant[a]:
                epochs = range(1, min(len(by_variant[a][0]), len(by_variant[b][0])))
                cells = [fmt_paired([r[e] for r in by_variant[a]], [r[e] for r in by_variant[b]]) for e in epochs]
                rows.append([ds, label, len(by_variant[a]), *cells])
    width = max((len(r) for r in rows), default=4)
    return markdown_table(["dataset", "paired difference", "seeds",
                           *[f"after epoch {e}: points, mean [95 % CI]" for e in range(1, width - 2)]],
                          [r + [""] * (width - len(r)) for r in rows])


def stability_table(genotypes: Genotypes) -> str:
    """Per (dataset, variant): how many distinct genotypes the seeds derived, and their edge agreement.

    Example:
        >>> from base_dist.space.genotypes import get_genotype
        >>> g = genotype_to_dict(get_genotype("darts_v2"))
        >>> "| d | co-adapted | 2 | 1 | 100.0 |" in stability_table({"d": {"co-adapted": [g, g]}})
        True
    """
    rows = []
    for ds, by_variant in genotypes.items():
        for v, per_seed in by_variant.items():
            distinct, agree = genotype_stability([genotype_from_dict(g) for g in per_seed])
            rows.append([ds, v, len(per_seed), distinct, f"{100 * agree:.1f}"])
    return markdown_table(["dataset", "variant", "seeds", "distinct genotypes",
                           "edges chosen by most seeds (%)"], rows)
