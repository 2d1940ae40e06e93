"""RNA gene callers as anchors for the model's RNA calls, as pyrodigal is for its CDS: ARAGORN
(tRNA and tmRNA, through pyaragorn) and barrnap (rRNA, through pybarrnap, whose profile HMMs
ship inside the package: it reads no network). Both are optional extras (`genolong[prodigal]`);
a missing one is skipped with a note.
"""

from __future__ import annotations

from genolong.evaluate.metrics import Interval


def available(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def version(module: str) -> str:
    return getattr(__import__(module), "__version__", "unknown")


def aragorn_calls(genome, seqids: list[str], table: int) -> list[Interval]:
    """tRNA and tmRNA genes of every record (ARAGORN's defaults, linear records so no gene wraps
    past a record's end), 0-based half-open."""
    import pyaragorn

    # the code only names the anticodon's amino acid; ARAGORN knows most tables, 11 stands in for the rest
    table = table if table in pyaragorn.TRANSLATION_TABLES else 11
    finder = pyaragorn.RNAFinder(translation_table=table, trna=True, tmrna=True, linear=True)
    calls = []
    for seqid in seqids:
        for gene in finder.find_rna(genome.fetch(seqid).upper()):
            calls.append(Interval(seqid, gene.begin - 1, gene.end, "+" if gene.strand == 1 else "-", gene.type))
    return calls


def barrnap_calls(genome, seqids: list[str], threads: int = 1) -> list[Interval]:
    """Bacterial rRNA genes (5S, 16S, 23S) of every record, barrnap's nhmmer mode and defaults."""
    from Bio.Seq import Seq
    from Bio.SeqRecord import SeqRecord
    from pybarrnap import Barrnap

    records = [SeqRecord(Seq(genome.fetch(s).upper().decode("ascii")), id=s, name=s, description="")
               for s in seqids if genome.lengths[s] > 0]
    if not records:
        return []
    found = Barrnap(records, kingdom="bac", threads=max(1, threads), quiet=True).run()
    return [Interval(r.target_name, r.start - 1, r.end, r.strand, "rRNA") for r in found.mdl_records]
