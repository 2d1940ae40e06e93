"""The no-learning gene caller: every long ORF, longest first, without heavy overlaps.

Rule (issue 15): every ORF of at least `min_length` bp (start codon to in-frame stop under the
genome's code, stop included), taken longest first, dropping any that overlaps an accepted one
by more than `max_overlap` bp on either strand. It shows how much of a model's gene-calling
score the decoder's ORF constraint gives for free.
"""

from __future__ import annotations

import numpy as np

from genolong.annotate.orfs import find_orfs, greedy_select
from genolong.evaluate.metrics import Interval

MIN_LENGTH = 300
MAX_OVERLAP = 60


def orf_calls(seq: bytes, seqid: str, table: int, min_length: int = MIN_LENGTH,
              max_overlap: int = MAX_OVERLAP) -> list[Interval]:
    """The baseline's calls on one record, in coordinate order."""
    orfs = find_orfs(seq, table, min_length=min_length, longest_only=True)
    # longest first; equal lengths in coordinate order so the result does not depend on the strand order
    order = np.lexsort((orfs.start, -orfs.length))
    rank = np.empty(len(orfs), dtype=np.float64)
    rank[order] = -np.arange(len(orfs), dtype=np.float64)
    keep = greedy_select(orfs.start, orfs.end, rank, max_overlap)
    keep = keep[np.argsort(orfs.start[keep], kind="stable")]
    return [Interval(seqid, int(orfs.start[i]), int(orfs.end[i]), "+" if orfs.strand[i] > 0 else "-", "protein_coding")
            for i in keep]


def call_genes(genome, seqids: list[str], table: int, min_length: int = MIN_LENGTH,
               max_overlap: int = MAX_OVERLAP) -> list[Interval]:
    """The baseline's calls on every record of a Genome."""
    calls: list[Interval] = []
    for seqid in seqids:
        calls += orf_calls(genome.fetch(seqid), seqid, table, min_length, max_overlap)
    return calls
