"""`genolong fit-starts`: the TIS net of a checkpoint (which start of a stop is the gene's) and its decoder weight.

After `genolong-train`, this step learns, from the checkpoint's token stores (the training genomes),
which of a stop codon's in-frame start codons the annotation starts the gene at (`models/start_net.py`):
1. every candidate ORF of each record (`orfs.find_orfs`, the decoder's minimum length, so the same
   candidates the decoder chooses among) is read around its start codon (`start_caller.start_windows`,
   `start_features`);
2. a group per annotated protein-coding gene (single-part, not pseudo) whose stop has at least two
   candidate starts: the gene's start, or the most upstream candidate when the gene starts further
   upstream than any (the decoder's best answer there), is the target of a softmax over the group
   (listwise); a gene whose start falls between candidates (another start codon) is left out;
3. the net trains on the groups of genes inside the stores' `train` regions and keeps the epoch
   with the lowest loss on the `val` regions (`training/start_net.py`);
4. the decoder's weight (each candidate's start choice gains weight * its log-softmax among its
   stop's starts; acceptance never changes) is chosen by decoding the training genomes with the
   checkpoint, as `genolong annotate` does (without the ORF net, which does not choose starts),
   and scoring the protein-coding calls of the `val` regions: the most exact starts among the
   weights whose F1 is within `F1_SLACK` of the decoder without the net (weight 0, always tried);
5. `start_caller.pt` (config, weights, recipe; plain types) is written beside the checkpoint, where
   `genolong annotate` finds it.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from genolong import threads
from genolong.errors import GenolongError

# decoder weight grid (the start model adds 60 x its log-odds): the demo stores' val regions chose 10-20
# (seeds 0/1/2), E. coli's (Sakai, IAI39) 160; beyond it E. coli's val exact start stays or falls
# (0.866 / 0.866 / 0.860 at 160 / 320 / 640, F1 0.928 / 0.929 / 0.926)
WEIGHTS = (0.0, 10.0, 20.0, 40.0, 80.0, 160.0)
F1_SLACK = 0.002  # a weight may cost this much val F1 (a gene or two) for its exact starts


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="checkpoint from genolong-train (two-head, task=annotate)")
    parser.add_argument("--store", required=True, nargs="+", help="the token stores the checkpoint was trained on")
    parser.add_argument("--out-dir", help="where start_caller.pt goes (default: beside the checkpoint)")
    parser.add_argument("--epochs", type=int, default=8, help="training epochs over the genes (default 8)")
    parser.add_argument("--weights", type=float, nargs="+", default=list(WEIGHTS), metavar="W",
                        help=f"decoder weights tried on the val regions (default {' '.join(f'{w:g}' for w in WEIGHTS)};"
                             f" 0, the decoder without the net, is always tried)")
    parser.add_argument("--seed", type=int, default=0)
    threads.add_argument(parser)
    parser.add_argument("--summary", help="also write what was fitted as JSON here")
    parser.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    threads.apply(args.threads, torch=True)
    if args.epochs < 1:
        raise GenolongError(f"--epochs {args.epochs}: must be at least 1")
    if any(w < 0 for w in args.weights):
        raise GenolongError(f"--weights {' '.join(map(str, args.weights))}: must be >= 0")
    weights = tuple(sorted({0.0, *args.weights}))
    summary = fit_starts(args.checkpoint, args.store, args.out_dir, epochs=args.epochs, seed=args.seed,
                         progress=not args.no_progress, weights=weights)
    if args.summary:
        import json

        from genolong.atomic import atomic_write_text

        atomic_write_text(args.summary, json.dumps(summary, indent=1, sort_keys=True) + "\n")
    best, base = summary["grid"][f"{summary['weight']:g}"], summary["grid"]["0"]
    print(f"start caller: {summary['n_train_stops']} train / {summary['n_val_stops']} val genes, best epoch "
          f"{summary['best_epoch']} (val top-1 {summary['val_top1']:.3f}, start-codon prior "
          f"{summary['val_top1_prior']:.3f}); val regions' exact start {base['exact_start']:.3f} (F1 {base['f1']:.3f}) "
          f"without the net, {best['exact_start']:.3f} (F1 {best['f1']:.3f}) at weight {summary['weight']:g}; "
          f"wrote {summary['bundle']}", file=sys.stderr)
    return 0


def record_groups(bases: np.ndarray, genes, table: int, min_length: int, split_of, upstream: int, downstream: int
                  ) -> dict:
    """{split: (windows, features, group sizes, target within group, prior top-1 hits)} of one record:
    a group per annotated gene whose start is a candidate of its stop among >= 2; `split_of(start,
    end)` names the split wholly holding a gene ("" for none)."""
    from genolong.annotate.orf_decode import DecodeConfig, start_codon_prior
    from genolong.annotate.orfs import find_orfs
    from genolong.annotate.start_caller import start_features, start_windows

    orfs = find_orfs(bases, table, min_length=min_length)
    sign = {"+": 1, "-": -1}
    coding = [g for g in genes if g.biotype == "protein_coding" and len(g.parts) == 1 and g.strand in sign]
    order = np.lexsort((-orfs.length, orfs.stop_id))  # per stop, most upstream start first
    orfs = orfs.take(order)
    bounds = np.flatnonzero(np.r_[True, np.diff(orfs.stop_id) != 0, True])
    index = {(int(orfs.start[i]), int(orfs.end[i]), int(orfs.strand[i])): i for i in range(len(orfs))}
    group = {(int(orfs.three_prime[a]), int(orfs.strand[a])): (a, b) for a, b in zip(bounds[:-1], bounds[1:])}
    prior = start_codon_prior(bases, orfs, DecodeConfig().start_prior)
    picked: dict = {"train": [], "val": []}
    for g in coding:
        d = sign[g.strand]
        a, b = group.get((g.end - 1 if d > 0 else g.start, d), (0, 0))
        i = index.get((g.start, g.end, d))
        if i is None and b - a and g.end - g.start > orfs.length[a]:
            # the gene starts upstream of its stop's longest ORF (an in-frame stop or another start
            # codon there): the longest overlaps it most, so it is the decoder's best answer
            i = a
        split = split_of(g.start, g.end)
        if i is not None and b - a >= 2 and split in picked:
            picked[split].append((a, b, i))
    out = {}
    for split, groups in picked.items():
        rows = np.concatenate([np.arange(a, b) for a, b, _ in groups]) if groups else np.zeros(0, np.int64)
        sub = orfs.take(rows)
        feats = start_features(bases, sub)
        # the start-codon prior's choice: the best codon, ties to the most upstream (the decoder's rule)
        hits = np.array([int(np.argmax(prior[a:b]) == i - a) for a, b, i in groups], dtype=np.int64)
        out[split] = (start_windows(bases, sub.five_prime, sub.strand, upstream, downstream), feats,
                      np.array([b - a for a, b, _ in groups], dtype=np.int64),
                      np.array([i - a for a, b, i in groups], dtype=np.int64), hits)
    return out


def _examples(parts: list):
    from genolong.training.start_net import StartExamples

    windows = np.concatenate([p[0] for p in parts])
    feats = np.concatenate([p[1] for p in parts])
    sizes = np.concatenate([p[2] for p in parts])
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    target = offsets[:-1] + np.concatenate([p[3] for p in parts])
    return StartExamples(windows, feats.astype(np.float32), offsets, target.astype(np.int64))


def store_examples(stores, min_length: int, upstream: int, downstream: int, log=None) -> tuple:
    """(train StartExamples, val StartExamples, val top-1 of the start-codon prior) over every record
    of every store."""
    from genolong.annotate.val_decode import Span, store_genome_path
    from genolong.annotate.orfs import encode_bases
    from genolong.data.genome import open_genome
    from genolong.data.split import within_regions

    parts: dict = {"train": [], "val": []}
    for store in stores:
        inside = {s: within_regions([(r.seqid, r.start, r.end) for r in store.regions(s)]) for s in parts}
        genes = store.genes()
        table = store.transl_table or 11
        with open_genome(store_genome_path(store)) as genome:
            for seqid in store.seqids:
                bases = encode_bases(genome.fetch(seqid))

                def split_of(a, b, seqid=seqid):
                    span = Span(seqid, a, b)
                    return next((s for s, f in inside.items() if f(span)), "")

                got = record_groups(bases, [g for g in genes if g.seqid == seqid], table, min_length, split_of,
                                    upstream, downstream)
                for s, part in got.items():
                    parts[s].append(part)
        if log:
            log(f"{store.path}: genes' start codons read")
    hits = np.concatenate([p[4] for p in parts["val"]])
    return _examples(parts["train"]), _examples(parts["val"]), float(hits.mean()) if hits.size else 0.0


def choose_weight(checkpoint, stores, caller, weights=WEIGHTS, log=None) -> tuple[float, dict]:
    """(weight, grid): decode each store's records with the checkpoint (as `genolong annotate` does)
    under each weight and score the protein-coding calls of the `val` regions; the most exact starts
    among the weights whose F1 is within `F1_SLACK` of weight 0's wins (ties: the smaller weight)."""
    from genolong.annotate.val_decode import ValRegions

    grid: dict = {}
    with ValRegions(checkpoint, stores, "whose starts a start caller chooses", log) as val:
        for w in weights:
            t0 = time.perf_counter()
            m = grid[f"{w:g}"] = {"weight": w, **val.score(start_score=caller.with_weight(w) if w else None)}
            if log:
                log(f"weight {w:g}: val F1 {m['f1']:.4f} (P {m['precision']:.3f} R {m['recall']:.3f}) exact start "
                    f"{m['exact_start']:.4f} [{time.perf_counter() - t0:.1f} s]")
    floor = grid["0"]["f1"] - F1_SLACK
    best = max((r for r in grid.values() if r["f1"] >= floor), key=lambda r: (round(r["exact_start"], 6), -r["weight"]))
    return best["weight"], grid


def fit_starts(checkpoint, store_dirs, out_dir=None, epochs: int = 8, seed: int = 0, progress: bool = True,
               config=None, weights=WEIGHTS) -> dict:
    from genolong.annotate.orf_decode import DecodeConfig
    from genolong.annotate.start_caller import START_CALLER_FILE, StartCaller, save_start_caller
    from genolong.data.store import TokenStore
    from genolong.models.start_net import StartCallerBundle, StartNetConfig
    from genolong.training.start_net import fit_start_net

    def log(msg):
        print(msg, file=sys.stderr)

    stores = [TokenStore(d) for d in store_dirs]
    min_length = DecodeConfig().min_length
    config = config or StartNetConfig()
    train, val, prior_top1 = store_examples(stores, min_length, config.upstream, config.downstream, log)
    if len(train) == 0 or len(val) == 0:
        raise GenolongError(f"{', '.join(map(str, store_dirs))}: {len(train)} train and {len(val)} val genes have "
                            f"a start among two or more candidates of their stop; both are needed")
    t0 = time.perf_counter()
    net, summary = fit_start_net(config, train, val, epochs=epochs, seed=seed, progress=progress)
    log(f"start caller: trained in {time.perf_counter() - t0:.0f} s, val loss by epoch "
        f"{', '.join(f'{x:.3f}' for x in summary['history'])}; val top-1 "
        f"{', '.join(f'{x:.3f}' for x in summary['val_top1_by_epoch'])} (start-codon prior {prior_top1:.3f})")
    bundle = StartCallerBundle(config, net.state_dict(), {})
    weight, grid = choose_weight(checkpoint, stores, StartCaller(bundle, 0.0, cache=64), weights, log)
    from genolong.models.bundle_file import folder_beside

    out_dir = folder_beside(checkpoint, out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    recipe = {"weight": weight, "grid": grid, "min_length": min_length, "seed": seed, "f1_slack": F1_SLACK,
              "stores": [str(s) for s in store_dirs], "val_top1_prior": prior_top1,
              **{key: summary[key] for key in ("val_loss", "val_top1", "best_epoch", "epochs", "n_train_stops",
                                               "n_val_stops")}}
    bundle.recipe = recipe
    path = out_dir / START_CALLER_FILE
    save_start_caller(path, bundle)
    return {**recipe, "bundle": str(path), "history": summary["history"],
            "val_top1_by_epoch": summary["val_top1_by_epoch"]}
