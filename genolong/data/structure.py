"""Structure targets: every token's gene part, with the codon position along protein-coding genes.

The vocabulary (a single-label `LabelVocab`, scheme "structure") is fixed, so every genome's
store shares it:
    intergenic, CDS0(+), CDS1(+), CDS2(+), CDS0(-), CDS1(-), CDS2(-),
    tRNA(+), tRNA(-), rRNA(+), rRNA(-), ncRNA(+), ncRNA(-)
A token's class is that of the gene part covering its centre base `c = i*stride + k//2`.
`CDS{p}`: p is the codon position of c counted along the gene's direction from the first coding
base (multi-part CDS: coding bases counted across the parts; a 5'-partial CDS's `/codon_start`
shifts the count): + strand p = (offset) % 3, - strand the same offset counted from the gene's
last base down. Overlaps: the gene that starts last wins, as for single-label function schemes.
Pseudogenes and other non-coding, non-RNA biotypes stay intergenic; an RNA biotype other than
tRNA / rRNA (tmRNA, ncRNA, misc_RNA, ...) is ncRNA. Genes on no single strand are skipped.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from genolong.data.annotation import RNA_TYPES, Gene
from genolong.data.labels import INTERGENIC, LabelVocab
from genolong.data.tokenizer import KmerTokenizer
from genolong.errors import GenolongError

STRUCTURE_SCHEME = "structure"
STRUCTURE_CLASSES = (
    INTERGENIC, "CDS0(+)", "CDS1(+)", "CDS2(+)", "CDS0(-)", "CDS1(-)", "CDS2(-)",
    "tRNA(+)", "tRNA(-)", "rRNA(+)", "rRNA(-)", "ncRNA(+)", "ncRNA(-)",
)
_INDEX = {name: i for i, name in enumerate(STRUCTURE_CLASSES)}
DEFAULT_TRANSL_TABLE = 11
# NCBI genetic codes (https://www.ncbi.nlm.nih.gov/Taxonomy/Utils/wprintgc.cgi); 7, 8, 17-20 unused

def structure_vocab() -> LabelVocab:
    return LabelVocab(STRUCTURE_SCHEME, "single", list(STRUCTURE_CLASSES),
                      {"CDS0(+)": "codon position 0 of a protein-coding gene on +, counted along the gene"})


def gene_kind(gene: Gene) -> str | None:
    """'CDS', 'tRNA', 'rRNA', 'ncRNA' or None (intergenic) for a gene's biotype."""
    biotype = gene.biotype
    if biotype in ("protein_coding", "CDS", "mRNA"):
        return "CDS"
    if biotype in ("tRNA", "rRNA"):
        return biotype
    if biotype in RNA_TYPES or biotype.endswith("RNA") or biotype in ("lincRNA", "processed_transcript"):
        return "ncRNA"
    return None


def _codon_start(gene: Gene) -> int:
    """0, 1 or 2: the bases before the first full codon of a 5'-partial CDS (`/codon_start` - 1)."""
    values = gene.attributes.get("codon_start") or ["1"]
    try:
        return (int(values[0]) - 1) % 3
    except ValueError:
        return 0


def _pieces(s: int, e: int, length: int | None) -> list[tuple[int, int, int]]:
    """Part [s, e) as (start, end, shift) pieces inside a record of `length` bp (None: as it is):
    a part past the end of a circular record goes on from 0, its bases `shift` bp further on."""
    if length is None or e <= length:
        return [(s, e, 0)]
    return [(s, length, 0)] * (s < length) + [(max(s, length) - length, e - length, length)]


def _paint_cds(out: np.ndarray, gene: Gene, tok: KmerTokenizer, length: int | None = None) -> None:
    n = out.shape[0]
    minus = gene.strand == "-"
    parts = sorted(gene.parts, reverse=minus)  # along the gene's direction
    base = _INDEX["CDS0(-)"] if minus else _INDEX["CDS0(+)"]
    done = -_codon_start(gene)  # coding bases before the current part, in frame
    for s, e, _ in parts:
        for lo, hi, shift in _pieces(s, e, length):
            a, b = tok.centre_range(lo, hi, n)
            if b > a:
                centres = np.arange(a, b) * tok.stride + tok.k // 2 + shift  # (m,) in the part's coordinates
                offset = (e - 1 - centres) if minus else (centres - s)
                out[a:b] = base + (done + offset) % 3
        done += e - s


def fill_structure(out: np.ndarray, genes: list[Gene], tok: KmerTokenizer, length: int | None = None) -> np.ndarray:
    """Paint one record's structure classes into `out` (n_tokens,) uint8 (zeroed here); `length`
    (the record's bp) lets a gene across the origin of a circular record paint both its ends."""
    n = out.shape[0]
    out[...] = 0
    for gene in sorted(genes, key=lambda g: g.start):
        kind = gene_kind(gene)
        if kind is None or gene.strand not in ("+", "-"):
            continue
        if kind == "CDS":
            _paint_cds(out, gene, tok, length)
            continue
        value = _INDEX[f"{kind}({gene.strand})"]
        for s, e, _ in gene.parts:
            for lo, hi, _ in _pieces(s, e, length):
                a, b = tok.centre_range(lo, hi, n)
                out[a:b] = value
    return out


def check_transl_table(value, source: str) -> int:
    """An NCBI genetic code number, or a one-line GenolongError naming `source`."""
    try:
        table = int(str(value).strip())
    except ValueError:
        table = None
    from Bio.Data import CodonTable  # the NCBI tables; Biopython translates with the same ones

    if table not in CodonTable.unambiguous_dna_by_id:
        known = ", ".join(map(str, sorted(CodonTable.unambiguous_dna_by_id)))
        raise GenolongError(f"{source}: translation table {value!r} is not an NCBI genetic code (one of {known})")
    return table


def transl_table_of(genes: list[Gene], source: str) -> int | None:
    """The most common `/transl_table` over the CDS genes (None when the annotation gives none)."""
    counts = Counter()
    for gene in genes:
        for value in gene.attributes.get("transl_table", []):
            counts[check_transl_table(value, f"{source}: gene {gene.gene_id}: /transl_table")] += 1
    return counts.most_common(1)[0][0] if counts else None
