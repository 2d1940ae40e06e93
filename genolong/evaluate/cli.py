"""`genolong evaluate`: score an annotation against a reference, beside baselines; metrics,
plots and a report in one folder."""

from __future__ import annotations

import argparse

from genolong import threads

from genolong.data.split import SPLITS
from genolong.errors import GenolongError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pred", required=True, help="prefix given to `genolong annotate --out`")
    parser.add_argument("--reference", required=True, help="reference annotation (GFF3, GTF or GenBank)")
    parser.add_argument("--genome", help="the annotated genome: needed by the k-mer and Prodigal baselines")
    parser.add_argument("--out", required=True, help="output folder: metrics.json, report.md, *.png")
    parser.add_argument("--baseline", help="k-mer logistic-regression model from `genolong baseline`")
    parser.add_argument("--train-log", help="Lightning CSV log (metrics.csv) of the training run, for its curves")
    parser.add_argument("--prodigal", choices=["auto", "on", "off"], default="auto",
                        help="score pyrodigal gene calls too (auto: when installed and --genome is given)")
    parser.add_argument("--prodigal-mode", choices=["meta", "single"], default="meta",
                        help="pyrodigal mode (default meta: pre-trained models, any genome size)")
    parser.add_argument("--translation-table", type=int, default=None,
                        help="genetic code of the ORF baseline and --prodigal-mode single (default: the "
                             "reference's /transl_table, else the predictions', else 11)")
    parser.add_argument("--store", help="token store whose --split regions restrict the evaluation")
    parser.add_argument("--split", choices=SPLITS, default=None,
                        help="which of --store's regions to score (default test; needs --store)")
    parser.add_argument("--no-plots", action="store_true", help="metrics.json and report.md only")
    threads.add_argument(parser)


def check_train_log(path: str) -> None:
    """A --train-log must be a Lightning CSV log (a header with `step`), or its plot is empty."""
    import csv

    from genolong.data.genome import check_readable

    log = check_readable(path, "--train-log file")
    with open(log, encoding="utf-8", errors="replace", newline="") as fh:
        header = next(csv.reader(fh), [])
    if "step" not in header:
        raise GenolongError(f"{log}: --train-log: not a Lightning CSV log (no 'step' column in its header; "
                            "give the run's csv/metrics.csv)")


def run(args: argparse.Namespace) -> int:
    from genolong.evaluate.evaluation import evaluate
    from genolong.atomic import check_writable
    from genolong.evaluate.report import render

    check_writable(args.out, "--out", folder=True)
    if args.split is not None and not args.store:
        raise GenolongError(f"--split {args.split}: needs --store (the token store whose regions it names)")
    if args.train_log:
        check_train_log(args.train_log)
    threads.apply(args.threads)

    regions = None
    if args.store:
        from genolong.data.store import TokenStore

        regions = [(r.seqid, r.start, r.end) for r in TokenStore(args.store).regions(args.split or "test")]
    result = evaluate(
        args.pred, args.reference, args.out, genome=args.genome, baseline=args.baseline,
        train_log=args.train_log, prodigal=args.prodigal, prodigal_mode=args.prodigal_mode,
        translation_table=args.translation_table, plots=not args.no_plots, regions=regions,
    )
    print(render(result).split("## Plots")[0])
    return 0
