"""RNA genes from feature sources, as Prokka and Bakta call them: ARAGORN (tRNA and tmRNA, through
pyaragorn) and barrnap (5S/16S/23S rRNA, through pybarrnap, whose profile HMMs ship inside the
package: it reads no network). Both are optional extras (`genolong[prodigal]`).

The network's structure head barely learns RNA genes (a few dozen among thousands of coding
genes per genome); the dedicated RNA-caller network (`genolong fit-rna`, annotate/rna_caller.py)
does. `genolong annotate --rna auto` uses that caller when it has one (beside the checkpoint or
`--rna-caller`), else these callers, else the structure head's own RNA segments. Every source returns `RNAGene`s
of one shape, the source named in `inference`; `merge_rna` puts them beside the protein-coding
gene models and drops a coding call that lies mostly inside an RNA gene (Prokka's rule).
`genolong evaluate` scores the same calls as its RNA anchors (evaluate/rna_anchors.py).
"""

from __future__ import annotations

import bisect
import sys
from dataclasses import dataclass

from genolong.errors import GenolongError

RNA_MODES = ("auto", "network", "aragorn", "off")
MAX_CDS_OVERLAP = 0.5  # a coding call with more than this fraction of its length inside an RNA gene is dropped


@dataclass(frozen=True)
class RNAGene:
    seqid: str
    start: int  # bp, 0-based half-open
    end: int
    strand: str  # "+" or "-"
    biotype: str  # tRNA, tmRNA or rRNA
    product: str  # tRNA-Ala(tgc), transfer-messenger RNA, 16S ribosomal RNA, ...
    inference: str  # INSDC: COORDINATES:profile:<program>:<version>
    score: float | None = None  # no decoder score: GFF3 column 6 is "."


def available(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def version(module: str) -> str:
    return getattr(__import__(module), "__version__", "unknown")


def resolve_mode(mode: str, caller: bool = False) -> str:
    """`auto` -> `network` when an RNA-caller network is at hand (`caller`), else `aragorn` when
    pyaragorn and pybarrnap are both importable, else `network` (the structure head's segments);
    `aragorn` without them is a user mistake."""
    if mode not in RNA_MODES:
        raise GenolongError(f"--rna {mode}: must be one of {', '.join(RNA_MODES)}")
    have = available("pyaragorn") and available("pybarrnap")
    if mode == "auto":
        return "network" if caller or not have else "aragorn"
    if mode == "aragorn" and not have:
        raise GenolongError("--rna aragorn: needs pyaragorn and pybarrnap (pip install genolong[prodigal])")
    return mode


def aragorn_genes(genome, seqids: list[str], table: int) -> list[RNAGene]:
    """tRNA and tmRNA genes of every record (ARAGORN's defaults, linear records so no gene wraps
    past a record's end). The product names the amino acid and anticodon as Prokka does."""
    import pyaragorn

    # the code only names the anticodon's amino acid; ARAGORN knows most tables, 11 stands in for the rest
    table = table if table in pyaragorn.TRANSLATION_TABLES else 11
    finder = pyaragorn.RNAFinder(translation_table=table, trna=True, tmrna=True, linear=True)
    inference = f"COORDINATES:profile:aragorn:{pyaragorn.ARAGORN_VERSION}"
    genes = []
    for seqid in seqids:
        for gene in finder.find_rna(genome.fetch(seqid).upper()):
            if gene.type == "tRNA":
                product = f"tRNA-{gene.amino_acid}" + (f"({gene.anticodon})" if gene.anticodon else "")
            else:
                product = "transfer-messenger RNA"
            genes.append(RNAGene(seqid, gene.begin - 1, gene.end, "+" if gene.strand == 1 else "-", gene.type,
                                 product, inference))
    return genes


def barrnap_genes(genome, seqids: list[str], threads: int = 1) -> list[RNAGene]:
    """Bacterial rRNA genes (5S, 16S, 23S) of every record, barrnap's nhmmer mode and defaults
    (hits under 25% of the model's length rejected; under 80% named `(partial)`, as barrnap does)."""
    from Bio.Seq import Seq
    from Bio.SeqRecord import SeqRecord
    import pybarrnap
    from pybarrnap import Barrnap

    records = [SeqRecord(Seq(genome.fetch(s).upper().decode("ascii")), id=s, name=s, description="")
               for s in seqids if genome.lengths[s] > 0]
    if not records:
        return []
    found = Barrnap(records, kingdom="bac", threads=max(1, threads), quiet=True).run()
    # pybarrnap is a port of barrnap with its own version: the inference names the program that ran
    inference = f"COORDINATES:profile:pybarrnap:{pybarrnap.__version__}"
    genes = []
    for r in found.mdl_records:
        # `product`: 5S / 16S / 23S ribosomal RNA
        product = r.product + (" (partial)" if r.is_partial() else "")
        genes.append(RNAGene(r.target_name, r.start - 1, r.end, r.strand, "rRNA", product, inference))
    return genes


def source_genes(mode: str, genome, seqids: list[str], table: int, threads: int = 1,
                 caller=None) -> dict[str, list[RNAGene]] | None:
    """RNA genes per record of a resolved `mode`: ARAGORN + barrnap (`aragorn`), none (`off`), the
    RNA-caller network's (`network` with `caller`, an annotate.rna_caller.RNACaller), or None for
    `network` without one (keep the decoder's own RNA segments)."""
    if mode == "network" and caller is None:
        return None
    by_seqid: dict[str, list[RNAGene]] = {s: [] for s in seqids}
    if mode == "network":
        for gene in caller.call(genome, seqids, table):
            by_seqid[gene.seqid].append(gene)
    elif mode == "aragorn":
        for gene in aragorn_genes(genome, seqids, table) + barrnap_genes(genome, seqids, threads):
            by_seqid[gene.seqid].append(gene)
    return by_seqid


def drop_overlapped(coding: list, rna: list, max_overlap: float = MAX_CDS_OVERLAP) -> tuple[list, list]:
    """(kept, dropped) protein-coding calls of one record: dropped when more than `max_overlap`
    of its length lies inside RNA genes, on either strand (exactly half stays)."""
    union: list[list[int]] = []  # the RNA genes' bases as disjoint sorted spans, so none counts twice
    for r in sorted(rna, key=lambda r: r.start):
        if union and r.start <= union[-1][1]:
            union[-1][1] = max(union[-1][1], r.end)
        else:
            union.append([r.start, r.end])
    starts = [a for a, _ in union]
    kept, dropped = [], []
    for g in coding:
        first = max(0, bisect.bisect_right(starts, g.start) - 1)
        last = bisect.bisect_left(starts, g.end)
        inside = sum(max(0, min(g.end, b) - max(g.start, a)) for a, b in union[first:last])
        (dropped if inside > max_overlap * (g.end - g.start) else kept).append(g)
    return kept, dropped


def merge_rna(models: dict[str, list], rna: dict[str, list[RNAGene]] | None) -> tuple[dict[str, list], int]:
    """Per record: the protein-coding gene models, RNA genes of `rna` in place of the decoder's
    own (kept when `rna` is None), protein-coding calls inside an RNA gene dropped; in genome
    order. Returns (merged, number of dropped protein-coding calls)."""
    merged, n_dropped = {}, 0
    for seqid, genes in models.items():
        coding = [g for g in genes if g.biotype == "protein_coding"]
        rnas = [g for g in genes if g.biotype != "protein_coding"] if rna is None else list(rna.get(seqid, []))
        rnas.sort(key=lambda g: (g.start, g.end))
        kept, dropped = drop_overlapped(coding, rnas)
        n_dropped += len(dropped)
        merged[seqid] = sorted(kept + rnas, key=lambda g: (g.start, g.end))
    return merged, n_dropped


def summary(mode: str, merged: dict[str, list], n_dropped: int, caller=None) -> str:
    """One line: where the RNA genes come from, how many of each type, how many coding calls went."""
    counts: dict[str, int] = {}
    for genes in merged.values():
        for g in genes:
            if g.biotype != "protein_coding":
                counts[g.biotype] = counts.get(g.biotype, 0) + 1
    source = {"aragorn": "ARAGORN + barrnap", "network": "the network's structure head", "off": "none (--rna off)"}[mode]
    if mode == "network" and caller is not None:
        source = f"the RNA-caller network ({caller.source})"
    found = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())) or "no RNA genes"
    return (f"RNA genes from {source}: {found}; {n_dropped} protein-coding call(s) dropped "
            f"(> {MAX_CDS_OVERLAP:.0%} of their length inside an RNA gene)")


def print_summary(mode: str, merged: dict[str, list], n_dropped: int, caller=None) -> None:
    print(summary(mode, merged, n_dropped, caller), file=sys.stderr)
