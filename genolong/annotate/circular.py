"""Genes across the origin of circular records: each record read with its ends copied round.

Which records are circular: those the genome file marks (a GenBank LOCUS line's topology), those
`--annotation` marks (GenBank topology; GFF3 `Is_circular=true`, on the `region` row as RefSeq
writes it) and those named by `--circular SEQID ... | all` (a FASTA says nothing).

A circular record of L bp is annotated as its sequence with m bp of each end copied round the
other, `seq[L-m:] + seq + seq[:m]` (m = the decoder's `margin_bp`, the longest gene it finds
whole, rounded up to a whole number of the network's window steps, so the windows over the
record's copy are those of the record read alone and away from the origin it reads the same;
at most L, and then a multiple of the tokenizer's stride, so the record's own tokens are tokens
of the extended sequence). The network reads the origin with context on both sides and the decoder
sees an ORF across it as one ORF. Of the genes found, those whose start lies in the record's own
copy ([m, m + L) of the extended sequence) and no longer than L are kept and moved back by m:
each gene once, and a gene across the origin ends past the record's end, as the GFF3
specification writes it (GenBank writes it as a `join`, `formats.py`). The other copies, and the
fragments at the extended sequence's ends (where a gene has no upstream context), all start
outside the record's copy. The two copies of the origin's neighbourhood are decided apart, so a
kept gene across the origin and a kept protein-coding gene at the record's start that share more
than the decoder's `max_overlap` leave the one with the lower total score out. RNA genes (the
feature sources' or the decoder's) are merged on the extended records, each copy beside its own
neighbours, before that choice. The decoder's self-trained start and coding models learn from
every copy, so the 2m copied bp count twice there. The record's probabilities (probs.npz,
pooling) are the rows of its own copy.

A linear record is read as it is, and no gene of it ever runs past its end. Checkpoints without
a structure head (label runs) read every record as linear.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Sequence

from genolong.data.genome import fetch_circular
from genolong.errors import GenolongError

ALL = "all"


def circular_records(genome, ids: Sequence[str], requested: Sequence[str] | None, marked: Iterable[str] = ()) -> frozenset[str]:
    """The records of `ids` to read as circular: the genome's own marks, `marked` (the
    annotation's) and `requested` (--circular: record names, or `all`). A requested name that is
    not a record of the genome is a user mistake."""
    requested = list(requested or ())
    if ALL in requested:
        if len(requested) > 1:
            raise GenolongError(f"--circular {' '.join(requested)}: `all` stands alone (every record is circular)")
        return frozenset(ids)
    for seqid in requested:
        if seqid not in genome.lengths:
            shown = ", ".join(genome.ids[:5]) + (", ..." if len(genome.ids) > 5 else "")
            raise GenolongError(f"--circular {seqid}: {genome.path} has no record of that name (records: {shown})")
    chosen = set(genome.circular) | set(marked) | set(requested)
    return frozenset(s for s in ids if s in chosen)


class Circle:
    """The genome as annotate reads it: circular records extended round their origin (a view with
    `ids`, `lengths` and `fetch`, like a Genome), and the way back to record coordinates."""

    def __init__(self, genome, ids: Sequence[str], circular: Iterable[str], margin_bp: int, tokenizer,
                 window_step: int = 1):
        """`window_step`: tokens from one network window to the next (window - overlap)."""
        self.genome, self.ids, self.path = genome, list(ids), getattr(genome, "path", None)
        self.tokenizer = tokenizer
        stride = tokenizer.stride
        self.record_lengths = {s: int(genome.lengths[s]) for s in self.ids}
        # seqid -> m, the bp copied round each end (circular records only)
        self.margins = {}
        step = max(1, window_step) * stride
        for s in circular:
            length = self.record_lengths[s]
            m = -(-margin_bp // step) * step
            m = m if m <= length else length // stride * stride
            if m > 0:
                self.margins[s] = m
        self.lengths = {s: n + 2 * self.margins.get(s, 0) for s, n in self.record_lengths.items()}

    def fetch(self, seqid: str, start: int = 0, end: int | None = None) -> bytes:
        """Bases [start, end) of the extended sequence (the record itself for a linear one)."""
        m = self.margins.get(seqid)
        if m is None:
            return self.genome.fetch(seqid, start, end)
        end = self.lengths[seqid] if end is None else end
        if not 0 <= start <= end <= self.lengths[seqid]:
            raise GenolongError(f"{self.path}: {seqid}: range {start}-{end} outside the extended record "
                                f"(length {self.lengths[seqid]})")
        return fetch_circular(self.genome, seqid, start - m, end - m)

    def select(self, models: dict[str, list], max_overlap: int) -> dict[str, list]:
        """Per record, the gene models (extended coordinates) that stand for the record: on a
        circular one each gene once (see the module's docstring); a linear one's as they are."""
        out = {}
        for seqid, genes in models.items():
            m = self.margins.get(seqid)
            if m is None:
                out[seqid] = genes
                continue
            length = self.record_lengths[seqid]
            kept = [g for g in genes if self._stands_for_record(g) and g.end - g.start <= length]
            out[seqid] = _settle_origin(kept, m + length, length, max_overlap)
        return out

    def merge_rna(self, models: dict[str, list], rna: dict | None, max_overlap: int) -> tuple[dict[str, list], int]:
        """`rna_genes.merge_rna` on the extended records (each copy with its RNA neighbours), then
        `select`; the count of dropped protein-coding calls is of those that stood for the record."""
        from genolong.annotate import rna_genes

        merged, _ = rna_genes.merge_rna(models, rna)
        kept = {id(g) for genes in merged.values() for g in genes}
        n_dropped = sum(1 for genes in models.values() for g in genes
                        if g.biotype == "protein_coding" and id(g) not in kept and self._stands_for_record(g))
        return self.select(merged, max_overlap), n_dropped

    def _stands_for_record(self, g) -> bool:
        m = self.margins.get(g.seqid)
        return m is None or m <= g.start < m + self.record_lengths[g.seqid]

    def to_record(self, calls: list) -> list:
        """Gene calls (GeneCall, extended coordinates) moved back to their record's coordinates."""
        out = []
        for g in calls:
            m = self.margins.get(g.seqid, 0)
            if m:
                g = dataclasses.replace(g, start=g.start - m, end=g.end - m,
                                        parts=tuple((s - m, e - m, st) for s, e, st in g.parts))
            out.append(g)
        return out

    def record_rows(self, arrays: dict) -> dict:
        """Per record, the rows (tokens) of its own sequence among those of the extended one: the
        record's token i is the extended sequence's token i + m / stride."""
        out = {}
        for seqid, arr in arrays.items():
            m = self.margins.get(seqid)
            if m is None:
                out[seqid] = arr
                continue
            first = m // self.tokenizer.stride
            out[seqid] = arr.window(first, first + self.tokenizer.n_tokens(self.record_lengths[seqid]))
        return out


def _settle_origin(genes: list, end: int, length: int, max_overlap: int) -> list:
    """`genes` (kept copies, extended coordinates; the record's copy ends at `end`) without the
    protein-coding genes at the record's start that overlap a protein-coding gene across the
    origin by more than `max_overlap` bp, or the crossing gene itself when its total score is
    the lower."""
    coding = [g for g in genes if g.biotype == "protein_coding"]
    crossing = [g for g in coding if g.end > end]
    dropped = set()
    for w in crossing:
        shadow = (w.start - length, w.end - length)  # the same gene, one turn back: over the record's start
        for g in coding:
            if g is w or id(g) in dropped or id(w) in dropped or g.end > end:
                continue
            overlap = min(g.end, shadow[1]) - max(g.start, shadow[0])
            if overlap > max_overlap:
                loser = g if _total(g) <= _total(w) else w
                dropped.add(id(loser))
    return [g for g in genes if id(g) not in dropped]


def _total(g) -> float:
    """A gene model's total score (its `score` is per token), for choosing between two."""
    return (g.score or 0.0) * (g.end - g.start)
