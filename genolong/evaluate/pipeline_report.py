"""Summary table across pipeline experiments: metrics against the baselines, throughput, time.

The Snakemake `report` rule runs `python -m genolong.evaluate.pipeline_report`. Input per experiment: the
training run's `metrics.json` and Snakemake's benchmark TSV of the train job; per evaluation
(genome × experiment): the `genolong evaluate` output folder and the annotate job's benchmark.
Output: one TSV and one Markdown table with one row per evaluated model and one per baseline of
each genome (baselines do not depend on the experiment, so each appears once; the network-free
decoder's row is `no network`), plus a row for any experiment that was trained but not evaluated.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from genolong.atomic import atomic_open
from genolong.errors import GenolongError

# Headline metrics as paths in `genolong evaluate`'s metrics.json (per system), in column order.
# GO (multilabel) and single-label schemes report different ones; whichever are present become
# columns.
HEADLINE = (
    ("protein_coding.f1", "protein-coding F1"),
    ("protein_coding.exact_stop", "exact stop"),
    ("protein_coding.exact_start", "exact start"),
    ("token.genic_f1", "token genic F1"),
    ("token.micro_auprc", "token micro AUPRC"),
    ("token.macro_auprc", "token macro AUPRC"),
    ("token.macro_f1", "token macro F1"),
    ("token.mcc", "token MCC"),
    ("gene.fmax", "gene Fmax"),
    ("function.cafa.MF.fmax", "Fmax MF"),
    ("function.cafa.BP.fmax", "Fmax BP"),
    ("function.cafa.CC.fmax", "Fmax CC"),
    ("function.product_agreement", "product agreement"),
    ("function.coverage", "coverage"),
    ("gene.macro_auprc", "gene macro AUPRC"),
    ("gene.accuracy", "gene accuracy"),
    ("gene.macro_f1", "gene macro F1"),
    ("rna.tRNA.recall", "tRNA recall"),
    ("rna.tRNA.precision", "tRNA precision"),
    ("rna.rRNA.recall", "rRNA recall"),
    ("rna.rRNA.precision", "rRNA precision"),
    ("segment.overall.precision", "segment precision"),
    ("segment.overall.recall", "segment recall"),
    ("segment.overall.f1", "segment F1"),
)


TEXT_COLUMNS = ("genome", "system", "val metric")
# the network-free decoder is the model's own decoder without the network, the figure a model's
# network is measured against: its row is named for what it is, not as one more baseline
NO_NETWORK = "no network"
# always in the table (empty where a system has no such figure): the columns the issue-15 checks read
REQUIRED_COLUMNS = ("genome", "system", "protein-coding F1", "gene Fmax", "product agreement", "coverage")


@dataclass(frozen=True)
class TrainRun:
    experiment: str
    metrics: Path  # training metrics.json
    benchmark: Path  # Snakemake benchmark TSV of the train job


@dataclass(frozen=True)
class EvaluationRun:
    genome: str
    experiment: str
    evaluate_dir: Path  # genolong evaluate --out
    benchmark: Path  # Snakemake benchmark TSV of the annotate job


def load_json(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError as exc:
        raise GenolongError(f"{path}: no such file") from exc
    except json.JSONDecodeError as exc:
        raise GenolongError(f"{path}: line {exc.lineno}: not valid JSON: {exc.msg}") from exc
    if not isinstance(data, dict):
        raise GenolongError(f"{path}: expected a JSON object at the top level")
    return data


def benchmark_seconds(path: Path) -> float:
    """Wall-clock seconds of a job from Snakemake's benchmark TSV (column `s`)."""
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
    except FileNotFoundError as exc:
        raise GenolongError(f"{path}: no such file") from exc
    if not rows or "s" not in rows[0]:
        raise GenolongError(f"{path}: not a Snakemake benchmark file (no `s` column)")
    try:
        return float(rows[0]["s"])
    except ValueError as exc:
        raise GenolongError(f"{path}: line 2: `s` is not a number: {rows[0]['s']!r}") from exc


def flatten(tree: Mapping, prefix: str = "") -> dict[str, float]:
    """Numeric leaves as dotted paths; lists (curves, confusion matrices) are skipped."""
    out: dict[str, float] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{path}."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[path] = float(value)
    return out


def headline(metrics: Mapping) -> dict[str, float]:
    """Pick the HEADLINE metrics out of one system's nested metrics."""
    flat = flatten(metrics)
    return {column: flat[path] for path, column in HEADLINE if path in flat}


def systems(metrics: Mapping, source: Path) -> dict[str, Mapping]:
    """Split an evaluation's metrics into {"model": ..., "<baseline>": ...}."""
    model = metrics.get("model")
    if not isinstance(model, Mapping):
        raise GenolongError(f"{source}: no `model` section; is this a `genolong evaluate` metrics.json?")
    baselines = metrics.get("baselines") or {}
    out = {"model": model}
    out.update({str(name): m for name, m in baselines.items() if isinstance(m, Mapping)})
    return out


def _first(flat: Mapping[str, float], *leaves: str) -> float | None:
    """The value at a top-level key, else at the first nested path ending in it."""
    for leaf in leaves:
        if leaf in flat:
            return flat[leaf]
        for path, value in flat.items():
            if path.endswith(f".{leaf}"):
                return value
    return None


def train_summary(run: TrainRun) -> dict:
    """Training columns: best validation score, throughput, fit time (else the job's wall time)."""
    metrics = load_json(run.metrics)
    flat = flatten(metrics)
    seconds = _first(flat, "seconds")
    return {
        "val metric": metrics.get("monitor") if isinstance(metrics.get("monitor"), str) else None,
        "best val": _first(flat, "best_score"),
        "train tokens/s": _first(flat, "tokens_per_s"),
        "train time (s)": seconds if seconds is not None else benchmark_seconds(run.benchmark),
    }


def summarize(train_runs: Iterable[TrainRun], evaluations: Iterable[EvaluationRun]) -> list[dict]:
    """Rows of the summary table, models first then baselines, in input order."""
    train = {run.experiment: train_summary(run) for run in train_runs}
    rows: list[dict] = []
    baseline_rows: dict[tuple[str, str], dict] = {}
    evaluated: set[str] = set()
    for ev in evaluations:
        if ev.experiment not in train:
            raise GenolongError(f"evaluation {ev.genome}:{ev.experiment}: no training run given for it")
        evaluated.add(ev.experiment)
        source = ev.evaluate_dir / "metrics.json"
        loaded = load_json(source)
        parts = systems(loaded, source)
        annotate_s = benchmark_seconds(ev.benchmark)
        rows.append(
            {"genome": ev.genome, "system": ev.experiment, **headline(parts.pop("model")),
             **train[ev.experiment], "annotate time (s)": annotate_s}
        )
        # the parts of the per-gene function: "reformer (network alone)", "reformer (homologs alone)", ...
        for name, m in (loaded.get("function_systems") or {}).items():
            if isinstance(m, Mapping):
                rows.append({"genome": ev.genome, "system": f"{ev.experiment} ({name})", **headline(m)})
        for name, m in parts.items():
            system = name if name == NO_NETWORK else f"baseline: {name}"
            baseline_rows.setdefault((ev.genome, name), {"genome": ev.genome, "system": system, **headline(m)})
    for experiment, summary in train.items():
        if experiment not in evaluated:
            rows.append({"genome": "", "system": experiment, **summary})
    return rows + list(baseline_rows.values())


def columns(rows: list[dict]) -> list[str]:
    order = ["genome", "system"] + [c for _, c in HEADLINE]
    order += ["val metric", "best val", "train tokens/s", "train time (s)", "annotate time (s)"]
    present = {k for row in rows for k in row} | set(REQUIRED_COLUMNS)
    return [c for c in order if c in present] + sorted(present - set(order))


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) >= 100 else f"{value:.4g}"
    return str(value)


def write_tsv(rows: list[dict], path: Path) -> None:
    cols = columns(rows)
    with atomic_open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter="\t", lineterminator="\n")
        writer.writerow(cols)
        for row in rows:
            writer.writerow([_fmt(row.get(c)) for c in cols])


def write_markdown(rows: list[dict], path: Path) -> None:
    cols = columns(rows)
    lines = [
        "# genolong pipeline summary",
        "",
        "Metrics of each trained model on genomes it never saw, beside the baselines of each",
        "genome. `train time` is genolong-train's own run time (its metrics.json `seconds`);",
        "`annotate time` is the annotate job's wall clock (Snakemake benchmark).",
        "",
        "| " + " | ".join(cols) + " |",
        "| " + " | ".join("---" if c in TEXT_COLUMNS else "---:" for c in cols) + " |",
    ]
    lines += ["| " + " | ".join(_fmt(row.get(c)) for c in cols) + " |" for row in rows]
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m genolong.evaluate.pipeline_report", description=__doc__.splitlines()[0])
    parser.add_argument("--train", nargs=3, action="append", default=[], metavar=("EXPERIMENT", "METRICS_JSON", "BENCHMARK_TSV"))
    parser.add_argument(
        "--evaluation", nargs=4, action="append", default=[],
        metavar=("GENOME", "EXPERIMENT", "EVALUATE_DIR", "BENCHMARK_TSV"),
    )
    parser.add_argument("--tsv", required=True, type=Path)
    parser.add_argument("--md", required=True, type=Path)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        train_runs = [TrainRun(name, Path(m), Path(b)) for name, m, b in args.train]
        evaluations = [EvaluationRun(g, x, Path(d), Path(b)) for g, x, d, b in args.evaluation]
        rows = summarize(train_runs, evaluations)
        write_tsv(rows, args.tsv)
        write_markdown(rows, args.md)
    except GenolongError as exc:
        print(f"pipeline_report: error: {exc}", file=sys.stderr)
        return GenolongError.exit_code
    print(args.md.read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
