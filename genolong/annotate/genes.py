"""Gene-level calls: pool token probabilities over a gene's parts, or lift decoded segments.

A token belongs to a part when its centre lies inside the part; a part shorter than one token
takes the token whose span contains the part's centre, so every gene gets a probability.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from genolong.annotate.decode import Segment
from genolong.data.tokenizer import centre_token_range


@dataclass
class GeneCall:
    seqid: str
    start: int  # bp, 0-based half-open
    end: int
    strand: str
    gene_id: str
    name: str
    biotype: str
    label: str  # predicted function label (";"-joined terms for multilabel vocabularies)
    score: float  # probability of that label
    probs: np.ndarray = field(repr=False)  # (C,) pooled per-class probability
    source: str = "predicted"  # "predicted" (a decoded segment or gene model) or "reference" (a given gene)
    parts: tuple[tuple[int, int, str], ...] = ()
    gene_score: float | None = None  # gene models: the structure decoder's score of the gene itself
    function: object = None  # annotate.function.GeneFunction: product, GO terms, inference (CDS with a function head)
    product: str | None = None  # RNA genes from a feature source (annotate/rna_genes.py): their product name
    inference: str | None = None  # ... and the program that called them (INSDC `COORDINATES:profile:...`)
    note: str | None = None  # pseudogene fragments (annotate/pseudogenes.py): `frameshifted` or `partial`


def part_tokens(start: int, end: int, k: int, stride: int, n_tokens: int) -> np.ndarray:
    """Indices of the tokens whose centre base lies in bp [start, end) (the labelling rule)."""
    if n_tokens == 0:
        return np.zeros(0, dtype=np.int64)
    first, last = centre_token_range(start, end, k, stride, n_tokens)
    if last > first:
        return np.arange(first, last)
    centre = (start + end) // 2
    return np.array([min(n_tokens - 1, centre // stride)])  # the last token starting at or before it


def label_from_probs(probs: np.ndarray, classes: Sequence[str], kind: str, threshold: float = 0.5) -> tuple[str, float]:
    """The label a pooled probability vector (C,) stands for, and its probability."""
    if kind == "multilabel":
        terms = probs[1:]
        if terms.size == 0:
            return ("genic" if probs[0] >= threshold else "intergenic"), float(probs[0])
        chosen = np.flatnonzero(terms >= threshold)
        if chosen.size == 0:
            chosen = np.array([int(np.argmax(terms))])
        return ";".join(classes[i + 1] for i in chosen), float(terms[chosen].min())
    best = int(np.argmax(probs))
    return classes[best], float(probs[best])


def pool_reference_genes(
    genes: Iterable, probs_by_seqid: dict[str, np.ndarray], classes: Sequence[str], kind: str, k: int, stride: int,
    lengths: dict[str, int] | None = None,
) -> list[GeneCall]:
    """One GeneCall per reference gene (genolong.data.annotation.Gene) on a record we annotated;
    with the records' `lengths`, a gene across the origin of a circular record pools both ends."""
    from genolong.data.annotation import record_parts

    calls = []
    for gene in genes:
        probs = probs_by_seqid.get(gene.seqid)
        if probs is None:
            continue
        parts = gene.parts or ((gene.start, gene.end, gene.strand),)
        pieces = parts if lengths is None else record_parts(parts, lengths[gene.seqid])
        idx = np.unique(np.concatenate([part_tokens(s, e, k, stride, probs.shape[0]) for s, e, _ in pieces]))
        if idx.size == 0:
            continue
        pooled = probs[idx].astype(np.float32).mean(axis=0)
        label, score = label_from_probs(pooled, classes, kind)
        calls.append(
            GeneCall(gene.seqid, gene.start, gene.end, gene.strand, gene.gene_id, gene.name, gene.biotype,
                     label, score, pooled, "reference", tuple(parts))
        )
    return calls


def models_to_genes(models: Iterable, probs, classes: Sequence[str], kind: str, k: int, stride: int) -> list[GeneCall]:
    """Predicted genes from gene models (`orf_decode.GeneModel`, or `rna_genes.RNAGene`, which
    brings its product and inference), each with the function probabilities (n_tokens, C) of
    `probs` pooled over its tokens (an array or a SpillArray view)."""
    calls = []
    n_tokens = probs.shape[0]
    for i, m in enumerate(models, 1):
        idx = part_tokens(m.start, m.end, k, stride, n_tokens)
        pooled = np.asarray(probs[int(idx[0]) : int(idx[-1]) + 1], dtype=np.float32).mean(axis=0) if idx.size else \
            np.zeros(len(classes), dtype=np.float32)
        label, score = label_from_probs(pooled, classes, kind)
        gene_id = f"genolong_{m.seqid}_{i}"
        calls.append(GeneCall(m.seqid, m.start, m.end, m.strand, gene_id, gene_id, m.biotype, label, score, pooled,
                              "predicted", ((m.start, m.end, m.strand),), m.score,
                              product=getattr(m, "product", None), inference=getattr(m, "inference", None)))
    return calls


def segments_to_genes(segments: Iterable[Segment], kind: str) -> list[GeneCall]:
    """Predicted genes; a single-label class doubles as the biotype (it is one under `biotype`)."""
    calls = []
    for i, seg in enumerate(segments, 1):
        gene_id = f"genolong_{seg.seqid}_{i}"
        biotype = "genic" if kind == "multilabel" else seg.label
        calls.append(
            GeneCall(seg.seqid, seg.start, seg.end, seg.strand, gene_id, gene_id, biotype, seg.label,
                     seg.score, seg.probs, "predicted", ((seg.start, seg.end, seg.strand),))
        )
    return calls
