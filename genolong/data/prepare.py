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
import shutil
import sys
import tempfile
from pathlib import Path

from genolong.errors import GenolongError

DEFAULT_LABELS = "go"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--genome", required=True, help="FASTA (plain/gzip/bgzip) or GenBank file")
    parser.add_argument("--annotation", help="GFF3, GTF or GenBank; default: the genome itself when it is GenBank")
    parser.add_argument("--labels", default=DEFAULT_LABELS, metavar="SCHEME",
                        help="go | biotype | attribute:<key> | pattern:<tsv> | tsv:<path> (default: go)")
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


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


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
    import numpy as np

    from genolong.data.annotation import read_annotation, write_genes_tsv
    from genolong.atomic import atomic_open, atomic_path
    from genolong.data.genome import open_genome
    from genolong.data.labels import build_labels, fill_targets
    from genolong.data.split import DEFAULT_SPEC, check_leak, make_split
    from genolong.data.store import FORMAT, file_stem, write_split_tsv
    from genolong.data.structure import (DEFAULT_TRANSL_TABLE, check_transl_table, fill_structure,
                                         structure_vocab, transl_table_of)
    from genolong.data.tokenizer import KmerTokenizer

    out = Path(out)
    try:
        tok = KmerTokenizer(k, stride)
    except ValueError as exc:
        raise GenolongError(f"--k/--stride: {exc}") from None
    if tok.vocab_size > 1 << 16:
        raise GenolongError(f"--k {k}: the store keeps uint16 tokens, so k must be <= 7")
    with open_genome(genome_path) as genome:
        ann_path = Path(annotation_path) if annotation_path else None
        if ann_path is None:
            if genome.format != "genbank":
                raise GenolongError(f"{genome_path}: a FASTA genome needs --annotation (GFF3, GTF or GenBank)")
            ann_path = Path(genome_path)
        genes = read_annotation(ann_path, genome)
        if not genes:
            raise GenolongError(f"{ann_path}: no genes found")
        shared = _read_vocab(vocab) if vocab is not None else None
        gene_labels = build_labels(genes, labels, top_terms=top_terms, source=str(ann_path), vocab=shared)
        if transl_table is not None:
            code = check_transl_table(transl_table, "--transl-table")
        else:
            code = transl_table_of(genes, str(ann_path)) or DEFAULT_TRANSL_TABLE
        vocab = gene_labels.vocab
        spec = split or DEFAULT_SPEC
        regions = make_split(spec, genome.lengths, tok)
        leak = check_leak(genome.fetch, regions)
        if leak.leaked_tiles:
            msg = (f"--split {spec!r}: {leak.leaked_tiles} train windows of {leak.window} bp occur verbatim "
                   f"(or reverse-complemented) in val/test, ~{leak.leaked_fraction:.1%} of held-out bp")
            if leak.leaked_fraction > max_leak and not allow_leak:
                raise GenolongError(f"{msg}; above --max-leak {max_leak:g}: choose other regions (or --allow-leak)")
            print(f"WARNING: {msg}", file=sys.stderr)

        out.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
        work.chmod(0o755)  # mkdtemp makes it private; the store is an ordinary output folder
        try:
            records, taken = {}, set()
            by_seqid: dict[str, list] = {}
            for g in genes:
                by_seqid.setdefault(g.seqid, []).append(g)
            target_shape = () if vocab.kind == "single" else (vocab.n_outputs,)
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>5.1f}%"),
                           TimeRemainingColumn(), console=Console(stderr=True), disable=not progress, transient=False)
            with bar:
                for seqid in genome.ids:
                    length = genome.lengths[seqid]
                    n = tok.n_tokens(length)
                    stem = file_stem(seqid, taken)
                    task = bar.add_task(f"{seqid[:30]:<30}", total=max(length, 1))
                    with atomic_path(work / "tokens" / f"{stem}.npy") as tmp:
                        if n:
                            arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint16, shape=(n,))
                            tok.encode_record(lambda a, b, s=seqid: genome.fetch(s, a, b), length, arr,
                                              progress=lambda d, t=task: bar.advance(t, d))
                            arr.flush()
                            del arr
                        else:
                            _save_npy(tmp, np.zeros(0, dtype=np.uint16))
                    with atomic_path(work / "targets" / f"{stem}.npy") as tmp:
                        if n:
                            tgt = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(n, *target_shape))
                            fill_targets(tgt, by_seqid.get(seqid, []), gene_labels, tok)
                            tgt.flush()
                            del tgt
                        else:
                            _save_npy(tmp, np.zeros((0, *target_shape), dtype=np.uint8))
                    with atomic_path(work / "structure" / f"{stem}.npy") as tmp:
                        structure = np.zeros(n, dtype=np.uint8)  # (n,): one byte a token, like the tokens
                        _save_npy(tmp, fill_structure(structure, by_seqid.get(seqid, []), tok))
                    bar.update(task, completed=max(length, 1))
                    records[seqid] = {"length": length, "n_tokens": n, "file": stem}

            write_genes_tsv(genes, work / "genes.tsv", {gid: labs for gid, labs in gene_labels.by_gene.items()})
            with atomic_open(work / "labels.json", "w", encoding="utf-8") as fh:
                json.dump(vocab.to_dict(), fh, indent=1)
            write_split_tsv(work / "split.tsv", regions)
            sizes = {s: sum(r.region.n_tokens for r in regions if r.split == s) for s in ("train", "val", "test")}
            inputs = {"genome": {"path": str(genome_path), "sha256": sha256_file(Path(genome_path))}}
            inputs["annotation"] = {"path": str(ann_path), "sha256": inputs["genome"]["sha256"] if ann_path == Path(genome_path) else sha256_file(ann_path)}
            if labels.split(":", 1)[0] in ("pattern", "tsv"):
                table = Path(labels.split(":", 1)[1])
                inputs["labels"] = {"path": str(table), "sha256": sha256_file(table)}
            meta = {
                "format": FORMAT,
                "tokenizer": tok.to_dict(),
                "labels": vocab.to_dict(),
                "structure": structure_vocab().to_dict(),
                "transl_table": code,
                "records": records,
                "inputs": inputs,
                "split": {"spec": spec, "sizes": sizes,
                          "leak": {"window": leak.window, "train_tiles": leak.train_tiles,
                                   "leaked_tiles": leak.leaked_tiles, "leaked_fraction": leak.leaked_fraction,
                                   "sampling": leak.sampling}},
                "n_genes": len(genes),
                "n_labelled_genes": gene_labels.n_labelled,
            }
            with atomic_open(work / "meta.json", "w", encoding="utf-8") as fh:
                json.dump(meta, fh, indent=1)
            _swap_into_place(work, out)
        finally:
            if work.exists():
                shutil.rmtree(work, ignore_errors=True)
    return meta


def _save_npy(path: Path, array) -> None:
    """np.save to exactly `path` (given a path, np.save would append ".npy" to the temp name)."""
    import numpy as np

    with open(path, "wb") as fh:
        np.save(fh, array)


def _read_vocab(vocab) -> "LabelVocab":
    """A LabelVocab from a dict or a labels.json path (GenolongError when unreadable)."""
    from genolong.data.labels import LabelVocab

    if isinstance(vocab, dict):
        return LabelVocab.from_dict(vocab)
    path = Path(vocab)
    try:
        return LabelVocab.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError, KeyError) as exc:
        raise GenolongError(f"{path}: --vocab: not a readable labels.json: {exc}") from None


def _swap_into_place(work: Path, out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise GenolongError(f"{out}: exists and is not a directory")
    old = None
    if out.exists():
        if any(out.iterdir()) and not (out / "meta.json").exists():
            raise GenolongError(f"{out}: exists, is not empty and is not a token store; refusing to replace it")
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    os.replace(work, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def run(args: argparse.Namespace) -> int:
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
