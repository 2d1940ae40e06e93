"""Gene-model outputs (GFF3, GenBank, protein FASTA) read back by third-party readers.

A real two-head network (function + structure columns) runs over two Afade contigs; its
structure columns are then replaced by the reference's structure targets (smoothed), so the
decoder calls real genes and the writers have real content to write.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess

import numpy as np
import pytest
from Bio import SeqIO
from Bio.Seq import Seq

from genolong.annotate import Annotator
from genolong.data.annotation import read_annotation
from genolong.data.labels import LabelVocab
from genolong.data.tokenizer import KmerTokenizer
from genolong.errors import GenolongError
from tests.annotate.helpers import STRUCTURE, OracleAnnotator, fasta_from, two_head_net

GO = LabelVocab("go", "multilabel", ["genic", "GO:0005524", "GO:0003735"],
                {"GO:0005524": "ATP binding", "GO:0003735": "structural constituent of ribosome"})
STRUCTURE_VOCAB = LabelVocab("structure", "single", STRUCTURE)


@pytest.fixture(scope="module")
def afade_two_contigs(data_dir, tmp_path_factory):
    with gzip.open(data_dir / "mycoides_Afade.fna.gz", "rt") as fh:
        records = {}
        for chunk in fh.read().split(">")[1:]:
            header, *lines = chunk.split("\n")
            records[header.split()[0]] = "".join(lines).encode()
    keep = dict(list(records.items())[3:5])  # two contigs of 41 and 53 kbp
    root = tmp_path_factory.mktemp("gene_outputs")
    fasta = fasta_from(keep, root / "two.fa")
    reference = [g for g in read_annotation(data_dir / "mycoides_Afade.gff3.gz") if g.seqid in keep]
    ann = OracleAnnotator(reference, two_head_net(len(GO.classes)), KmerTokenizer(6), GO, window=256,
                          progress=False, structure_labels=STRUCTURE_VOCAB, transl_table=4)
    result = ann.annotate(fasta)
    paths = result.write(root / "pred")
    return result, paths, reference, keep


def test_calls_are_the_reference_genes(afade_two_contigs):
    from genolong.evaluate.metrics import Interval, segment_metrics

    result, _, reference, _ = afade_two_contigs
    coding = [g for g in result.predicted if g.biotype == "protein_coding"]
    ref = [g for g in reference if g.biotype == "protein_coding"]
    m = segment_metrics([Interval(g.seqid, g.start, g.end, g.strand) for g in coding],
                        [Interval(g.seqid, g.start, g.end, g.strand) for g in ref])["overall"]
    assert len(ref) > 50 and m["f1"] > 0.95
    exact = {(g.seqid, g.start, g.end, g.strand) for g in ref}
    assert np.mean([(g.seqid, g.start, g.end, g.strand) in exact for g in coding]) > 0.85


def test_gff3_parses_with_gffutils_and_links_parents(afade_two_contigs):
    import gffutils

    result, paths, _, _ = afade_two_contigs
    db = gffutils.create_db(str(paths["gff3"]), ":memory:", merge_strategy="error")
    genes = list(db.features_of_type("gene"))
    assert len(genes) == len(result.predicted) > 50
    by_id = {g.gene_id: g for g in result.predicted}
    n_terms = 0
    for gene in genes:
        children = list(db.children(gene, level=1))
        assert len(children) == 1
        child = children[0]
        assert (child.start, child.end, child.strand) == (gene.start, gene.end, gene.strand)
        assert child.featuretype == {"protein_coding": "CDS", "tRNA": "tRNA", "rRNA": "rRNA"}.get(
            gene.attributes["gene_biotype"][0], "ncRNA")
        assert child.attributes["product"][0]
        if child.featuretype == "CDS":
            assert child.frame == "0" and child.attributes["transl_table"] == ["4"]
            pooled = by_id[gene.id].probs[1:]  # the GO terms pooled over the gene's tokens
            expected = [t for t, p in zip(GO.classes[1:], pooled) if p >= 0.5]
            assert child.attributes.get("Ontology_term", []) == expected
            n_terms += len(expected)
        assert gene.score == "." or float(gene.score) > 0
    assert n_terms > 0


def test_genbank_and_faa_translations_equal_biopython(afade_two_contigs):
    result, paths, _, contigs = afade_two_contigs
    records = {r.id: r for r in SeqIO.parse(paths["gbk"], "genbank")}
    assert set(records) == set(contigs)
    proteins = {r.id: str(r.seq) for r in SeqIO.parse(paths["faa"], "fasta")}
    coding = [g for g in result.predicted if g.biotype == "protein_coding"]
    assert len(proteins) == len(coding) > 50
    n_cds = 0
    for seqid, record in records.items():
        assert str(record.seq).encode() == contigs[seqid]
        for feat in record.features:
            if feat.type != "CDS":
                continue
            n_cds += 1
            table = int(feat.qualifiers["transl_table"][0])
            expected = str(feat.location.extract(Seq(contigs[seqid].decode())).translate(table=table, cds=True))
            assert feat.qualifiers["translation"][0] == expected
            assert proteins[feat.qualifiers["locus_tag"][0]] == expected
    assert n_cds == len(coding)


@pytest.mark.skipif(shutil.which("gt") is None and not os.environ.get("CI"),
                    reason="GenomeTools (`gt`, Debian package genometools) is not installed; CI installs it")
def test_genometools_accepts_the_gff3(afade_two_contigs):
    _, paths, _, _ = afade_two_contigs
    run = subprocess.run(["gt", "gff3validator", "-typecheck", "so", str(paths["gff3"])],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_genbank_genome_with_another_code_is_refused(data_dir, tmp_path):
    """D10483 is E. coli (code 11); a decoder on code 4 refuses it in one line."""
    ann = Annotator(two_head_net(len(GO.classes)), KmerTokenizer(6), GO, window=64, progress=False,
                    structure_labels=STRUCTURE_VOCAB, transl_table=4)
    with pytest.raises(GenolongError) as err:
        ann.annotate(data_dir / "D10483.gbk")
    assert "genetic code 11" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("table", [0, 7, 99])
def test_bad_translation_table_is_refused(table):
    with pytest.raises(GenolongError) as err:
        Annotator(two_head_net(len(GO.classes)), KmerTokenizer(6), GO, window=64, progress=False,
                  structure_labels=STRUCTURE_VOCAB, transl_table=table)
    assert f"translation table {table!r}" in str(err.value) and "\n" not in str(err.value)


def test_tiny_records_with_two_heads(tmp_path):
    """Records shorter than a token, than a codon window, and than one window all annotate and write."""
    fasta = fasta_from({"empty_ish": b"ACG", "tiny": b"ACGTACGTAC", "short": b"ATGAAACCCGGGTTTTAA" * 30},
                       tmp_path / "tiny.fa")
    ann = Annotator(two_head_net(len(GO.classes)), KmerTokenizer(6), GO, window=64, progress=False,
                    structure_labels=STRUCTURE_VOCAB, transl_table=11)
    result = ann.annotate(fasta)
    assert result.structure["empty_ish"].shape == (0, len(STRUCTURE)) and result.probs["tiny"].shape == (1, 3)
    paths = result.write(tmp_path / "out")
    assert set(r.id for r in SeqIO.parse(paths["gbk"], "genbank")) == {"empty_ish", "tiny", "short"}


def test_genetic_code_resolution(data_dir):
    """--transl-table, else the checkpoint's, else the genome's own, else 11; disagreement refused."""
    from genolong.data.genome import open_genome

    def code(explicit=None, checkpoint=None, reference=None, genome="mycoides_Afade.fna.gz"):
        ann = Annotator(two_head_net(len(GO.classes)), KmerTokenizer(6), GO, window=64, progress=False,
                        structure_labels=STRUCTURE_VOCAB, transl_table=explicit, checkpoint_table=checkpoint)
        with open_genome(data_dir / genome) as g:
            return ann.genetic_code_for(g, reference)

    afade_gff = read_annotation(data_dir / "mycoides_Afade.gff3.gz")  # its CDS say transl_table=4
    assert code() == 11 and code(checkpoint=4) == 4 and code(explicit=11, checkpoint=4) == 11
    assert code(reference=afade_gff) == 4  # a checkpoint of mixed codes: the genome's own
    assert code(explicit=4, reference=afade_gff) == 4 and code(genome="D10483.gbk") == 11
    with pytest.raises(GenolongError, match="--annotation: its CDS use genetic code 4 .* the checkpoint says 11"):
        code(checkpoint=11, reference=afade_gff)
    with pytest.raises(GenolongError, match="--transl-table says 4"):
        code(explicit=4, genome="D10483.gbk")


def test_stream_with_a_structure_head_but_no_memory_is_refused():
    # two-head checkpoints stream (tests/annotate/test_stream.py) when they carry a segment memory
    with pytest.raises(GenolongError, match="--stream needs a checkpoint trained with a segment memory") as err:
        Annotator(two_head_net(len(GO.classes)), KmerTokenizer(6), GO, window=64, progress=False,
                  structure_labels=STRUCTURE_VOCAB, stream=True)
    assert "\n" not in str(err.value)
