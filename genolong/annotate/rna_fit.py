"""`genolong fit-rna`: train the RNA-gene caller network on annotated genomes and write `rna_caller.pt`.

    genolong fit-rna --out rna_caller.pt --genome a.gbff.gz --genome b.gbk.gz [--seed 0] [--threads N]
                     [--summary fit.json] [--no-progress]

Every `--genome` is a GenBank file with its features (tRNA, tmRNA, rRNA) or `FASTA,ANNOTATION`
(GFF3/GTF). RNA genes are alike across clades, so one caller trains on every training genome
together. The last `--val-fraction` of each record is held out: the epoch with the lowest loss
there is kept, and the summary gives the held-out RNA genes' recall and precision per type under
the same decoding `genolong annotate --rna network` uses. Put the file beside a checkpoint (as
`rna_caller.pt`) or give it to `annotate --rna-caller`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from genolong import threads
from genolong.errors import GenolongError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, metavar="PATH", help="the RNA-caller file to write (rna_caller.pt)")
    parser.add_argument("--genome", required=True, action="append", metavar="FILE",
                        help="annotated genome: GenBank, or FASTA,GFF3 (repeat for several)")
    parser.add_argument("--epochs", type=int, default=12, help="training epochs (default 12)")
    parser.add_argument("--windows-per-epoch", type=int, default=512,
                        help="4096-bp training windows drawn per epoch, half around RNA genes (default 512)")
    parser.add_argument("--window", type=int, default=4096, help="training window, bp (default 4096)")
    parser.add_argument("--val-fraction", type=float, default=0.15,
                        help="held-out end of every record for model selection (default 0.15)")
    parser.add_argument("--init", metavar="PATH", help="start from this rna_caller.pt (same architecture)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--summary", metavar="JSON", help="write the training summary here")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    threads.add_argument(parser)


def _inputs(values: list[str]) -> list[tuple[str, str | None]]:
    import os

    out = []
    for value in values:
        genome, _, annotation = value.partition(",")
        for path in (genome, annotation):
            if path and not os.path.isfile(path):
                raise GenolongError(f"{path}: no such file (--genome {value})")
        out.append((genome, annotation or None))
    return out


def run(args: argparse.Namespace) -> int:
    n_threads = threads.apply(args.threads, torch=True)
    for option, value, low in (("--epochs", args.epochs, 1), ("--windows-per-epoch", args.windows_per_epoch, 1),
                               ("--window", args.window, 64)):
        if value < low:
            raise GenolongError(f"{option} {value}: must be at least {low}")
    if not 0.0 <= args.val_fraction < 1.0:
        raise GenolongError(f"--val-fraction {args.val_fraction}: must be in [0, 1)")
    from genolong.annotate.rna_caller import save_bundle
    from genolong.models.rna_net import RNACallerBundle, RNACallerConfig
    from genolong.training.rna_net import fit_rna_caller, label_genome

    config, init = RNACallerConfig(), None
    if args.init:
        from genolong.annotate.rna_caller import load_bundle

        start = load_bundle(args.init)
        config, init = start.config, start.state_dict
    window = args.window // config.stride * config.stride
    inputs = _inputs(args.genome)
    records = []
    for genome, annotation in inputs:
        labelled = label_genome(genome, annotation)
        if not any(r.genes for r in labelled):
            raise GenolongError(f"{annotation or genome}: no tRNA, tmRNA or rRNA feature to learn from")
        records += labelled
    started = time.perf_counter()
    try:
        net, result = fit_rna_caller(config, records, window=window, epochs=args.epochs,
                                     windows_per_epoch=args.windows_per_epoch, val_fraction=args.val_fraction,
                                     seed=args.seed, progress=not args.no_progress, init=init)
    except ValueError as exc:
        raise GenolongError(f"--genome: {exc}") from None
    summary = result["summary"]
    summary["train_seconds"] = round(time.perf_counter() - started, 1)
    summary["genomes"] = [g for g, _ in inputs]
    summary["threads"] = n_threads
    summary["init"] = args.init
    bundle = RNACallerBundle(config, net.state_dict(), {"seed": args.seed, "val_loss": summary["val_loss"]})
    summary["val_genes"] = validation_scores(bundle, records, result["val_ranges"])
    save_bundle(args.out, bundle)
    if args.summary:
        from genolong.atomic import atomic_write_text

        atomic_write_text(args.summary, json.dumps(summary, indent=1, sort_keys=True) + "\n")
    scores = ", ".join(f"{kind} R {v['recall']:.3f} P {_num(v['precision'])} ({v['n_ref']})"
                       for kind, v in summary["val_genes"].items()) or "no held-out RNA genes"
    print(f"RNA caller: best epoch {summary['best_epoch']}/{args.epochs}, val loss {summary['val_loss']:.4f}; "
          f"held-out genes: {scores}; wrote {args.out}", file=sys.stderr)
    return 0


def _num(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def validation_scores(bundle, records, val_ranges) -> dict:
    """Per RNA biotype, recall and precision of the caller's calls on the held-out ranges against
    the reference RNA genes wholly inside them (same strand, >= 50% reciprocal overlap)."""
    from genolong.annotate.rna_caller import RNACaller
    from genolong.evaluate.metrics import Interval, rna_metrics
    from genolong.models.rna_net import decode_bases

    caller = RNACaller(bundle)
    classes = bundle.config.classes
    pred, ref = [], []
    for i, lo, hi in val_ranges:
        r = records[i]
        for g in caller.record_genes(str(i), decode_bases(r.codes[lo:hi]), 11):
            pred.append(Interval(str(i), g.start, g.end, g.strand, g.biotype))
        for a, b in r.genes:
            if lo <= a and b <= hi:
                name = classes[int(r.labels[a])]
                kind, strand = name[:-1], name[-1]
                ref.append(Interval(str(i), a - lo, b - lo, strand, kind if kind in ("tRNA", "tmRNA") else "rRNA"))
    keys = ("recall", "precision", "n_ref", "n_pred")
    return {kind: {key: v[key] for key in keys} for kind, v in rna_metrics(pred, ref).items()}
