"""The RNA-caller network (models/rna_net.py, training/rna_net.py, annotate/rna_caller.py): a tiny
caller trained for a few seconds on a real tRNA (the chloroplast's trnR, tests/data/NC_000932.gb)
planted in random sequence calls a fresh planted copy on the right strand with its amino acid;
`rna_caller.pt` reads back with weights_only; `genolong fit-rna` end to end on the chloroplast;
`annotate --rna network` writes gene -> tRNA features that gt accepts."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import torch

from genolong.annotate.rna_caller import RNACaller, load_bundle, runs, save_bundle
from genolong.cli import main
from genolong.data.genome import open_genome
from genolong.data.labels import LabelVocab
from genolong.data.tokenizer import KmerTokenizer
from genolong.data.trna import find_anticodon, reverse_complement
from genolong.models.rna_net import RNACallerBundle, RNACallerConfig, encode_bases, strand_swap
from genolong.training.rna_net import LabelledRecord, fit_rna_caller
from tests.annotate.helpers import STRUCTURE, OracleAnnotator, fasta_from, two_head_net

TINY = RNACallerConfig(channels=16, stride=4, dilations=(1, 2, 4, 8, 16), dropout=0.0)


def _random(rng, n: int) -> str:
    return "".join(np.array(list("ACGT"))[rng.integers(0, 4, n)])


@pytest.fixture(scope="module")
def trna(data_dir) -> str:
    """trnR of the Arabidopsis chloroplast (1-based 9590..9661, + strand, tRNA-Arg)."""
    with open_genome(data_dir / "NC_000932.gb") as genome:
        return genome.fetch(genome.ids[0], 9589, 9661).decode().upper()


@pytest.fixture(scope="module")
def tiny_caller(trna) -> RNACaller:
    """A caller trained for a few seconds on 40 copies of the tRNA, half of them reverse-complemented."""
    rng = np.random.default_rng(0)
    offset = find_anticodon(trna, "Arg", 11)
    assert offset is not None
    seq, labels, anticodon, known, genes = [], [], [], [], []
    pos = 0
    for i in range(40):
        gap = _random(rng, int(rng.integers(300, 900)))
        strand = "+" if i % 2 == 0 else "-"
        piece = trna if strand == "+" else reverse_complement(trna)
        code = 1 if strand == "+" else 2
        ac = np.zeros(len(piece), np.uint8)
        a = offset if strand == "+" else len(piece) - offset - 3
        ac[a : a + 3] = code
        seq += [gap, piece]
        labels += [np.zeros(len(gap), np.uint8), np.full(len(piece), code, np.uint8)]
        anticodon += [np.zeros(len(gap), np.uint8), ac]
        known += [np.zeros(len(gap), np.uint8), np.full(len(piece), code, np.uint8)]
        genes.append((pos + len(gap), pos + len(gap) + len(piece)))
        pos += len(gap) + len(piece)
    record = LabelledRecord("planted", encode_bases("".join(seq).encode()), np.concatenate(labels),
                            np.concatenate(anticodon), np.concatenate(known), genes)
    torch.manual_seed(0)
    net, result = fit_rna_caller(TINY, [record], window=512, epochs=8, windows_per_epoch=160, batch_size=16,
                                 val_fraction=0.15, lr=5e-3, seed=0)
    assert result["summary"]["n_val_windows"] > 0
    return RNACaller(RNACallerBundle(TINY, net.state_dict()), "tiny")


def test_planted_trna_called_on_its_strand(tiny_caller, trna):
    rng = np.random.default_rng(1)
    left, middle, right = _random(rng, 1000), _random(rng, 1500), _random(rng, 1000)
    seq = left + trna + middle + reverse_complement(trna) + right
    plus = (len(left), len(left) + len(trna))
    minus = (plus[1] + len(middle), plus[1] + len(middle) + len(trna))
    calls = tiny_caller.record_genes("x", seq.encode(), 11)
    trnas = [g for g in calls if g.biotype == "tRNA"]

    def overlapping(span, strand):
        half = 0.5 * (span[1] - span[0])
        return [g for g in trnas if g.strand == strand and min(g.end, span[1]) - max(g.start, span[0]) >= half]

    assert len(overlapping(minus, "-")) == 1 and not overlapping(minus, "+")
    assert len(overlapping(plus, "+")) == 1 and not overlapping(plus, "-")
    assert all(g.product.startswith("tRNA-") for g in trnas)  # the amino acid: measured on real genomes


def test_strand_swap_and_runs():
    assert strand_swap(("tRNA",)) == [0, 2, 1, 4, 3]
    mask = np.array([0, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1], bool)
    assert runs(mask, max_gap=1, min_length=3) == [(1, 7)]
    assert runs(mask, max_gap=0, min_length=3) == [(4, 7)]


def test_bundle_round_trip_weights_only(tiny_caller, tmp_path):
    path = tmp_path / "rna_caller.pt"
    save_bundle(path, RNACallerBundle(TINY, tiny_caller.net.state_dict(), {"threshold": np.float32(0.5)}))
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert raw["kind"] == "rna_caller" and raw["recipe"] == {"threshold": 0.5}
    again = RNACaller.load(path)
    x = torch.from_numpy(encode_bases(b"ACGT" * 64).astype(np.int64))[None]
    with torch.inference_mode():
        assert torch.equal(again.net(x), tiny_caller.net(x))
    (tmp_path / "bad.pt").write_bytes(b"not a torch file")
    from genolong.errors import GenolongError

    with pytest.raises(GenolongError, match="not a readable RNA-caller file"):
        load_bundle(tmp_path / "bad.pt")


def test_fit_rna_cli_on_the_chloroplast(data_dir, tmp_path, capsys):
    out, summary = tmp_path / "rna_caller.pt", tmp_path / "fit.json"
    rc = main(["fit-rna", "--out", str(out), "--genome", str(data_dir / "NC_000932.gb"), "--epochs", "1",
               "--windows-per-epoch", "8", "--window", "2048", "--threads", "1", "--summary", str(summary),
               "--no-progress"])
    assert rc == 0 and out.exists()
    report = json.loads(summary.read_text())
    assert report["n_train_genes"] > 20 and report["best_epoch"] == 1  # the chloroplast's tRNAs and rRNAs
    assert RNACaller.load(out).net.cfg.classes[0] == "other"
    # a genome without RNA features is the user's mistake: one line, exit 2
    assert main(["fit-rna", "--out", str(tmp_path / "x.pt"), "--genome", str(data_dir / "NC_005816.gb")]) == 2
    assert "no tRNA, tmRNA or rRNA feature" in capsys.readouterr().err


def test_annotate_rna_network_writes_valid_features(tiny_caller, trna, tmp_path):
    import gffutils

    rng = np.random.default_rng(2)
    left, right = _random(rng, 1500), _random(rng, 1500)
    path = fasta_from({"planted": (left + reverse_complement(trna) + right).encode()}, tmp_path / "planted.fa")
    go = LabelVocab("go", "multilabel", ["genic", "GO:0005524"], {"GO:0005524": "ATP binding"})
    ann = OracleAnnotator([],
                          two_head_net(len(go.classes)), KmerTokenizer(6), go, window=256, progress=False,
                          structure_labels=LabelVocab("structure", "single", STRUCTURE), transl_table=11,
                          rna="auto", rna_caller=tiny_caller)
    assert ann.rna == "network"  # auto takes the caller when there is one
    paths = ann.annotate(path).write(tmp_path / "pred")
    db = gffutils.create_db(str(paths["gff3"]), ":memory:", merge_strategy="error")
    trnas = list(db.features_of_type("tRNA"))
    span = (len(left), len(left) + len(trna))
    hits = [f for f in trnas if min(f.end, span[1]) - max(f.start - 1, span[0]) >= 0.5 * len(trna)]
    assert [f.strand for f in hits] == ["-"]
    for f in trnas:
        assert f.attributes["product"][0].startswith("tRNA-")
        assert f.attributes["inference"][0].startswith("COORDINATES:ab initio prediction:genolong-rna:")
        assert db[f.attributes["Parent"][0]].attributes["gene_biotype"] == ["tRNA"]
    run = subprocess.run(["gt", "gff3validator", "-typecheck", "so", str(paths["gff3"])],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_annotate_refuses_a_caller_it_would_not_use(data_dir, tmp_path, capsys):
    caller = tmp_path / "rna_caller.pt"
    caller.write_bytes(b"x")
    argv = ["annotate", "--checkpoint", str(data_dir / "checkpoint_c5387f4_longformer.ckpt"), "--genome",
            str(data_dir / "NC_005816.gb"), "--out", str(tmp_path / "pred"), "--rna-caller", str(caller)]
    assert main(argv + ["--rna", "aragorn"]) == 2
    assert "only with --rna auto or network" in capsys.readouterr().err
    assert main(argv + ["--rna", "network"]) == 2
    assert "not a readable RNA-caller file" in capsys.readouterr().err
    assert not list(tmp_path.glob("pred*"))
