"""Annotation readers on real files: GenBank, NCBI GFF3, GTF dialects, genes.tsv round trip."""

from __future__ import annotations

from collections import Counter

import pytest

from genolong.data.annotation import read_annotation, read_genes_tsv, write_genes_tsv
from genolong.errors import GenolongError
from genolong.data.genome import open_genome


def _table(genes):
    return [(g.seqid, g.start, g.end, g.strand, g.gene_id, g.name, g.biotype, g.parts) for g in genes]


def test_default_genome_gene_counts(default_genome):
    genes = read_annotation(default_genome)
    assert len(genes) == 900  # data README: 900 genes
    counts = Counter(g.biotype for g in genes)
    assert counts["tRNA"] == 30 and counts["rRNA"] == 6 and counts["pseudogene"] == 4
    assert counts["protein_coding"] == 861 - 4  # 861 CDS features, 4 of them in pseudogenes
    assert all(g.start < g.end and g.parts for g in genes)


def test_afade_gff3_and_genbank_give_the_same_gene_table(data_dir):
    with open_genome(data_dir / "mycoides_Afade.fna.gz") as genome:
        from_gff = read_annotation(data_dir / "mycoides_Afade.gff3.gz", genome)
    from_gbk = read_annotation(data_dir / "mycoides_Afade.gbff.gz")
    assert len(from_gff) > 1000
    assert _table(from_gff) == _table(from_gbk)
    # partial genes at contig ends are kept
    assert from_gff[0].start == 0 and from_gff[0].attributes.get("partial") == ["true"]


def test_chloroplast_trans_splicing_and_introns(data_dir):
    genes = read_annotation(data_dir / "NC_000932.gb")
    assert len(genes) == 129
    rps12 = [g for g in genes if g.name == "rps12"]
    assert len(rps12) == 2
    mixed = next(g for g in rps12 if g.strand == ".")
    assert {st for _, _, st in mixed.parts} == {"+", "-"}
    for g in rps12:
        assert len(g.parts) == 3
        assert g.end - g.start > 25_000 > g.length  # the parts, not the 28 kbp span
    # introns are not parts: a split gene covers less than its span
    assert sum(1 for g in genes if len(g.parts) > 1) >= 15
    unnamed = [g for g in genes if not g.name]
    assert unnamed and {g.biotype for g in unnamed} <= {"tRNA", "rRNA"}


@pytest.mark.parametrize(
    "name,n_genes,check",
    [
        ("ensembl.gtf", 2, lambda gs: {g.name for g in gs} >= {"amx-2"} and gs[1].biotype == "protein_coding"),
        ("gencode-v19.gtf", 1, lambda gs: gs[0].name == "DDX11L1" and gs[0].biotype == "pseudogene"),
        ("hybrid_embedded_fasta.gff3", 1, lambda gs: len(gs[0].parts) == 5 and gs[0].strand == "-"),
        ("mouse_extra_comma.gff3", 1, lambda gs: len(gs[0].parts) == 6 and gs[0].biotype == "protein_coding"),
        ("ncbi.gff3", 2, lambda gs: [g.gene_id for g in gs] == ["MSMEG_0013", "MSMEG_1072"] and gs[0].biotype == "pseudogene"),
    ],
)
def test_annotation_dialects(data_dir, name, n_genes, check):
    genes = read_annotation(data_dir / "annotation_dialects" / name)
    assert len(genes) == n_genes
    assert all(0 <= g.start < g.end for g in genes)
    assert check(genes)


def test_dialect_license_file_fails_clearly(data_dir):
    with pytest.raises(GenolongError, match="LICENSE.gffutils: not a FASTA, GenBank, GFF3 or GTF"):
        read_annotation(data_dir / "annotation_dialects" / "LICENSE.gffutils")


def test_genes_tsv_round_trip(tmp_path, data_dir):
    genes = read_annotation(data_dir / "NC_000932.gb")
    labels = {g.gene_id: ["a", "b"] for g in genes[:3]}
    write_genes_tsv(genes, tmp_path / "genes.tsv", labels)
    back = read_genes_tsv(tmp_path / "genes.tsv")
    assert _table(back) == _table(genes)
    assert back[0].attributes["labels"] == ["a", "b"] and back[5].attributes["labels"] == []
