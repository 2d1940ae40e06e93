"""The reference side of an evaluation: gene labels and per-token targets under a model's vocabulary.

The reference annotation is labelled with the checkpoint's scheme (`genolong.data.labels`), then
projected onto the checkpoint's classes: a single-label gene whose label the model does not
know, and every GO term the model does not predict, is left out (unknown), never counted as
wrong. Stranded vocabularies (`CDS:+` / `CDS:-`) take the gene's strand. GO terms are first propagated up
the GO graph (`data/ontology.py`; the three roots left out), as CAFA scores them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genolong.errors import GenolongError
from genolong.data.labels import UNKNOWN, split_strand


@dataclass
class Reference:
    genes: list  # genolong.data.annotation.Gene on the evaluated records
    by_gene: dict[str, list[str]]  # gene_id -> labels within the vocabulary; absent = unknown
    vocab: object  # LabelVocab
    go_terms: dict[str, list[str]]  # multilabel only: gene_id -> kept terms (genes with any GO)


def _stranded(classes: list[str]) -> bool:
    return any(split_strand(c)[1] != "." for c in classes[1:])


def project_labels(genes: list, vocab, source: str) -> Reference:
    """Label `genes` with `vocab.scheme` and keep only what the vocabulary can express."""
    from genolong.data.labels import GeneLabels, build_labels

    try:
        built = build_labels(genes, vocab.scheme, top_terms=10**6, source=source)
    except GenolongError as exc:
        if "labels none of" not in str(exc):
            raise
        built = GeneLabels(vocab, {})  # e.g. a reference without GO: only segments can be scored
    if vocab.kind == "multilabel":
        kept = set(vocab.classes[1:])
        if vocab.scheme == "go":
            # the true-path rule: a gene annotated with a term has every ancestor of it too (the GO
            # graph's roots left out: they say nothing), as CAFA scores; terms stay in vocabulary order
            from genolong.data.ontology import ROOTS, GeneOntology

            ontology = GeneOntology.read()
            built = GeneLabels(built.vocab, {gid: sorted(ontology.propagate(labs) | (set(labs) - ROOTS) - ROOTS)
                                             for gid, labs in built.by_gene.items()})
        by_gene = {gid: [t for t in labs if t in kept] for gid, labs in built.by_gene.items()}
        return Reference(genes, by_gene, vocab, by_gene)
    classes = list(vocab.classes)
    by_gene: dict[str, list[str]] = {}
    if _stranded(classes):
        lookup = {split_strand(c): c for c in classes[1:]}
        strand_of = {g.gene_id: g.strand for g in genes}
        for gid, labs in built.by_gene.items():
            name = lookup.get((labs[0], strand_of.get(gid, ".")))
            if name is not None:
                by_gene[gid] = [name]
    else:
        known = set(classes)
        by_gene = {gid: labs for gid, labs in built.by_gene.items() if labs and labs[0] in known}
    return Reference(genes, by_gene, vocab, {})


def token_targets(ref: Reference, seqid: str, n_tokens: int, tokenizer, length: int | None = None) -> np.ndarray:
    """Targets of one record (`length` bp), exactly as `genolong prepare` paints them."""
    from genolong.data.labels import GeneLabels, fill_targets

    vocab = ref.vocab
    shape = (n_tokens,) if vocab.kind == "single" else (n_tokens, vocab.n_outputs)
    out = np.zeros(shape, dtype=np.uint8)
    genes = [g for g in ref.genes if g.seqid == seqid]
    return fill_targets(out, genes, GeneLabels(vocab, ref.by_gene), tokenizer, length)
