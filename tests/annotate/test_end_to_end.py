"""A checkpoint trained with the real training code annotates genomes it never saw."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from genolong.annotate import Annotator
from genolong.annotate.probs import load_probs
from genolong.annotate.rna_genes import available
from genolong.data.annotation import read_annotation
from genolong.cli import main

from .helpers import fasta_from


@pytest.fixture(scope="module")
def afade_pred(trained, tmp_path_factory, data_dir):
    ckpt, store = trained
    prefix = tmp_path_factory.mktemp("afade") / "afade"
    rc = main(["annotate", "--checkpoint", str(ckpt), "--genome", str(data_dir / "mycoides_Afade.fna.gz"),
               "--annotation", str(data_dir / "mycoides_Afade.gff3.gz"), "--out", str(prefix),
               "--store", str(store), "--batch-size", "16", "--no-progress"])
    assert rc == 0
    return prefix


def test_afade_outputs_parse_and_round_trip(afade_pred, data_dir, capsys):
    """A two-head checkpoint writes gene-model outputs; probabilities of both heads round-trip."""
    import gffutils  # a dependency of genolong: no skip
    gff = afade_pred.with_suffix(".gff3")
    probs = load_probs(afade_pred.with_suffix(".probs.npz"))
    assert len(probs.seqids) == 8 and sum(probs.lengths.values()) == 1_190_241
    assert probs.structure_labels["scheme"] == "structure" and probs.transl_table == 4
    for s in probs.seqids:
        assert probs.structure[s].shape == (probs.probs[s].shape[0], len(probs.structure_labels["classes"]))
        np.testing.assert_allclose(probs.structure[s].astype(np.float32).sum(axis=1), 1.0, atol=1e-2)
    rows = [line.split("\t") for line in gff.read_text().splitlines() if not line.startswith("#")]
    if rows:  # a model trained for 8 steps may call no gene at all
        db = gffutils.create_db(str(gff), ":memory:", merge_strategy="error")
        assert len(list(db.all_features())) == len(rows)
        assert {r[2] for r in rows} <= {"gene", "CDS", "tRNA", "rRNA", "tmRNA", "ncRNA"}
    if available("pyaragorn") and available("pybarrnap"):  # --rna auto: Afade's RNA genes from ARAGORN / barrnap
        assert [sum(r[2] == t for r in rows) for t in ("tRNA", "rRNA", "tmRNA")] == [30, 6, 1]
    for ext in ("gbk", "faa", "bed"):
        assert afade_pred.with_suffix(f".{ext}").is_file()
    regions = [line.split() for line in gff.read_text().splitlines() if line.startswith("##sequence-region")]
    assert {(r[1], int(r[3])) for r in regions} == set(probs.lengths.items())
    reference = read_annotation(data_dir / "mycoides_Afade.gff3.gz")
    table = pd.read_csv(afade_pred.with_suffix(".genes.tsv"), sep="\t")
    assert set(table["gene_id"]) == {g.gene_id for g in reference} and len(table) == len(reference)


def test_genbank_input_ecoli_region(trained, tmp_path, data_dir, capsys):
    ckpt, _ = trained
    gbk = data_dir / "D10483.gbk"
    args = ["annotate", "--checkpoint", str(ckpt), "--genome", str(gbk), "--annotation", str(gbk),
            "--out", str(tmp_path / "ecoli"), "--window", "256", "--overlap", "32"]
    # the checkpoint learnt M. mycoides (genetic code 4); this E. coli GenBank says code 11
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "genetic code 11" in err[0] and "--transl-table 11" in err[0]
    rc = main(args + ["--transl-table", "11"])
    assert rc == 0
    err = capsys.readouterr().err
    assert "Mbp/s" in err.strip().splitlines()[-1]
    table = pd.read_csv(tmp_path / "ecoli.genes.tsv", sep="\t")
    assert set(table["gene_id"]) == {g.gene_id for g in read_annotation(gbk)}
    probs = load_probs(tmp_path / "ecoli.probs.npz")
    assert probs.lengths == {probs.seqids[0]: 111_408}


def test_two_window_sizes_give_near_identical_probabilities(trained, tmp_path, data_dir):
    ckpt, _ = trained
    with gzip.open(data_dir / "mycoides_Afade.fna.gz", "rb") as fh:
        seq = b"".join(line for line in fh.read().split(b"\n")[1:] if not line.startswith(b">"))[:90_000]
    fasta = fasta_from({"c": seq}, tmp_path / "c.fa")
    a = Annotator.from_checkpoint(ckpt, window=512, overlap=128, progress=False).annotate(fasta).probs["c"]
    b = Annotator.from_checkpoint(ckpt, window=384, overlap=96, progress=False).annotate(fasta).probs["c"]
    inner = slice(64, len(a) - 64)  # away from the record's edges
    diff = np.abs(a[inner] - b[inner])
    assert diff.mean() < 0.02 and np.quantile(diff.max(axis=1), 0.95) < 0.1
    assert np.mean(a[inner].argmax(1) == b[inner].argmax(1)) > 0.95


def _one_line_error(capsys, *names):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert all(n in err[0] for n in names), err[0]
    return err[0]


def test_bad_checkpoints_fail_cleanly(trained, tmp_path, data_dir, capsys):
    ckpt, _ = trained
    genome = str(data_dir / "NC_005816.gb")
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"this is not a checkpoint\n" * 10)
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    for bad in (tmp_path / "missing.ckpt", garbage, truncated):
        out = tmp_path / "out" / bad.stem
        assert main(["annotate", "--checkpoint", str(bad), "--genome", genome, "--out", str(out)]) == 2
        _one_line_error(capsys, bad.name)
        assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_mismatched_store_and_bad_genome(trained, tmp_path, data_dir, capsys):
    ckpt, store = trained
    genome = str(data_dir / "NC_005816.gb")
    other = tmp_path / "k4"
    ecoli = str(data_dir / "D10483.gbk")
    assert main(["prepare", "--genome", ecoli, "--labels", "biotype", "--k", "4", "--out", str(other)]) == 0
    capsys.readouterr()
    assert main(["annotate", "--checkpoint", str(ckpt), "--genome", genome, "--out", str(tmp_path / "x"),
                 "--store", str(other)]) == 2
    assert "tokenizer" in _one_line_error(capsys, ckpt.name)
    go = tmp_path / "gene_names"
    assert main(["prepare", "--genome", ecoli, "--labels", "attribute:gene", "--out", str(go)]) == 0
    capsys.readouterr()
    assert main(["annotate", "--checkpoint", str(ckpt), "--genome", genome, "--out", str(tmp_path / "x"),
                 "--store", str(go)]) == 2
    assert "labels" in _one_line_error(capsys, ckpt.name)
    bad_fasta = tmp_path / "bad.fa"
    bad_fasta.write_text("this is not a fasta file\n")
    assert main(["annotate", "--checkpoint", str(ckpt), "--genome", str(bad_fasta), "--out", str(tmp_path / "x")]) == 2
    _one_line_error(capsys, "bad.fa")
    assert main(["annotate", "--checkpoint", str(ckpt), "--genome", genome, "--out", str(tmp_path / "x"),
                 "--window", "64", "--overlap", "64"]) == 2
    _one_line_error(capsys, "--overlap")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("x")]


def test_rc_average_follows_the_checkpoint_and_is_strand_equivariant(trained, tmp_path):
    import torch

    from genolong.training.checkpoint import read_checkpoint

    ckpt, _ = trained
    assert Annotator.from_checkpoint(ckpt, progress=False).rc_tables is None
    checkpoint = read_checkpoint(ckpt)
    checkpoint["hyper_parameters"]["rc_average"] = True
    both = tmp_path / "both_strands.ckpt"
    torch.save(checkpoint, both)
    annotator = Annotator.from_checkpoint(both, progress=False, window=64)
    rc_map, swap = annotator.rc_tables
    tokens = np.random.default_rng(0).integers(annotator.tokenizer.n_special, annotator.tokenizer.vocab_size, 50)
    forward = annotator.record_logits(tokens)  # one window: the two readings see the same context
    reverse = annotator.record_logits(rc_map.numpy()[tokens[::-1]])[::-1]
    if swap is not None:
        reverse = reverse[:, swap.numpy()]
    np.testing.assert_allclose(forward, reverse, rtol=1e-5, atol=1e-5)


def test_default_window_is_the_training_window(trained):
    ckpt, _ = trained
    assert Annotator.from_checkpoint(ckpt, progress=False).window == 128  # data.window of the fixture
    assert Annotator.from_checkpoint(ckpt, progress=False, window=64).window == 64
