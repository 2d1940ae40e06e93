"""RNA gene callers as anchors for the model's RNA calls, as pyrodigal is for its CDS: ARAGORN
(tRNA and tmRNA, through pyaragorn) and barrnap (rRNA, through pybarrnap). The callers are
`genolong annotate`'s own (annotate/rna_genes.py), so the anchor rows score exactly what
`annotate --rna aragorn` writes; here their genes become Intervals. Both are optional extras
(`genolong[prodigal]`); a missing one is skipped with a note.
"""

from __future__ import annotations

from genolong.annotate.rna_genes import RNAGene, aragorn_genes, available, barrnap_genes, version
from genolong.evaluate.metrics import Interval

__all__ = ["aragorn_calls", "available", "barrnap_calls", "version"]


def _intervals(genes: list[RNAGene]) -> list[Interval]:
    return [Interval(g.seqid, g.start, g.end, g.strand, g.biotype) for g in genes]


def aragorn_calls(genome, seqids: list[str], table: int) -> list[Interval]:
    """tRNA and tmRNA genes of every record, 0-based half-open."""
    return _intervals(aragorn_genes(genome, seqids, table))


def barrnap_calls(genome, seqids: list[str], threads: int = 1) -> list[Interval]:
    """Bacterial rRNA genes (5S, 16S, 23S) of every record."""
    return _intervals(barrnap_genes(genome, seqids, threads))
