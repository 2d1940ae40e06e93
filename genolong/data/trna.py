"""A tRNA's amino acid from its anticodon, and where the anticodon sits: shared by the RNA caller's
training labels (training/rna_net.py), its product names (annotate/rna_caller.py) and the
product-accuracy measurement (evaluate/rna_products.py)."""

from __future__ import annotations

import re

from Bio.Data import CodonTable
from Bio.SeqUtils import seq3

_COMPLEMENT = str.maketrans("ACGTacgt", "TGCAtgca")
_ANTICODON_POS = re.compile(r"pos:(?:complement\()?(?:join\()?(\d+)\.\.(\d+)")
_PRODUCT_AA = re.compile(r"^tRNA-([A-Za-z]+)")


def reverse_complement(seq: str) -> str:
    return seq.translate(_COMPLEMENT)[::-1]


def amino_acid(anticodon: str, table: int) -> str:
    """Three-letter amino acid a tRNA with this anticodon (5'->3', DNA letters) carries under the
    genetic code `table`: the codon it reads is the anticodon's reverse complement. A stop codon's
    tRNA is selenocysteine's (UGA, `Sec`); anything unreadable is `Xxx`."""
    codon = reverse_complement(anticodon.upper())
    code = CodonTable.unambiguous_dna_by_id.get(table, CodonTable.unambiguous_dna_by_id[11])
    if codon in code.forward_table:
        return seq3(code.forward_table[codon])
    return "Sec" if codon in code.stop_codons else "Xxx"


def product_amino_acid(product: str) -> str | None:
    """`Ala` of `tRNA-Ala`, `tRNA-Ala(tgc)` or `tRNA-Ala-TGC`; `fMet` stays `fMet`; None for others."""
    m = _PRODUCT_AA.match(product.strip())
    return m.group(1) if m else None


def anticodon_from_qualifier(value: str) -> tuple[int, int] | None:
    """0-based half-open genome span of GenBank's `/anticodon=(pos:complement(97311..97313),...)`."""
    m = _ANTICODON_POS.search(value)
    return (int(m.group(1)) - 1, int(m.group(2))) if m else None


def find_anticodon(trna: str, aa: str, table: int) -> int | None:
    """Offset in a tRNA (5'->3') of the anticodon that carries `aa`, where the reference names no
    anticodon: the triplet at tRNA positions 34-36 lies in a 7-base loop after a U (33) and before
    a purine (37), so the candidates are triplets between offsets 26 and 44 with a T before, an A
    or G after, that decode to `aa`; the one nearest offset 33 (the standard position) wins."""
    seq = trna.upper()
    hits = [i for i in range(26, min(45, len(seq) - 3))
            if seq[i - 1] == "T" and seq[i + 3] in "AG" and amino_acid(seq[i : i + 3], table) == aa]
    return min(hits, key=lambda i: abs(i - 33)) if hits else None
