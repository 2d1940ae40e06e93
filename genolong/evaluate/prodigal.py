"""Prodigal gene calls (through pyrodigal, an optional extra) as segment-level competitors.

`meta` mode uses Prodigal's pre-trained models and works on any genome size, including short
contigs; `single` trains on the genome itself (needs >= 20 kbp in total) with `--translation-table`.
"""

from __future__ import annotations

from genolong.errors import GenolongError
from genolong.evaluate.metrics import Interval


def available() -> bool:
    try:
        import pyrodigal  # noqa: F401
    except ImportError:
        return False
    return True


def version() -> str | None:
    try:
        import pyrodigal
    except ImportError:
        return None
    return getattr(pyrodigal, "__version__", "unknown")


def call_genes(genome, seqids: list[str], mode: str = "meta", translation_table: int = 11) -> list[Interval]:
    """CDS predictions of every record as Intervals (0-based half-open, biotype protein_coding)."""
    import pyrodigal

    if mode not in ("meta", "single"):
        raise GenolongError(f"prodigal mode must be 'meta' or 'single', got {mode!r}")
    sequences = {s: genome.fetch(s).upper() for s in seqids}
    if mode == "single":
        finder = pyrodigal.GeneFinder(meta=False)
        total = sum(len(v) for v in sequences.values())
        if total < 20000:
            raise GenolongError(f"prodigal single mode needs >= 20000 bp to train, the genome has {total}")
        finder.train(*sequences.values(), translation_table=translation_table)
    else:
        finder = pyrodigal.GeneFinder(meta=True)
    calls = []
    for seqid, seq in sequences.items():
        if len(seq) < 1:
            continue
        for gene in finder.find_genes(seq):
            strand = "+" if gene.strand == 1 else "-"
            calls.append(Interval(seqid, gene.begin - 1, gene.end, strand, "protein_coding"))
    return calls
