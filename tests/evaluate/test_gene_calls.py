"""Protein-coding evaluation: exact starts and stops, the ORF baseline, and the summary table."""

from __future__ import annotations

import csv
import json

import pytest

from genolong.cli import main
from genolong.data.annotation import read_annotation
from genolong.data.labels import LabelVocab
from genolong.data.tokenizer import KmerTokenizer
from genolong.evaluate import metrics as M
from genolong.evaluate import pipeline_report as pr
from tests.annotate.helpers import STRUCTURE, OracleAnnotator, two_head_net

RECORDS = ["NZ_LAEX01000004.1", "NZ_LAEX01000005.1"]
GO = LabelVocab("go", "multilabel", ["genic", "GO:0005524", "GO:0003735"])


def test_coding_metrics_exact_ends_on_both_strands():
    ref = [M.Interval("c", 100, 400, "+"), M.Interval("c", 1000, 1600, "-"), M.Interval("c", 2000, 2300, "+")]
    pred = [M.Interval("c", 130, 400, "+"),  # start 30 bp late, stop exact
            M.Interval("c", 1000, 1660, "-"),  # minus strand: stop (start coordinate) exact, start 60 bp early
            M.Interval("c", 2000, 2300, "-"),  # wrong strand: no match
            M.Interval("c", 5000, 5300, "+")]
    m = M.coding_metrics(pred, ref)
    assert (m["n_matched"], m["precision"], m["recall"]) == (2, 0.5, 2 / 3)
    assert m["exact_stop"] == 1.0 and m["exact_start"] == 0.0
    # minus strand: the start codon is at `end`, the stop at `start`
    m = M.coding_metrics([M.Interval("c", 100, 400, "+"), M.Interval("c", 1003, 1600, "-")], ref)
    assert m["exact_start"] == 1.0 and m["exact_stop"] == 0.5


@pytest.fixture(scope="module")
def oracle_evaluation(tmp_path_factory, data_dir):
    root = tmp_path_factory.mktemp("gene_eval")
    reference = [g for g in read_annotation(data_dir / "mycoides_Afade.gff3.gz") if g.seqid in RECORDS]
    ann = OracleAnnotator(reference, two_head_net(len(GO.classes)), KmerTokenizer(6), GO, window=256,
                          progress=False, structure_labels=LabelVocab("structure", "single", STRUCTURE),
                          transl_table=4)
    ann.annotate(data_dir / "mycoides_Afade.fna.gz", seqids=RECORDS).write(root / "pred")
    out = root / "eval"
    assert main(["evaluate", "--pred", str(root / "pred"), "--reference", str(data_dir / "mycoides_Afade.gff3.gz"),
                 "--genome", str(data_dir / "mycoides_Afade.fna.gz"), "--out", str(out), "--no-plots",
                 "--prodigal", "off"]) == 0
    return root, json.loads((out / "metrics.json").read_text())


def test_gene_models_scored_beside_the_orf_baseline(oracle_evaluation, data_dir):
    root, m = oracle_evaluation
    assert m["meta"]["transl_table"] == 4  # from the predictions' probs.npz
    model, orf = m["model"]["protein_coding"], m["baselines"]["orf"]["protein_coding"]
    n_ref = sum(g.biotype == "protein_coding" and g.seqid in RECORDS
                for g in read_annotation(data_dir / "mycoides_Afade.gff3.gz"))
    assert model["n_ref"] == orf["n_ref"] == n_ref
    assert model["f1"] > 0.95 and model["exact_stop"] > 0.98 and model["exact_start"] > 0.85
    assert 0.6 < orf["f1"] < model["f1"]
    assert orf["exact_stop"] > 0.98  # a matched ORF ends at the gene's own stop codon
    # gene models are read once per gene, not once per GFF3 row (gene + child)
    gene_rows = [line for line in (root / "pred.gff3").read_text().splitlines() if "\tgene\t" in line]
    assert m["meta"]["n_predicted_genes"] == len(gene_rows) == m["model"]["segment"]["overall"]["n_pred"]
    assert m["model"]["segment"]["by_biotype"]["tRNA"]["n_pred"] > 0


def test_no_network_row_is_the_network_free_decoder(oracle_evaluation, data_dir):
    """`no network`: the decoder without the network's evidence, not the predictions' genes (the
    oracle's structure columns are the reference itself, so a leak would score like the model)."""
    from genolong.data.genome import open_genome
    from genolong.evaluate import no_network

    _, m = oracle_evaluation
    row = m["baselines"]["no network"]
    ref = [M.Interval(g.seqid, g.start, g.end, g.strand, g.biotype)
           for g in read_annotation(data_dir / "mycoides_Afade.gff3.gz")
           if g.seqid in RECORDS and g.biotype == "protein_coding"]
    with open_genome(data_dir / "mycoides_Afade.fna.gz") as genome:
        direct = M.coding_metrics(no_network.call_genes(genome, RECORDS, 4, KmerTokenizer(6)), ref)
    assert row["protein_coding"] == direct
    assert row["protein_coding"]["f1"] < m["model"]["protein_coding"]["f1"] - 0.1
    assert "network evidence 0" in row["rule"]


def test_rna_rows_per_type(oracle_evaluation):
    root, m = oracle_evaluation
    assert m["model"]["rna"]["tRNA"]["recall"] == 1.0  # the oracle's structure columns hold the tRNA
    if "pyaragorn" in m["baselines"]:
        assert m["baselines"]["pyaragorn"]["rna"]["tRNA"] == {
            "precision": 1.0, "recall": 1.0, "f1": 1.0, "n_pred": 1, "n_ref": 1, "n_matched": 1}
    if "pybarrnap" in m["baselines"]:
        assert m["baselines"]["pybarrnap"]["rna"] == {}  # no rRNA on these records: no row to score
    report = (root / "eval" / "report.md").read_text()
    assert "## RNA genes" in report and "| genolong | tRNA |" in report


def test_summary_table_has_the_issue_columns(oracle_evaluation, tmp_path):
    root, _ = oracle_evaluation
    bench = tmp_path / "bench.tsv"
    bench.write_text("s\th:m:s\n12.5\t0:00:12\n")
    metrics = tmp_path / "train.json"
    metrics.write_text(json.dumps({"monitor": "val/auprc_micro", "best_score": 0.2, "seconds": 30.0}))
    rows = pr.summarize([pr.TrainRun("reformer", metrics, bench)],
                        [pr.EvaluationRun("Afade", "reformer", root / "eval", bench)])
    pr.write_tsv(rows, tmp_path / "summary.tsv")
    with open(tmp_path / "summary.tsv", newline="") as fh:
        table = list(csv.DictReader(fh, delimiter="\t"))
    assert list(table[0])[:2] == ["genome", "system"]
    assert {"protein-coding F1", "gene Fmax"} <= set(table[0])
    by_system = {r["system"]: r for r in table}
    orf = [r for name, r in by_system.items() if "orf" in name]
    assert len(orf) == 1 and float(orf[0]["protein-coding F1"]) < float(by_system["reformer"]["protein-coding F1"])
    assert by_system["reformer"]["gene Fmax"] != ""
    # the network-free decoder, named for what it is: the figure the network is measured against
    assert float(by_system["no network"]["protein-coding F1"]) < float(by_system["reformer"]["protein-coding F1"])
    assert by_system["reformer"]["tRNA recall"] == "1"
