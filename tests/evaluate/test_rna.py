"""RNA genes in the evaluation: per-type recall and precision, and the pyaragorn / pybarrnap
anchors on real Afade RNA genes, on both strands, with no network."""

from __future__ import annotations

import socket

import pytest

from genolong.data.annotation import read_annotation
from genolong.data.genome import open_genome
from genolong.evaluate import metrics as M
from genolong.evaluate import rna_anchors as R
from tests.annotate.helpers import fasta_from


def test_rna_metrics_per_type():
    ref = [M.Interval("c", 100, 176, "+", "tRNA"), M.Interval("c", 300, 376, "-", "tRNA"),
           M.Interval("c", 1000, 2500, "-", "rRNA")]
    pred = [M.Interval("c", 100, 176, "+", "tRNA"),
            M.Interval("c", 300, 376, "+", "tRNA"),  # wrong strand
            M.Interval("c", 1000, 1600, "-", "rRNA"),  # 40% of the reference: below 50% reciprocal overlap
            M.Interval("c", 5000, 5100, "+", "protein_coding")]
    m = M.rna_metrics(pred, ref)
    assert set(m) == {"tRNA", "rRNA"}  # types the reference lacks (tmRNA) get no row
    assert (m["tRNA"]["n_matched"], m["tRNA"]["precision"], m["tRNA"]["recall"]) == (1, 0.5, 0.5)
    assert (m["rRNA"]["n_matched"], m["rRNA"]["recall"]) == (0, 0.0)
    assert M.rna_metrics([], ref, kinds=("rRNA",)) == {
        "rRNA": {"precision": None, "recall": 0.0, "f1": None, "n_pred": 0, "n_ref": 1, "n_matched": 0}}


def _revcomp(seq: bytes) -> bytes:
    return seq[::-1].translate(bytes.maketrans(b"ACGTacgt", b"TGCAtgca"))


@pytest.mark.skipif(not (R.available("pyaragorn") and R.available("pybarrnap")), reason="RNA anchors not installed")
def test_anchors_call_afade_rna_genes_on_their_strand(data_dir, tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise AssertionError("an RNA anchor tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", offline)
    monkeypatch.setattr(socket, "getaddrinfo", offline)
    # contig 7 of Afade holds an rRNA operon (5S, 23S, 16S on the minus strand at 76-81 kbp)
    with open_genome(data_dir / "mycoides_Afade.fna.gz") as genome:
        operon = genome.fetch("NZ_LAEX01000007.1", 75000, 82000).upper()
    with open_genome(data_dir / "mycoides_Afade.fna.gz") as genome:
        trna_region = genome.fetch("NZ_LAEX01000004.1", 4000, 7000).upper()  # one tRNA, + strand at 5305-5378
    path = fasta_from({"operon": operon, "operon_rc": _revcomp(operon), "trna": trna_region,
                       "trna_rc": _revcomp(trna_region)}, tmp_path / "rna.fa")
    ref = [g for g in read_annotation(data_dir / "mycoides_Afade.gff3.gz")
           if g.seqid == "NZ_LAEX01000007.1" and g.biotype == "rRNA"]
    assert len(ref) == 3
    want = [M.Interval("operon", g.start - 75000, g.end - 75000, "-", "rRNA") for g in ref]
    want += [M.Interval("operon_rc", 7000 - (g.end - 75000), 7000 - (g.start - 75000), "+", "rRNA") for g in ref]
    want += [M.Interval("trna", 1304, 1378, "+", "tRNA"), M.Interval("trna_rc", 3000 - 1378, 3000 - 1304, "-", "tRNA")]
    with open_genome(path) as genome:
        rrna = R.barrnap_calls(genome, genome.ids)
        trnas = R.aragorn_calls(genome, genome.ids, 4)
    assert M.rna_metrics(rrna, want, kinds=("rRNA",))["rRNA"] == {
        "precision": 1.0, "recall": 1.0, "f1": 1.0, "n_pred": 6, "n_ref": 6, "n_matched": 6}
    found = M.rna_metrics(trnas, want, kinds=("tRNA",))["tRNA"]
    assert found["recall"] == 1.0 and found["precision"] == 1.0
