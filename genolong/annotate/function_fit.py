"""`genolong fit-function`: the per-gene function head and the homology index of a checkpoint.

After `genolong-train`, the encoder is fixed; this step learns function per gene from the
checkpoint's token stores (the training genomes):
1. each reference protein-coding gene's translation (the store's genetic code) and function
   target: its GO terms propagated up the GO graph, over every term that at least `--min-genes`
   training genes carry (the three roots left out), or its `product` class;
2. with `--states`, the checkpoint's network runs over every record of every store (both strands
   when the checkpoint was validated that way) and the states it hands its heads are pooled over
   each gene (and, with `--neighbours N`, over the N genes on each side). Off by default: on the
   training genomes' val regions (3 seeds each, protein k-mer bag) the head scored Fmax 0.508
   (0.499-0.519) on the protein alone, 0.488 (0.486-0.490) with the states, 0.492 and 0.502 with
   1 and 2 neighbours: at this scale the DNA encoder adds nothing the protein does not say;
3. `GeneFunctionNet` trains on the genes of the `train` regions and keeps the epoch that scores
   best on the `val` regions (`training/gene_function.py`);
4. the `val` genes are searched as a new strain's genes would be, against the labelled `train`
   and `val` proteins of the *other* training genomes (never their own genome, so never
   themselves; with one training genome, against its `train` regions), and the blend weights
   (`alpha` for hits of >= 50% identity, `alpha_low` below) and the GO threshold are chosen on
   them (never on a genome the model is evaluated on);
5. `gene_function.pt` (weights and recipe, plain types) and the index kept for annotation (the
   labelled proteins of the `train` and `val` regions: `homology.json.gz` and its `.sha256`) are
   written beside the checkpoint, where `genolong annotate` finds them.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genolong import threads
from genolong.errors import GenolongError

SCHEMES = ("go", "product")
INDEX_SPLITS = ("train", "val")  # the training genomes' regions whose labelled proteins the kept index holds
VOTE_FRACTIONS = (0.0, 0.5, 0.9, 1.0)  # hits within this share of the best bitscore vote
ALPHAS = tuple(round(a, 2) for a in np.linspace(0.0, 1.0, 11))
PRODUCT_IDENTITY = 0.5  # best hit's identity needed to transfer its product name (UniRef50-level clusters)


@dataclass
class GeneRecord:
    gene_id: str
    genome: str
    locus: str
    split: str  # train / val / test / "" (across a boundary)
    protein: str
    states: np.ndarray  # (d,)
    terms: tuple[str, ...]  # GO ids as annotated
    product: str
    seqid: str  # "<genome>:<record>": neighbours are genes of the same record
    start: int
    end: int
    strand: str


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="checkpoint from genolong-train (two-head, task=annotate)")
    parser.add_argument("--store", required=True, nargs="+", help="the token stores the checkpoint was trained on")
    parser.add_argument("--out-dir", help="where gene_function.pt and homology.json.gz go (default: beside the checkpoint)")
    parser.add_argument("--protein", choices=["kmer_bag", "cnn"], default="kmer_bag",
                        help="protein view: amino-acid 1-3-mer bag (default) or a DeepGOPlus-style CNN")
    parser.add_argument("--states", action="store_true",
                        help="the head also reads the encoder's states pooled over the gene (default off: on the "
                             "training genomes' val regions they lowered the head's Fmax, 0.488 vs 0.508)")
    parser.add_argument("--neighbours", type=int, default=0,
                        help="with --states: genes on each side whose pooled states the head also reads (default 0)")
    parser.add_argument("--index-splits", nargs="+", choices=["train", "val", "test"], default=list(INDEX_SPLITS),
                        help="the regions of the training genomes whose labelled proteins the kept homology index "
                             "holds (default train val: the test regions stay held out for scoring the training "
                             "genomes; add test when only genomes never trained on are annotated)")
    parser.add_argument("--min-genes", type=int, default=5, help="GO terms kept: carried by at least this many training genes")
    parser.add_argument("--epochs", type=int, default=40, help="training epochs over the genes (default 40)")
    parser.add_argument("--seed", type=int, default=0)
    threads.add_argument(parser)
    parser.add_argument("--summary", help="also write what was fitted (or why nothing was) as JSON here")
    parser.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    n_threads = threads.apply(args.threads, torch=True)
    if args.min_genes < 1:
        raise GenolongError(f"--min-genes {args.min_genes}: must be at least 1")
    if args.epochs < 1:
        raise GenolongError(f"--epochs {args.epochs}: must be at least 1")
    from genolong.data.labels import LabelVocab
    from genolong.training.checkpoint import read_checkpoint

    scheme = LabelVocab.from_dict(read_checkpoint(args.checkpoint)["hyper_parameters"]["labels"]).scheme
    if scheme not in SCHEMES:
        reason = (f"{args.checkpoint}: label scheme {scheme!r} has no per-gene function head (it learns "
                  f"{' or '.join(SCHEMES)}); annotate will use the token head")
        print(f"gene function: {reason}", file=sys.stderr)
        _write_summary(args.summary, {"fitted": False, "reason": reason})
        return 0
    if args.neighbours < 0:
        raise GenolongError(f"--neighbours {args.neighbours}: must be 0 or more")
    from genolong.annotate.function import TRUST_IDENTITY

    summary = fit_function(args.checkpoint, args.store, args.out_dir, protein=args.protein,
                           use_states=args.states, neighbours=args.neighbours, min_genes=args.min_genes,
                           epochs=args.epochs, index_splits=tuple(args.index_splits), seed=args.seed,
                           threads=n_threads, progress=not args.no_progress)
    _write_summary(args.summary, {"fitted": True, **summary})
    print(f"gene function: {summary['n_outputs']} outputs, {summary['n_train']} train / {summary['n_val']} val genes; "
          f"val: network {summary['val_network']:.3f}, homology {summary['val_homology']:.3f}, "
          f"blend {summary['val_output']:.3f} at alpha {summary['alpha']:.2f} / {summary['alpha_low']:.2f} (hits "
          f">= / < {TRUST_IDENTITY:.0%} identity), hits within {summary['vote_fraction']:.0%} of the best voting; "
          f"wrote {summary['bundle']}",
          file=sys.stderr)
    return 0


def _write_summary(path, summary: dict) -> None:
    if path:
        import json

        from genolong.atomic import atomic_write_text

        atomic_write_text(path, json.dumps(summary, indent=1, sort_keys=True) + "\n")


def store_genes(store, annotator=None, log=None) -> list[GeneRecord]:
    """Protein-coding reference genes of one token store, with translation and labels, and with
    `annotator` (states=True) the network's states pooled over each (else no states)."""
    from genolong.annotate.function import pool_states, translate_gene
    from genolong.data.annotation import read_annotation
    from genolong.data.genome import open_genome
    from genolong.data.labels import go_terms
    from genolong.data.split import SPLITS, within_regions

    inputs = store.meta.get("inputs", {})
    genome_path = inputs.get("genome", {}).get("path")
    annotation_path = inputs.get("annotation", {}).get("path") or genome_path
    for p in (genome_path, annotation_path):
        if not p or not Path(p).is_file():
            raise GenolongError(f"{store.path}: meta.json names input {p!r}, which is not a file here; "
                                f"run fit-function where the store was prepared, or prepare it again")
    name = Path(genome_path).name.split(".")[0]
    inside = {split: within_regions([(r.seqid, r.start, r.end) for r in store.regions(split)]) for split in SPLITS}
    genes = [g for g in read_annotation(annotation_path) if g.biotype == "protein_coding" and g.seqid in store.seqids]
    table = store.transl_table or 11
    out: list[GeneRecord] = []
    with open_genome(genome_path) as genome:
        for seqid in store.seqids:
            on_record = [g for g in genes if g.seqid == seqid]
            if not on_record:
                continue
            if annotator is None:
                states = np.zeros((len(on_record), 0), dtype=np.float32)
            else:
                spill = annotator.record_probs(np.asarray(store.tokens(seqid)))
                states = pool_states(spill.columns(slice(annotator.n_classes, annotator.n_columns)), on_record,
                                     annotator.tokenizer.k, annotator.tokenizer.stride)
            for g, s in zip(on_record, states):
                split = next((sp for sp in SPLITS if inside[sp](g)), "")
                locus = (g.attributes.get("locus_tag") or [g.gene_id])[0]
                out.append(GeneRecord(g.gene_id, name, locus, split, translate_gene(genome, g, table), s,
                                      tuple(sorted(go_terms(g))), (g.attributes.get("product") or [""])[0],
                                      f"{name}:{seqid}", g.start, g.end, g.strand))
    if log:
        log(f"{store.path}: {len(out)} protein-coding genes read through the network")
    return out


def _targets(records: list[GeneRecord], kind: str, outputs: list[str], ontology) -> tuple[np.ndarray, np.ndarray]:
    """(labelled mask (n,), targets): multi-hot rows over `outputs`, or class indices."""
    from genolong.data.labels import product_class_name

    col = {t: i for i, t in enumerate(outputs)}
    if kind == "multilabel":
        y = np.zeros((len(records), len(outputs)), dtype=np.float32)
        mask = np.zeros(len(records), dtype=bool)
        for r, rec in enumerate(records):
            if rec.terms:
                mask[r] = True
                for t in ontology.propagate(rec.terms):
                    if t in col:
                        y[r, col[t]] = 1.0
        return mask, y
    y = np.zeros(len(records), dtype=np.int64)
    mask = np.zeros(len(records), dtype=bool)
    for r, rec in enumerate(records):
        c = product_class_name(rec.product)
        if c in col:
            y[r], mask[r] = col[c], True
    return mask, y


def _score(kind: str, y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """(score, GO threshold at that score) of output scores on labelled genes."""
    from genolong.evaluate.metrics import cafa_fmax
    from genolong.training.gene_function import macro_f1_score

    if kind == "multilabel":
        best = cafa_fmax(y, p)
        return float(best["fmax"] or 0.0), float(best["threshold"] or 0.5)
    return macro_f1_score(y, p), 0.5


def fit_function(checkpoint, store_dirs, out_dir=None, protein: str = "kmer_bag", use_states: bool = False,
                 neighbours: int = 0, index_splits: tuple = None, min_genes: int = 5, epochs: int = 40, seed: int = 0, threads: int = 1, progress: bool = True) -> dict:
    from genolong.annotate.annotator import Annotator
    from genolong.annotate.function import (FUNCTION_FILE, HOMOLOGY_FILE, TRUST_IDENTITY, FunctionPredictor, blend,
                                            save_bundle, with_neighbours)
    from genolong.annotate.homology import HomologyIndex, IndexedProtein, is_labelled
    from genolong.data.store import TokenStore
    from genolong.models.gene_function import GeneFunctionBundle, GeneFunctionConfig, predict_gene_function
    from genolong.training.gene_function import GeneExamples, fit_gene_function

    log = (lambda msg: print(msg, file=sys.stderr))
    from genolong.training.checkpoint import load_checkpoint

    labels = load_checkpoint(checkpoint).labels
    # the network's pass over every store is only needed when the head reads its states
    annotator = Annotator.from_checkpoint(checkpoint, states=True, progress=False) if use_states else None
    stores = [TokenStore(d) for d in store_dirs]
    scheme = labels.scheme
    if scheme not in SCHEMES:
        raise GenolongError(f"{checkpoint}: fit-function learns GO terms or product classes; this checkpoint's "
                            f"label scheme is {scheme!r}")
    kind = "multilabel" if scheme == "go" else "single"
    ontology = None
    records: list[GeneRecord] = []
    for store in stores:
        records += store_genes(store, annotator, log if use_states else None)
    if kind == "multilabel":
        from genolong.data.ontology import GeneOntology, term_vocabulary

        ontology = GeneOntology.read()
        outputs = term_vocabulary([ontology.propagate(r.terms) for r in records if r.split == "train" and r.terms],
                                  min_genes)
    else:
        outputs = [c for c in labels.classes if c != "intergenic"]
    if not outputs:
        raise GenolongError(f"{', '.join(map(str, store_dirs))}: no function label reaches --min-genes {min_genes} "
                            f"training genes")
    mask, y = _targets(records, kind, outputs, ontology)
    split = np.array([r.split for r in records])
    tr, va = np.flatnonzero(mask & (split == "train")), np.flatnonzero(mask & (split == "val"))
    if len(tr) == 0 or len(va) == 0:
        raise GenolongError(f"{', '.join(map(str, store_dirs))}: {len(tr)} labelled train and {len(va)} labelled "
                            f"val genes; both are needed")
    states = np.stack([r.states for r in records]) if records else np.zeros((0, 0), dtype=np.float32)
    if not use_states:
        neighbours = 0
    states = with_neighbours(states, records, neighbours)
    d = states.shape[1] if use_states else 0

    def examples(rows):
        return GeneExamples([records[i].protein for i in rows], states[rows][:, :d], y[rows])

    config = GeneFunctionConfig(n_outputs=len(outputs), kind=kind, d_states=d, protein=protein, neighbours=neighbours)
    net, summary = fit_gene_function(config, examples(tr), examples(va), epochs=epochs, seed=seed, progress=progress)

    # alpha is chosen on the val genes as a new strain meets the index: each val gene is searched
    # against the labelled train and val proteins of the *other* training genomes (never its own
    # genome, so never itself), where its orthologs are; with one training genome, against its train
    # regions. The index kept for annotation holds `index_splits` of every training genome.
    several = len({r.genome for r in records}) > 1
    def labelled(splits):
        return [IndexedProtein(r.genome, r.locus, r.product, r.terms, r.protein) for r in records
                if r.split in splits and r.protein and is_labelled(r.product, r.terms)]

    index = HomologyIndex(labelled(("train", "val") if several else ("train",)))
    predictor = FunctionPredictor(GeneFunctionBundle(config, net.state_dict(), outputs), index, ontology, threads)
    val_proteins = [records[i].protein for i in va]
    network = predict_gene_function(net, val_proteins, states[va][:, :d])
    by_fraction, identity, _ = predictor.homology_scores(val_proteins,
                                                         [records[i].genome for i in va] if several else None,
                                                         vote_fractions=VOTE_FRACTIONS)
    has_hit = ~np.isnan(identity)
    yv = y[va]

    def propagated(p):
        return ontology.propagate_scores(p, outputs) if kind == "multilabel" else p

    # trust by identity: one weight for hits of >= TRUST_IDENTITY identity, one for weaker hits
    strong = np.nan_to_num(identity, nan=0.0) >= TRUST_IDENTITY
    # and which hits vote: all (DeepGOPlus), those near the best, or the best alone
    scored = {(a, b, f): _score(kind, yv, propagated(blend(network, h, has_hit, np.where(strong, a, b))))
              for f, h in by_fraction.items() for a in ALPHAS for b in ALPHAS}
    alpha, alpha_low, fraction = max(scored, key=lambda k: (scored[k][0], -k[2], -abs(k[0] - 0.5) - abs(k[1] - 0.5)))
    homology = by_fraction[fraction]
    val_network, _ = _score(kind, yv, propagated(network))
    val_homology, _ = _score(kind, yv, propagated(np.where(has_hit[:, None], homology, 0.0)))
    recipe = {"alpha": alpha, "alpha_low": alpha_low, "trust_identity": TRUST_IDENTITY,
              "vote_fraction": fraction, "go_threshold": scored[alpha, alpha_low, fraction][1],
              "product_identity": PRODUCT_IDENTITY, "val_output": scored[alpha, alpha_low, fraction][0],
              "val_network": val_network, "val_homology": val_homology,
              "val_strong_hits": int(strong.sum()), "scheme": scheme,
              "protein": protein, "states": bool(d), "neighbours": neighbours, "min_genes": min_genes, "n_train": len(tr), "n_val": len(va),
              "val_hit_share": float(has_hit.mean()) if len(has_hit) else 0.0, "best_epoch": summary["best_epoch"],
              "stores": [str(s) for s in store_dirs]}
    # what evaluate's prior row and Smin need, from the training genes only
    if kind == "multilabel":
        recipe["prior"] = y[tr].mean(axis=0).tolist()
        ic = ontology.information_content([ontology.propagate(records[i].terms) for i in tr])
        recipe["ic"] = {t: float(ic.get(t, 0.0)) for t in outputs}
    else:
        recipe["prior"] = (np.bincount(y[tr], minlength=len(outputs)) / len(tr)).tolist()
    from genolong.models.bundle_file import folder_beside

    out_dir = folder_beside(checkpoint, out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    index_splits = tuple(index_splits or INDEX_SPLITS)
    kept = HomologyIndex(labelled(index_splits))
    recipe["index_splits"], recipe["n_indexed"] = list(index_splits), len(kept.proteins)
    recipe["homology_sha256"] = kept.save(out_dir / HOMOLOGY_FILE)
    bundle_path = out_dir / FUNCTION_FILE
    save_bundle(bundle_path, GeneFunctionBundle(config, net.state_dict(), outputs, recipe))
    return {**recipe, "n_outputs": len(outputs), "bundle": str(bundle_path)}
