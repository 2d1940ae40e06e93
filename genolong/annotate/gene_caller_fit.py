"""`genolong fit-genes`: the ORF net of a checkpoint (gene vs shadow ORF) and its decoder weight.

After `genolong-train`, this step learns, from the checkpoint's token stores (the training genomes)
and any more annotated genomes given (`--genomes`), which candidate ORFs are genes
(`models/orf_net.py`), as Balrog does:
1. every candidate ORF of each record (`orfs.find_orfs`, the decoder's minimum length) is read as
   a protein, one per stop codon (`gene_caller.orf_rows`);
2. positives: the annotated protein-coding genes (single-part, not pseudo) whose start and stop
   are a candidate's; negatives: every stop codon that ends no annotated gene, whatever it
   overlaps (the other five frames of a gene, intergenic space, pseudogenes), each stop's starts
   sharing one unit of weight, and the negatives' total weight scaled to the positives'; a gene's
   other starts, together, weigh `--start-weight` negatives (a sharper net: see START_WEIGHT);
3. `--members` nets (seeds seed, seed + 1, ...) train on the stops of the stores' `train` regions
   and of the extra genomes (all of each, but a record a store holds), each keeping the epoch with
   the lowest loss on the stores' `val` regions (`training/orf_net.py`); their mean logit is the
   score (`models/orf_net.OrfEnsemble`);
4. the decoder's weight and bias (each candidate's score gains weight * (logit - bias) in its
   acceptance, judged at the start the net scores highest; never in the choice of its start, which is
   the start models' and the TIS net's) are chosen by decoding the training genomes with the
   checkpoint, as `genolong annotate` does (with the TIS net of `genolong fit-starts` placing the
   starts when one is beside the checkpoint: run fit-starts first), and scoring
   the protein-coding calls of the `val` regions (F1, the project scorer), never on a genome the
   model is evaluated on; weight 0 (the decoder without the net) is one of the choices;
5. `gene_caller.pt` (config, weights, recipe; plain types) is written beside the checkpoint, where
   `genolong annotate` finds it.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace

import numpy as np

from genolong import threads
from genolong.errors import GenolongError

# decoder weight grid; scores are summed evidence, tens to thousands. Judged at the net's favourite
# start, the val F1 still rose at 1000 (E. coli stores 0.950 at 300 -> 0.952; demo seed 0 0.901 -> 0.907)
WEIGHTS = (0.0, 30.0, 100.0, 300.0, 1000.0, 3000.0)
# +-0.5 beside +-2: at weight 1000 the E. coli stores' val F1 is 0.947 / 0.950 / 0.953 at bias -0.5 / 0 / 0.5
BIASES = (-2.0, -0.5, 0.0, 0.5, 2.0)
# a stop inside a pseudogene weighs this many ordinary negatives: the reading-frame fragments of
# pseudogenes are most of the decoder's false calls (Afade, demo model: 134 of 166)
PSEUDO_WEIGHT = 4.0
# a gene's other starts, together, weigh this many negatives (0: left out). The score only decides
# acceptance, but these negatives still sharpen the net: demo model, seed 0, val regions of
# GM12/mm5713/B237, gene vs pseudogene-stop AUC 0.977 at 1, 0.952 at 0; as positives (a stop-level
# label) 0.881
START_WEIGHT = 1.0
# ORF nets averaged. One net's F1 moves with its seed through the weight chosen on the small val
# regions (demo checkpoint, Afade, seeds 0-5: 0.9386-0.9464, mean 0.9410, sd 0.0030); three
# ensembles of three: 0.9412-0.9435, mean 0.9424, sd 0.0011; UMN026 seed 0 0.9609, three
# ensembles 0.9597-0.9627, mean 0.9614
MEMBERS = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="checkpoint from genolong-train (two-head, task=annotate)")
    parser.add_argument("--store", required=True, nargs="+", help="the token stores the checkpoint was trained on")
    parser.add_argument("--out-dir", help="where gene_caller.pt goes (default: beside the checkpoint)")
    parser.add_argument("--genomes", nargs="+", default=[], metavar="GENOME[,ANNOTATION]",
                        help="more annotated genomes whose ORFs the net also trains on (all of each: train; a record a "
                             "store holds is left out): a GenBank file, or a FASTA and its GFF3/GTF/GenBank annotation "
                             "joined by a comma; never a genome the model is evaluated on")
    parser.add_argument("--epochs", type=int, default=8, help="training epochs over the stop codons (default 8)")
    parser.add_argument("--weights", type=float, nargs="+", default=list(WEIGHTS), metavar="W",
                        help=f"decoder weights tried on the val regions (default {' '.join(f'{w:g}' for w in WEIGHTS)};"
                             f" 0, the decoder without the net, is always tried)")
    parser.add_argument("--biases", type=float, nargs="+", default=list(BIASES), metavar="B",
                        help=f"logit biases tried (default {' '.join(f'{b:g}' for b in BIASES)})")
    parser.add_argument("--start-weight", type=float, default=START_WEIGHT,
                        help=f"a gene's other start codons, together, train as this many negatives (a sharper "
                             f"gene-vs-pseudogene net; its score still never chooses starts) (default {START_WEIGHT:g})")
    parser.add_argument("--members", type=int, default=MEMBERS,
                        help=f"ORF nets trained from seeds seed, seed + 1, ... whose logits are averaged "
                             f"(default {MEMBERS})")
    parser.add_argument("--seed", type=int, default=0)
    threads.add_argument(parser)
    parser.add_argument("--summary", help="also write what was fitted as JSON here")
    parser.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    threads.apply(args.threads, torch=True)
    if args.epochs < 1:
        raise GenolongError(f"--epochs {args.epochs}: must be at least 1")
    if args.members < 1:
        raise GenolongError(f"--members {args.members}: must be at least 1")
    if any(w < 0 for w in args.weights):
        raise GenolongError(f"--weights {' '.join(map(str, args.weights))}: must be >= 0")
    weights = tuple(sorted({0.0, *args.weights}))
    summary = fit_genes(args.checkpoint, args.store, args.out_dir, epochs=args.epochs, seed=args.seed,
                        progress=not args.no_progress, members=args.members, weights=weights,
                        biases=tuple(args.biases), start_weight=args.start_weight,
                        genomes=[_genome_pair(g) for g in args.genomes])
    if args.summary:
        import json

        from genolong.atomic import atomic_write_text

        atomic_write_text(args.summary, json.dumps(summary, indent=1, sort_keys=True) + "\n")
    best = next(r for r in summary["grid"].values() if (r["weight"], r["bias"]) == (summary["weight"], summary["bias"]))
    base = next(r for r in summary["grid"].values() if r["weight"] == 0)
    epochs = ", ".join(str(m["best_epoch"]) for m in summary["members"])
    print(f"gene caller: {summary['n_train_stops']} train / {summary['n_val_stops']} val stop codons, "
          f"{len(summary['members'])} net(s), best epoch(s) {epochs} (mean val loss {summary['val_loss']:.3f}); "
          f"val regions' protein-coding F1 "
          f"{base['f1']:.3f} without the net, {best['f1']:.3f} at weight {summary['weight']:g}, bias "
          f"{summary['bias']:g}; wrote {summary['bundle']}", file=sys.stderr)
    return 0


def _genome_pair(spec: str) -> tuple[str, str]:
    """`--genomes` entry -> (genome path, annotation path)."""
    genome, _, annotation = spec.partition(",")
    return genome, annotation or genome


def _coverage(length: int, spans) -> np.ndarray:
    """(length + 1,) cumulative count of bases covered by `spans` ((start, end) pairs)."""
    diff = np.zeros(length + 1, dtype=np.int64)
    for a, b in spans:
        diff[a] += 1
        diff[b] -= 1
    covered = np.cumsum(diff[:-1]) > 0
    return np.concatenate([[0], np.cumsum(covered)])


def record_examples(bases: np.ndarray, genes, table: int, min_length: int, split_of, start_weight: float = 0.0
                    ) -> dict:
    """Labelled stops of one record: {split: (OrfRows restricted to the split's stops, start,
    label, weight, kinds)}; `genes` the record's reference genes, `split_of(start, end)` the
    split wholly holding a span or "" ."""
    from genolong.annotate.gene_caller import orf_rows
    from genolong.annotate.orfs import find_orfs

    orfs = find_orfs(bases, table, min_length=min_length)
    rows = orf_rows(bases, orfs, table)
    n_rows = rows.lengths.size
    sign = {"+": 1, "-": -1}
    coding = [g for g in genes if g.biotype == "protein_coding" and len(g.parts) == 1 and g.strand in sign]
    exact = {(g.start, g.end, sign[g.strand]) for g in coding}
    gene_stops = {(g.end - 1 if g.strand == "+" else g.start, sign[g.strand]) for g in coding}
    three = orfs.three_prime
    is_gene = np.array([(int(s), int(e), int(d)) in exact for s, e, d in zip(orfs.start, orfs.end, orfs.strand)],
                       dtype=bool)
    stop_of_gene = np.array([(int(t), int(d)) in gene_stops for t, d in zip(three, orfs.strand)], dtype=bool)
    row_lo = np.full(n_rows, np.iinfo(np.int64).max)
    row_hi = np.zeros(n_rows, dtype=np.int64)
    np.minimum.at(row_lo, rows.row, orfs.start)
    np.maximum.at(row_hi, rows.row, orfs.end)
    row_gene = np.zeros(n_rows, dtype=bool)
    row_gene[rows.row[stop_of_gene]] = True
    row_pos = np.zeros(n_rows, dtype=bool)
    row_pos[rows.row[is_gene]] = True
    n_starts = np.bincount(rows.row, minlength=n_rows)
    # labelled candidates: a gene's own start; every start of a stop that ends no gene; with
    # `start_weight`, a gene's other starts as negatives sharing that weight (START_WEIGHT says why)
    use = is_gene | ~stop_of_gene | (start_weight > 0)
    label = is_gene.astype(np.float32)
    weight = np.where(is_gene, 1.0, np.where(stop_of_gene, start_weight / np.maximum(n_starts[rows.row] - 1, 1),
                                             1.0 / n_starts[rows.row])).astype(np.float32)
    # what the negatives overlap, for the summary: a gene (shadow), a pseudogene, nothing
    n = int(bases.size)
    cov_gene = _coverage(n, [(g.start, g.end) for g in coding])
    cov_pseudo = _coverage(n, [(g.start, g.end) for g in genes if g.biotype == "pseudogene"])
    kind = np.where(cov_pseudo[row_hi] - cov_pseudo[row_lo] > 0, "pseudo",
                    np.where(cov_gene[row_hi] - cov_gene[row_lo] > 0, "shadow", "intergenic"))
    kind = np.where(row_pos, "gene", kind)
    weight = np.where(kind[rows.row] == "pseudo", PSEUDO_WEIGHT * weight, weight).astype(np.float32)
    split = np.array([split_of(int(a), int(b)) for a, b in zip(row_lo, row_hi)])
    keep_row = (row_pos | ~row_gene)
    out = {}
    for name in ("train", "val"):
        rows_in = np.flatnonzero(keep_row & (split == name))
        cand = np.flatnonzero(use & np.isin(rows.row, rows_in))
        out[name] = (_take_rows(rows, rows_in, cand), label[cand], weight[cand], kind[rows_in])
    return out


def _take_rows(rows, keep: np.ndarray, cand: np.ndarray):
    """(ids, offsets, row, start) of rows `keep` and the candidates `cand` on them, rows renumbered."""
    lengths = rows.lengths[keep]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    src = np.repeat(rows.offsets[:-1][keep], lengths) + (np.arange(offsets[-1]) - np.repeat(offsets[:-1], lengths))
    new_index = np.full(rows.lengths.size, -1, dtype=np.int64)
    new_index[keep] = np.arange(keep.size)
    return rows.ids[src], offsets, new_index[rows.row[cand]], rows.start[cand]


def _examples(parts: list):
    """One OrfExamples from record parts, the negatives' total weight scaled to the positives'."""
    from genolong.training.orf_net import OrfExamples

    ids, lengths, row, start, label, weight = [], [], [], [], [], []
    shift = 0
    for (p_ids, p_off, p_row, p_start), p_label, p_weight, _ in parts:
        ids.append(p_ids)
        lengths.append(np.diff(p_off))
        row.append(p_row + shift)
        shift += p_off.size - 1
        start.append(p_start)
        label.append(p_label)
        weight.append(p_weight)

    def cat(arrays, dtype):
        return np.concatenate(arrays).astype(dtype) if arrays else np.zeros(0, dtype)

    offsets = np.concatenate([[0], np.cumsum(cat(lengths, np.int64))]).astype(np.int64)
    ex = OrfExamples(cat(ids, np.uint8), offsets, cat(row, np.int64), cat(start, np.int64), cat(label, np.float32),
                     cat(weight, np.float32))
    pos, neg = ex.weight[ex.label > 0].sum(), ex.weight[ex.label == 0].sum()
    if pos > 0 and neg > 0:
        ex.weight = np.where(ex.label > 0, ex.weight, ex.weight * pos / neg).astype(np.float32)
    return ex


def store_examples(stores, min_length: int, log=None, start_weight: float = 0.0, genomes=()) -> tuple:
    """(train OrfExamples, val OrfExamples, counts by kind) over every record of every store, and
    of every extra annotated genome of `genomes` ((genome path, annotation path) pairs: all of it
    `train`; a record a store also holds is left out, so the stores' val regions stay unseen)."""
    from genolong.annotate.orfs import encode_bases
    from genolong.annotate.val_decode import Span, store_genome_path
    from genolong.data.genome import open_genome
    from genolong.data.split import within_regions

    parts = {"train": [], "val": []}
    counts: dict = {}

    def add(bases, genes, table, split_of):
        got = record_examples(bases, genes, table, min_length, split_of, start_weight)
        for s, part in got.items():
            parts[s].append(part)
            for kind, n in zip(*np.unique(part[3], return_counts=True)):
                counts[f"{s}_{kind}"] = counts.get(f"{s}_{kind}", 0) + int(n)

    for store in stores:
        inside = {s: within_regions([(r.seqid, r.start, r.end) for r in store.regions(s)]) for s in parts}
        genes = store.genes()
        table = store.transl_table or 11
        with open_genome(store_genome_path(store)) as genome:
            for seqid in store.seqids:
                def split_of(a, b, seqid=seqid):
                    span = Span(seqid, a, b)
                    return next((s for s, f in inside.items() if f(span)), "")

                add(encode_bases(genome.fetch(seqid)), [g for g in genes if g.seqid == seqid], table, split_of)
        if log:
            log(f"{store.path}: stop codons read")
    held = {seqid for store in stores for seqid in store.seqids}
    for genome_path, annotation_path in genomes:
        from genolong.data.annotation import read_annotation
        from genolong.data.structure import DEFAULT_TRANSL_TABLE, transl_table_of

        with open_genome(genome_path) as genome:
            genes = read_annotation(annotation_path, genome)
            table = transl_table_of(genes, str(annotation_path)) or DEFAULT_TRANSL_TABLE
            used = [s for s in genome.ids if s not in held]
            for seqid in used:
                add(encode_bases(genome.fetch(seqid)), [g for g in genes if g.seqid == seqid], table,
                    lambda a, b: "train")
        if log:
            skipped = len(genome.ids) - len(used)
            log(f"{genome_path}: stop codons read (genetic code {table}, {len(used)} record(s)"
                f"{f', {skipped} left out: a store holds them' if skipped else ''})")
    return _examples(parts["train"]), _examples(parts["val"]), counts


def choose_recipe(checkpoint, stores, caller, weights=WEIGHTS, biases=BIASES,
                  log=None, start_score=None) -> tuple[float, float, dict]:
    """(weight, bias, grid): decode each store's records with the checkpoint (as `genolong annotate`
    does, with `start_score`, the TIS net, placing starts when given) under each weight and bias (the
    net's score in each candidate's acceptance, never in its start choice) and score the
    protein-coding calls of the `val` regions; the best F1 wins (ties: the smaller weight, then the
    bias nearer 0)."""
    from genolong.annotate.val_decode import ValRegions

    grid = {}
    with ValRegions(checkpoint, stores, "for a gene caller to score", log) as val:
        for w, b in [(0.0, 0.0)] + [(w, b) for w in weights if w for b in biases]:
            t0 = time.perf_counter()
            m = val.score(orf_score=caller.with_recipe(w, b) if w else None, start_score=start_score)
            key = f"{w:g}/{b:g}"
            grid[key] = {"weight": w, "bias": b, **m}
            if log:
                log(f"{key}: val F1 {m['f1']:.4f} (P {m['precision']:.3f} R {m['recall']:.3f}) exact start "
                    f"{m['exact_start']:.3f} [{time.perf_counter() - t0:.1f} s]")
    best = max(grid.values(), key=lambda r: (round(r["f1"], 6), -r["weight"], -abs(r["bias"])))
    return best["weight"], best["bias"], grid


def fit_genes(checkpoint, store_dirs, out_dir=None, epochs: int = 8, seed: int = 0, progress: bool = True,
              config=None, members: int = MEMBERS, weights=WEIGHTS, biases=BIASES, start_weight: float = START_WEIGHT,
              genomes=()) -> dict:
    from genolong.annotate.gene_caller import GENE_CALLER_FILE, GeneCaller, save_gene_caller
    from genolong.annotate.start_caller import StartCaller
    from genolong.annotate.orf_decode import DecodeConfig
    from genolong.data.store import TokenStore
    from genolong.models.orf_net import GeneCallerBundle, OrfEnsemble, OrfNetConfig
    from genolong.training.orf_net import fit_orf_net

    def log(msg):
        print(msg, file=sys.stderr)

    stores = [TokenStore(d) for d in store_dirs]
    min_length = DecodeConfig().min_length
    train, val, counts = store_examples(stores, min_length, log, start_weight, genomes)
    if not (train.label > 0).any() or not (val.label > 0).any():
        raise GenolongError(f"{', '.join(map(str, store_dirs))}: {int((train.label > 0).sum())} train and "
                            f"{int((val.label > 0).sum())} val genes match a candidate ORF; both are needed")
    config = replace(config or OrfNetConfig(), members=members)
    ensemble = OrfEnsemble(config).eval()
    summaries = []
    for k, net in enumerate(ensemble.members):
        t0 = time.perf_counter()
        trained, summary = fit_orf_net(config, train, val, epochs=epochs, seed=seed + k, progress=progress)
        net.load_state_dict(trained.state_dict())
        summaries.append(summary)
        log(f"gene caller: net {k + 1} of {len(ensemble.members)} (seed {seed + k}) trained in "
            f"{time.perf_counter() - t0:.0f} s, val loss by epoch {', '.join(f'{x:.3f}' for x in summary['history'])}")
    bundle = GeneCallerBundle(config, ensemble.state_dict(), {})
    caller = GeneCaller(bundle, 0.0, 0.0, cache=64)
    # the weight is chosen with the starts placed as annotate will place them: a call's match to its
    # gene (and its overlaps with neighbours) depends on its start (E. coli stores' val F1 at weight
    # 1000, bias 0: 0.936 at the start models' starts, 0.952 at the TIS net's)
    tis = StartCaller.beside(checkpoint)
    log(f"weights chosen with starts placed by {tis.describe()}" if tis is not None else
        f"no start caller beside {checkpoint}: weights chosen with the start models' starts (run "
        f"`genolong fit-starts` first to choose them with the TIS net's, as annotate will place them)")
    weight, bias, grid = choose_recipe(checkpoint, stores, caller, weights, biases, log, start_score=tis)
    from genolong.models.bundle_file import folder_beside

    out_dir = folder_beside(checkpoint, out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    recipe = {"weight": weight, "bias": bias, "starts": False, "grid": grid, "min_length": min_length, "seed": seed,
              "start_caller": tis.bundle.recipe.get("source") if tis is not None else None,
              "start_weight": start_weight, "pseudo_weight": PSEUDO_WEIGHT,
              "stores": [str(s) for s in store_dirs], "genomes": [list(map(str, g)) for g in genomes],
              "counts": counts,
              "members": [{key: m[key] for key in ("val_loss", "best_epoch", "history")} for m in summaries],
              "val_loss": float(np.mean([m["val_loss"] for m in summaries])), "epochs": epochs,
              **{key: summaries[0][key] for key in ("n_train_stops", "n_val_stops")}}
    bundle.recipe = recipe
    path = out_dir / GENE_CALLER_FILE
    save_gene_caller(path, bundle)
    return {**recipe, "bundle": str(path)}
