"""`genolong prepare`: genome + annotation + label scheme -> token store.

Everything that can be wrong with the inputs (files, labels, split, leak) is checked before the
first byte is written. The store is built in a hidden sibling folder and renamed onto `--out` at
the end, so an interrupted or failed run leaves no partial store. Each record is tokenized
straight from the genome into a memory-mapped `.npy`, chunk by chunk, so memory stays near one
record's output arrays (a 250 Mbp chromosome: ~83 MB tokens plus its targets).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genolong import threads
from genolong.errors import GenolongError

DEFAULT_LABELS = "go"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--genome", required=True, help="FASTA (plain/gzip/bgzip) or GenBank file")
    parser.add_argument("--annotation", help="GFF3, GTF or GenBank; default: the genome itself when it is GenBank")
    parser.add_argument("--labels", default=DEFAULT_LABELS, metavar="SCHEME",
                        help="go | product | biotype | attribute:<key> | pattern:<tsv> | tsv:<path> (default: go)")
    parser.add_argument("--vocab", default=None, metavar="LABELS_JSON",
                        help="share this vocabulary (another store's labels.json, same scheme): needed to train "
                             "several genomes together; a genome it labels nothing of then trains structure only")
    parser.add_argument("--transl-table", default=None, metavar="N",
                        help="NCBI genetic code (default: the annotation's /transl_table, else 11)")
    parser.add_argument("--top-terms", type=int, default=20, help="GO terms kept by the go scheme (default: 20)")
    parser.add_argument("--k", type=int, default=6, help="k-mer size (default: 6)")
    parser.add_argument("--stride", type=int, default=None, help="token stride in bp (default: k)")
    parser.add_argument("--out", required=True, help="output store directory (replaced if it exists)")
    parser.add_argument("--split", default=None, metavar="SPEC",
                        help="contiguous[:val=0.1;test=0.1;gap=10k] (default) | records:val=ID,..;test=ID,.. | "
                             "regions:val=SEQID:START-END,..;test=..[;gap=10k] (0-based, half-open)")
    parser.add_argument("--max-leak", type=float, default=0.01,
                        help="refuse when more than this fraction of val/test bp occurs verbatim in train (default: 0.01)")
    parser.add_argument("--allow-leak", action="store_true", help="warn instead of refusing a leaking split")
    threads.add_argument(parser)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class Inputs:
    """Everything `prepare` reads, checked before anything is written."""

    genome: Any  # an open Genome
    annotation_path: Path
    genes: list
    gene_labels: Any  # GeneLabels
    tokenizer: Any  # KmerTokenizer
    split_spec: str
    regions: list
    leak: Any
    transl_table: int  # NCBI genetic code


def prepare(
    genome_path: str | os.PathLike,
    out: str | os.PathLike,
    labels: str = DEFAULT_LABELS,
    annotation_path: str | os.PathLike | None = None,
    k: int = 6,
    stride: int | None = None,
    split: str | None = None,
    top_terms: int = 20,
    max_leak: float = 0.01,
    allow_leak: bool = False,
    progress: bool = True,
    vocab: str | os.PathLike | dict | None = None,
    transl_table: int | str | None = None,
) -> dict:
    """Write a token store; returns its meta dict. Plain Python, no Hydra."""
    from genolong.atomic import check_writable
    from genolong.data.genome import open_genome
    from genolong.data.tokenizer import KmerTokenizer

    from genolong.data.store import check_replaceable

    check_writable(out, "--out", folder=True)
    check_replaceable(Path(out))
    try:
        tok = KmerTokenizer(k, stride)
    except ValueError as exc:
        raise GenolongError(f"--k/--stride: {exc}") from None
    if tok.vocab_size > 1 << 16:
        raise GenolongError(f"--k {k}: the store keeps uint16 tokens, so k must be <= 7")
    with open_genome(genome_path) as genome:
        inputs = load_inputs(genome, Path(genome_path), annotation_path, labels, top_terms, tok, split,
                             vocab, transl_table)
        check_leak_allowed(inputs, max_leak, allow_leak)
        return write_store(inputs, Path(genome_path), labels, Path(out), progress)


def load_inputs(genome, genome_path: Path, annotation_path, labels: str, top_terms: int, tok,
                split: str | None, vocab=None, transl_table=None) -> Inputs:
    """Read the annotation, label its genes and split the genome: every input mistake surfaces here.

    `vocab`: a function vocabulary to share (a labels.json path or its dict); `transl_table`: the
    genetic code, else the annotation's most common `/transl_table`, else 11.
    """
    from genolong.data.annotation import read_annotation
    from genolong.data.labels import build_labels
    from genolong.data.split import DEFAULT_SPEC, check_leak, make_split
    from genolong.data.structure import DEFAULT_TRANSL_TABLE, check_transl_table, transl_table_of

    ann_path = Path(annotation_path) if annotation_path else None
    if ann_path is None:
        if genome.format != "genbank":
            raise GenolongError(f"{genome_path}: a FASTA genome needs --annotation (GFF3, GTF or GenBank)")
        ann_path = genome_path
    genes = read_annotation(ann_path, genome)
    if not genes:
        raise GenolongError(f"{ann_path}: no genes found")
    shared = read_vocab(vocab) if vocab is not None else None
    gene_labels = build_labels(genes, labels, top_terms=top_terms, source=str(ann_path), vocab=shared)
    if transl_table is not None:
        code = check_transl_table(transl_table, "--transl-table")
    else:
        code = transl_table_of(genes, str(ann_path)) or DEFAULT_TRANSL_TABLE
    spec = split or DEFAULT_SPEC
    regions = make_split(spec, genome.lengths, tok)
    return Inputs(genome, ann_path, genes, gene_labels, tok, spec, regions, check_leak(genome.fetch, regions), code)


def read_vocab(vocab):
    """A LabelVocab from a dict or a labels.json path (GenolongError when unreadable)."""
    from genolong.data.labels import LabelVocab

    if isinstance(vocab, dict):
        return LabelVocab.from_dict(vocab)
    path = Path(vocab)
    try:
        return LabelVocab.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError, KeyError) as exc:
        raise GenolongError(f"{path}: --vocab: not a readable labels.json: {exc}") from None


def check_leak_allowed(inputs: Inputs, max_leak: float, allow_leak: bool) -> None:
    leak = inputs.leak
    if not leak.leaked_tiles:
        return
    msg = (f"--split {inputs.split_spec!r}: {leak.leaked_tiles} train windows of {leak.window} bp occur verbatim "
           f"(or reverse-complemented) in val/test, ~{leak.leaked_fraction:.1%} of held-out bp")
    if leak.leaked_fraction > max_leak and not allow_leak:
        raise GenolongError(f"{msg}; above --max-leak {max_leak:g}: choose other regions (or --allow-leak)")
    print(f"WARNING: {msg}", file=sys.stderr)


def write_store(inputs: Inputs, genome_path: Path, labels: str, out: Path, progress: bool) -> dict:
    """Tokenize and label every record straight into the store's memory-mapped arrays."""
    import numpy as np
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from genolong.data.labels import fill_targets
    from genolong.data.split import SPLITS
    from genolong.data.store import StoreWriter
    from genolong.data.structure import fill_structure, structure_vocab

    genome, tok, gene_labels = inputs.genome, inputs.tokenizer, inputs.gene_labels
    vocab = gene_labels.vocab
    by_seqid: dict[str, list] = {}
    for g in inputs.genes:
        by_seqid.setdefault(g.seqid, []).append(g)
    target_shape = () if vocab.kind == "single" else (vocab.n_outputs,)
    bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>5.1f}%"),
                   TimeRemainingColumn(), console=Console(stderr=True), disable=not progress, transient=False)
    with StoreWriter(out) as writer, bar:
        for seqid in genome.ids:
            length = genome.lengths[seqid]
            task = bar.add_task(f"{seqid[:30]:<30}", total=max(length, 1))
            writer.add_record(seqid, length, tok.n_tokens(length), {
                "tokens": (np.uint16, (), lambda arr, s=seqid, t=task: tok.encode_record(
                    lambda a, b: genome.fetch(s, a, b), length, arr, progress=lambda d: bar.advance(t, d))),
                "targets": (np.uint8, target_shape,
                            lambda arr, s=seqid: fill_targets(arr, by_seqid.get(s, []), gene_labels, tok,
                                                              genome.lengths[s])),
                "structure": (np.uint8, (), lambda arr, s=seqid: fill_structure(arr, by_seqid.get(s, []), tok,
                                                                               genome.lengths[s])),
            })
            bar.update(task, completed=max(length, 1))
        writer.write_genes(inputs.genes, dict(gene_labels.by_gene), vocab)
        writer.write_split(inputs.regions)
        leak = inputs.leak
        return writer.commit({
            "tokenizer": tok.to_dict(),
            "labels": vocab.to_dict(),
            "structure": structure_vocab().to_dict(),
            "transl_table": inputs.transl_table,
            "inputs": input_checksums(genome_path, inputs.annotation_path, labels),
            "split": {"spec": inputs.split_spec,
                      "sizes": {s: sum(r.region.n_tokens for r in inputs.regions if r.split == s) for s in SPLITS},
                      "leak": {"window": leak.window, "train_tiles": leak.train_tiles,
                               "leaked_tiles": leak.leaked_tiles, "leaked_fraction": leak.leaked_fraction,
                               "sampling": leak.sampling}},
            "n_genes": len(inputs.genes),
            "n_labelled_genes": gene_labels.n_labelled,
        })


def input_checksums(genome_path: Path, annotation_path: Path, labels: str) -> dict:
    inputs = {"genome": {"path": str(genome_path), "sha256": sha256_file(genome_path)}}
    same = annotation_path == genome_path
    inputs["annotation"] = {"path": str(annotation_path),
                            "sha256": inputs["genome"]["sha256"] if same else sha256_file(annotation_path)}
    if labels.split(":", 1)[0] in ("pattern", "tsv"):
        table = Path(labels.split(":", 1)[1])
        inputs["labels"] = {"path": str(table), "sha256": sha256_file(table)}
    return inputs


def ensure_store(store_dir: str | os.PathLike, options: dict | None) -> None:
    """Make the token store `store_dir` with `prepare(**options)` unless it already exists.

    `options` None: the store must exist already (and a missing one fails where it is opened).
    """
    if (Path(store_dir) / "meta.json").is_file() or not options:
        return
    print(f"genolong: preparing token store {store_dir} from {options.get('genome_path')}", file=sys.stderr)
    prepare(out=store_dir, **options)


def run(args: argparse.Namespace) -> int:
    threads.apply(args.threads)  # numpy's pools only: prepare runs no network
    meta = prepare(
        args.genome, args.out, labels=args.labels, annotation_path=args.annotation, k=args.k,
        stride=args.stride, split=args.split, top_terms=args.top_terms, max_leak=args.max_leak,
        allow_leak=args.allow_leak, progress=True, vocab=args.vocab, transl_table=args.transl_table,
    )
    n_tok = sum(r["n_tokens"] for r in meta["records"].values())
    sizes = meta["split"]["sizes"]
    print(f"wrote {args.out}: {len(meta['records'])} records, {n_tok:,} tokens, {meta['n_genes']} genes "
          f"({meta['n_labelled_genes']} labelled), {len(meta['labels']['classes'])} "
          f"{meta['labels']['kind']} classes, genetic code {meta['transl_table']}; split train/val/test tokens {sizes['train']:,}/{sizes['val']:,}/{sizes['test']:,}")
    return 0
