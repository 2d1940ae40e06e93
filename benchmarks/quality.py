"""Annotation quality on genomes never trained on: the issue-15 target table, measured.

For each row (a genome kept out of training, and the recipe trained on its relatives):
1. train the recipe (`genolong-train experiment=<recipe> seed=<s>`) and fit its ORF and TIS nets
   (`genolong fit-genes`, `genolong fit-starts`), or take `--checkpoint`s (with theirs beside);
2. fit the per-gene function head and homology index on the recipe's stores (`genolong
   fit-function`: alpha and thresholds chosen on their validation regions), and the k-mer
   logistic regression on the first training store (`genolong baseline`);
3. `genolong annotate` the unseen genome and `genolong evaluate` it against its reference,
   beside the term prior, the k-mer regression, the no-learning ORF baseline, the network-free
   decoder (`no network`), pyrodigal, and pyaragorn / pybarrnap for tRNA / rRNA; for function,
   the output beside the network alone, homologs alone and the training prior.
Prints one table and writes JSON; with several seeds, the mean and the spread (min-max).

    python benchmarks/quality.py --row afade --train --seeds 0 1 2 --json benchmarks/quality.json
    python benchmarks/quality.py --row afade --checkpoint run/checkpoints/best.ckpt
    python benchmarks/quality.py --merge seed0.json seed1.json umn026.json --json all.json

Every figure comes from the test genome, never from the data a recipe was chosen on.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"

# row -> the unseen genome and its reference, the recipe trained on its relatives, the function
# metric, and the targets
ROWS = {
    "afade": {
        "genome": DATA / "mycoides_Afade.fna.gz",
        "reference": DATA / "mycoides_Afade.gff3.gz",
        "recipe": "demo",
        "function": "gene.fmax",
        "targets": {"protein-coding F1": 0.90, "exact stop": 0.95},
    },
    "umn026": {
        "genome": DATA / "ecoli_UMN026.gbk.gz",
        "reference": DATA / "ecoli_UMN026.gbk.gz",
        "recipe": "ecoli",
        "function": "gene.macro_f1",
        "targets": {"protein-coding F1": 0.93, "exact stop": 0.95},
    },
}
# "no network": the model's own decoder with the network's evidence exactly 0 (evaluate/no_network.py),
# the row a network's gain is measured against; pyaragorn and pybarrnap: the tRNA and rRNA anchors
# "model": the output as written (network + homology); "network alone" / "homologs alone": its parts
SYSTEMS = ("model", "network alone", "homologs alone", "training prior", "no network", "orf", "pyrodigal",
           "pyrodigal + pseudogene pass", "pyaragorn", "pybarrnap", "kmer_logreg", "term_prior", "majority")
RNA_CALLER = DATA / "rna_caller.pt"  # the shipped RNA-gene network (data/README.md), as the pipeline passes it


def run(cmd: list[str], log: Path) -> None:
    with open(log, "a", encoding="utf-8") as fh:
        fh.write("$ " + " ".join(map(str, cmd)) + "\n")
        fh.flush()
        done = subprocess.run([str(c) for c in cmd], stdout=fh, stderr=subprocess.STDOUT, cwd=REPO)
    if done.returncode:
        sys.exit(f"quality: `{' '.join(map(str, cmd))}` failed (exit {done.returncode}); see {log}")


def bin_of(name: str) -> str:
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else name


def train(recipe: str, seed: int, out: Path, threads: int, log: Path) -> tuple[Path, Path]:
    """(best checkpoint, first training store) of one seed of a recipe."""
    run([bin_of("genolong-train"), f"experiment={recipe}", f"seed={seed}", f"torch_threads={threads}",
         f"paths.store_root={out.parent / 'stores'}", f"hydra.run.dir={out}", "trainer.enable_progress_bar=false"],
        log)
    metrics = json.loads((out / "metrics.json").read_text())
    stores = metrics["store_dir"]
    stores = stores if isinstance(stores, list) else [stores]
    checkpoint = Path(metrics["best_checkpoint"] or metrics["last_checkpoint"])
    run([bin_of("genolong"), "fit-function", "--checkpoint", checkpoint, "--store", *stores, "--threads", threads,
         "--no-progress", "--summary", out / "function.json"], log)
    # the TIS net and the ORF net, as the pipeline's rules `fit_starts` / `fit_genes` fit them beside the
    # checkpoint (in that order: fit-genes chooses its weight with the TIS net placing the starts)
    for command in ("fit-starts", "fit-genes"):
        run([bin_of("genolong"), command, "--checkpoint", checkpoint, "--store", *stores, "--seed", seed,
             "--summary", out / f"{command.replace('-', '_')}.json"], log)
    return checkpoint, Path(stores[0])


def evaluate(row: dict, checkpoint: Path, store: Path | None, out: Path, log: Path, threads: int = 1) -> dict:
    """Annotate the unseen genome with `checkpoint` and score it; returns {system: metrics}."""
    out.mkdir(parents=True, exist_ok=True)
    pred = out / "pred"
    t0 = time.perf_counter()
    run([bin_of("genolong"), "annotate", "--checkpoint", checkpoint, "--genome", row["genome"],
         "--annotation", row["reference"], "--out", pred, "--rna-caller", RNA_CALLER, "--threads", threads,
         "--no-progress"], log)
    seconds = time.perf_counter() - t0
    cmd = [bin_of("genolong"), "evaluate", "--pred", pred, "--reference", row["reference"], "--genome", row["genome"],
           "--out", out / "eval", "--no-plots", "--threads", threads]
    if store is not None:
        run([bin_of("genolong"), "baseline", "--store", store, "--out", out / "kmer.json"], log)
        cmd += ["--baseline", out / "kmer.json"]
    run(cmd, log)
    metrics = json.loads((out / "eval" / "metrics.json").read_text())
    found = {"model": metrics["model"], **metrics.get("function_systems", {}), **metrics.get("baselines", {})}
    found["model"]["annotate_seconds"] = seconds
    return found


def pick(metrics: dict, path: str) -> float | None:
    node = metrics
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return float(node) if isinstance(node, (int, float)) else None


def summarise(row_name: str, runs: list[dict]) -> list[dict]:
    """One line per system: mean and min-max over the runs of each headline figure."""
    row = ROWS[row_name]
    columns = {"protein-coding F1": "protein_coding.f1", "precision": "protein_coding.precision",
               "recall": "protein_coding.recall", "exact stop": "protein_coding.exact_stop",
               "exact start": "protein_coding.exact_start", "function": row["function"],
               "function <90% id": row["function"].replace("gene.", "function.below_90."),
               "Fmax MF": "function.cafa.MF.fmax", "Fmax BP": "function.cafa.BP.fmax",
               "Fmax CC": "function.cafa.CC.fmax", "product agreement": "function.product_agreement",
               "coverage": "function.coverage",
               "tRNA P": "rna.tRNA.precision", "tRNA R": "rna.tRNA.recall",
               "rRNA P": "rna.rRNA.precision", "rRNA R": "rna.rRNA.recall"}
    lines = []
    for system in SYSTEMS:
        values = {col: [v for r in runs if system in r and (v := pick(r[system], path)) is not None]
                  for col, path in columns.items()}
        if not any(values.values()):
            continue
        lines.append({"genome": row_name, "system": system, "n_runs": max(len(v) for v in values.values()),
                      **{col: (statistics.fmean(v), min(v), max(v)) if v else None for col, v in values.items()}})
    return lines


def render(lines: list[dict]) -> str:
    cols = ["protein-coding F1", "precision", "recall", "exact stop", "exact start", "function", "function <90% id",
            "Fmax MF", "Fmax BP", "Fmax CC", "product agreement", "coverage", "tRNA P", "tRNA R", "rRNA P", "rRNA R"]
    out = ["| genome | system | runs | " + " | ".join(cols) + " |", "|---|---|---:|" + "---:|" * len(cols)]
    for line in lines:
        cells = []
        for col in cols:
            v = line[col]
            cells.append("" if v is None else (f"{v[0]:.3f}" if v[1] == v[2] else f"{v[0]:.3f} ({v[1]:.3f}-{v[2]:.3f})"))
        out.append(f"| {line['genome']} | {line['system']} | {line['n_runs']} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--row", choices=sorted(ROWS), action="append")
    parser.add_argument("--merge", type=Path, nargs="+", default=[],
                        help="combine the runs of these saved --json outputs into one table (no training or scoring)")
    parser.add_argument("--train", action="store_true", help="train each row's recipe (one run per seed)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--checkpoint", action="append", default=[],
                        help="evaluate these checkpoints instead of training (one per --row, in order)")
    parser.add_argument("--store", action="append", default=[],
                        help="training store for the k-mer baseline of each --checkpoint (optional)")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", 1)))
    parser.add_argument("--work", type=Path, default=REPO / "results" / "quality")
    parser.add_argument("--json", type=Path, help="write the table and every run's metrics here")
    args = parser.parse_args(argv)
    if args.merge:
        return merge(args.merge, args.json)
    if not args.row:
        parser.error("give --row (or --merge)")
    args.work.mkdir(parents=True, exist_ok=True)
    log = args.work / "quality.log"
    table, raw = [], {}
    for i, name in enumerate(args.row):
        row = ROWS[name]
        runs = []
        if args.train:
            for seed in args.seeds:
                ckpt, store = train(row["recipe"], seed, args.work / name / f"seed{seed}", args.threads, log)
                runs.append(evaluate(row, ckpt, store, args.work / name / f"seed{seed}" / "unseen", log, args.threads))
        else:
            if i >= len(args.checkpoint):
                parser.error(f"--row {name}: give a --checkpoint for it, or --train")
            store = Path(args.store[i]) if i < len(args.store) else None
            runs.append(evaluate(row, Path(args.checkpoint[i]), store, args.work / name / "given", log, args.threads))
        raw[name] = runs
        table += summarise(name, runs)
    print(render(table))
    if args.json:
        rows = {n: {k: str(v.relative_to(REPO)) if isinstance(v, Path) else v for k, v in ROWS[n].items()}
                for n in args.row}  # repository-relative, so the file reads the same on any machine
        args.json.write_text(json.dumps({"table": table, "runs": raw, "rows": rows}, indent=1) + "\n")
    return 0


def merge(paths: list[Path], out: Path | None) -> int:
    """One table over the runs of several saved outputs (e.g. one per seed, run separately)."""
    raw, rows = {}, {}
    for path in paths:
        saved = json.loads(path.read_text())
        for name, runs in saved["runs"].items():
            raw.setdefault(name, []).extend(runs)
        rows.update(saved["rows"])
    table = [line for name in raw for line in summarise(name, raw[name])]
    print(render(table))
    if out:
        out.write_text(json.dumps({"table": table, "runs": raw, "rows": rows,
                                   "merged_from": [p.name for p in paths]}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
