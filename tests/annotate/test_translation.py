"""Issue 21 case 1: a called gene holding a codon that is no amino acid (an IUPAC code that can
only read as a stop, a `*`, a gap run, lower case) is translated with X, as Prokka does, and the
GenBank and protein FASTA writers never raise Biopython's TranslationError."""

from __future__ import annotations

import numpy as np
import pytest
from Bio import SeqIO

from genolong.annotate.formats import translate, write_faa, write_genbank
from genolong.annotate.genes import GeneCall
from genolong.data.genome import open_genome

PRODUCT = {"scheme": "product", "kind": "single", "classes": ["intergenic", "ribosomal protein", "other"]}


def _gene(end, strand="+"):
    return GeneCall("c", 0, end, strand, "g1", "g1", "protein_coding", "other", 0.9,
                    np.asarray([0.1, 0.1, 0.8], dtype=np.float32))


@pytest.mark.parametrize("cds, table, protein", [
    ("ATGAAATAA", 11, "MK"),  # an ordinary gene: as Biopython's cds=True gives it
    ("TTGAAATAG", 11, "MK"),  # an alternative start reads as M
    ("ATGTARAAATAA", 11, "MXK"),  # TAR: TAA or TAG, a stop either way
    ("ATGtarAAATAA", 11, "MXK"),  # soft-masked
    ("ATGTRAAAATAA", 11, "MXK"),  # TRA: TAA or TGA
    ("ATGNNNAAATAA", 11, "MXK"),
    ("ATG---AAATAA", 11, "MXK"),  # a gap run
    ("ATGTGAAAATAA", 4, "MWK"),  # TGA is tryptophan in code 4
    ("ATGTGAAAATAA", 11, "MXK"),  # and an in-frame stop in code 11
    ("ATGAAATAR", 11, "MK"),  # an ambiguous final stop is still dropped
])
def test_translation_writes_x_for_codons_that_are_no_amino_acid(cds, table, protein, tmp_path):
    fasta = tmp_path / "g.fa"
    fasta.write_text(f">c\n{cds}GGGCCC\n")
    with open_genome(fasta) as genome:
        assert translate(genome, _gene(len(cds)), table) == protein


def test_genbank_and_faa_of_a_gene_with_a_stop_only_iupac_codon(tmp_path):
    seq = "ATG" + "AAA" * 20 + "TAR" + "AAA" * 20 + "TAA" + "GGGCCCAAATTT" * 3
    fasta = tmp_path / "g.fa"
    fasta.write_text(f">c\n{seq}\n")
    gene = _gene(129)
    with open_genome(fasta) as genome:
        write_genbank(tmp_path / "x.gbk", genome, {"c": len(seq)}, [gene], "single", PRODUCT, 11)
        write_faa(tmp_path / "x.faa", genome, [gene], 11)
    record = SeqIO.read(tmp_path / "x.gbk", "genbank")
    cds = next(f for f in record.features if f.type == "CDS")
    assert cds.qualifiers["translation"] == ["M" + "K" * 20 + "X" + "K" * 20]
    assert next(SeqIO.parse(tmp_path / "x.faa", "fasta")).seq == "M" + "K" * 20 + "X" + "K" * 20
