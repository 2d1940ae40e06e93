"""RNA genes in `genolong annotate`'s outputs (annotate/rna_genes.py): a real Afade tRNA planted in
random sequence, on both strands, is written with its product and caller by `--rna aragorn`, read
back by gffutils and Biopython; `--rna off` writes no RNA gene; `--rna network` keeps the
decoder's own; and the rule that drops a protein-coding call lying inside an RNA gene."""

from __future__ import annotations

import subprocess
from types import SimpleNamespace

import numpy as np
import pytest
from Bio import SeqIO

from genolong.annotate.orf_decode import GeneModel
from genolong.annotate.rna_genes import RNAGene, available, drop_overlapped, merge_rna, resolve_mode
from genolong.data.genome import open_genome
from genolong.data.labels import LabelVocab
from genolong.data.tokenizer import KmerTokenizer
from genolong.errors import GenolongError
from tests.annotate.helpers import STRUCTURE, OracleAnnotator, fasta_from, two_head_net

GO = LabelVocab("go", "multilabel", ["genic", "GO:0005524"], {"GO:0005524": "ATP binding"})
STRUCTURE_VOCAB = LabelVocab("structure", "single", STRUCTURE)
FLANK = 1500
needs_callers = pytest.mark.skipif(not (available("pyaragorn") and available("pybarrnap")),
                                   reason="pyaragorn / pybarrnap not installed")


def _revcomp(seq: bytes) -> bytes:
    return seq[::-1].translate(bytes.maketrans(b"ACGT", b"TGCA"))


@pytest.fixture(scope="module")
def planted(data_dir, tmp_path_factory):
    """Afade's tRNA-Gly (contig 4, + strand, 1-based 5305..5378 in its GFF3) between random flanks,
    as given ("plus") and reverse-complemented ("minus"); the tRNAs as (seqid, start, end, strand)."""
    with open_genome(data_dir / "mycoides_Afade.fna.gz") as genome:
        trna = genome.fetch("NZ_LAEX01000004.1", 5304, 5378).upper()
    rng = np.random.default_rng(7)
    left, right = (np.frombuffer(b"ACGT", np.uint8)[rng.integers(0, 4, FLANK)].tobytes() for _ in range(2))
    plus = left + trna + right
    where = [("plus", len(left), len(left) + len(trna), "+"), ("minus", len(right), len(right) + len(trna), "-")]
    path = fasta_from({"plus": plus, "minus": _revcomp(plus)}, tmp_path_factory.mktemp("planted") / "planted.fa")
    return path, where


def _annotate(path, where, rna, out):
    # the oracle paints the tRNAs into the structure columns, so the decoder's own segments exist too
    reference = [SimpleNamespace(seqid=s, start=a, end=b, strand=st, biotype="tRNA") for s, a, b, st in where]
    ann = OracleAnnotator(reference, two_head_net(len(GO.classes)), KmerTokenizer(6), GO, window=256,
                          progress=False, structure_labels=STRUCTURE_VOCAB, transl_table=4, rna=rna)
    result = ann.annotate(path)
    return result, result.write(out)


@needs_callers
def test_planted_trna_written_with_product_and_caller(planted, tmp_path):
    import gffutils

    path, where = planted
    result, paths = _annotate(path, where, "aragorn", tmp_path / "pred")
    want = {(s, a, b, st) for s, a, b, st in where}
    db = gffutils.create_db(str(paths["gff3"]), ":memory:", merge_strategy="error")
    trnas = list(db.features_of_type("tRNA"))
    assert {(f.seqid, f.start - 1, f.end, f.strand) for f in trnas} == want
    for f in trnas:
        assert f.attributes["product"] == ["tRNA-Gly(tcc)"]
        assert f.attributes["inference"][0].startswith("COORDINATES:profile:aragorn:")
        parent = db[f.attributes["Parent"][0]]
        assert parent.attributes["gene_biotype"] == ["tRNA"] and (parent.start, parent.end) == (f.start, f.end)
    run = subprocess.run(["gt", "gff3validator", "-typecheck", "so", str(paths["gff3"])],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr

    found = set()
    for record in SeqIO.parse(paths["gbk"], "genbank"):
        for f in record.features:
            if f.type == "tRNA":
                assert f.qualifiers["product"] == ["tRNA-Gly(tcc)"]
                assert f.qualifiers["inference"][0].startswith("COORDINATES:profile:aragorn:")
                found.add((record.id, int(f.location.start), int(f.location.end), "+" if f.location.strand == 1 else "-"))
    assert found == want


@needs_callers
def test_rna_off_writes_none_and_network_keeps_the_decoders(planted, tmp_path):
    path, where = planted
    off, off_paths = _annotate(path, where, "off", tmp_path / "off")
    assert not [g for g in off.predicted if g.biotype != "protein_coding"]
    assert "\ttRNA\t" not in off_paths["gff3"].read_text() and "rRNA" not in off_paths["gff3"].read_text()
    network, _ = _annotate(path, where, "network", tmp_path / "network")
    rna = [g for g in network.predicted if g.biotype != "protein_coding"]
    assert {(g.seqid, g.strand, g.biotype) for g in rna} == {("plus", "+", "tRNA"), ("minus", "-", "tRNA")}
    assert all(g.inference is None for g in rna)  # the network's own: no caller named


def test_coding_call_inside_an_rna_gene_is_dropped():
    rna = [RNAGene("c", 1000, 1100, "+", "tRNA", "tRNA-Ala(tgc)", "x"),
           RNAGene("c", 1150, 1250, "-", "tRNA", "tRNA-Gly(tcc)", "x")]
    coding = [GeneModel("c", 960, 1080, "-", "protein_coding", 1.0),  # 80 of 120 bp inside, other strand
              GeneModel("c", 1050, 1200, "+", "protein_coding", 1.0),  # 50 + 50 of 150 bp, two RNA genes
              GeneModel("c", 1100, 1300, "+", "protein_coding", 1.0),  # 100 of 200 bp: exactly half stays
              GeneModel("c", 700, 1000, "+", "protein_coding", 1.0),  # touches, no overlap
              GeneModel("c", 1240, 1300, "+", "protein_coding", 1.0)]  # 10 of 60 bp
    kept, dropped = drop_overlapped(coding, rna)
    assert [(g.start, g.end) for g in dropped] == [(960, 1080), (1050, 1200)]
    assert [(g.start, g.end) for g in kept] == [(1100, 1300), (700, 1000), (1240, 1300)]

    network_rna = GeneModel("c", 2000, 2080, "+", "tRNA", 0.9)
    models = {"c": coding + [network_rna]}
    merged, n = merge_rna(models, {"c": rna})
    assert n == 2 and network_rna not in merged["c"] and [g.start for g in merged["c"]] == sorted(
        g.start for g in merged["c"])
    kept_network, n = merge_rna(models, None)  # --rna network: the decoder's RNA, the same rule
    assert network_rna in kept_network["c"] and n == 0
    assert merge_rna(models, {"c": []}) == ({"c": sorted(coding, key=lambda g: (g.start, g.end))}, 0)


def test_rna_mode_is_checked():
    assert resolve_mode("off") == "off" and resolve_mode("network") == "network"
    assert resolve_mode("auto") == ("aragorn" if available("pyaragorn") and available("pybarrnap") else "network")
    with pytest.raises(GenolongError, match="--rna trnascan: must be one of"):
        resolve_mode("trnascan")
