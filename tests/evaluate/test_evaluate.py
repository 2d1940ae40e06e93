"""`genolong evaluate` on real genomes: numbers cross-checked against targets painted by
`genolong prepare` and direct scikit-learn calls; baselines, plots, report, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import f1_score, matthews_corrcoef

from genolong.annotate import Annotator
from genolong.annotate.probs import load_probs
from genolong.cli import main
from genolong.data.labels import LabelVocab
from genolong.data.store import TokenStore
from genolong.data.tokenizer import KmerTokenizer

from .helpers import LocalNet

RECORDS = ["NZ_LAEX01000004.1", "NZ_LAEX01000005.1"]  # 41.6 kbp + 34.9 kbp of Afade


def _predict(vocab: LabelVocab, data_dir, prefix, seed=0):
    net = LocalNet(4101, vocab.n_outputs, radius=3, seed=seed)
    ann = Annotator(net, KmerTokenizer(6), vocab, window=256, batch_size=16, min_length=30, p_switch=0.05,
                    progress=False)
    result = ann.annotate(data_dir / "mycoides_Afade.fna.gz", reference=data_dir / "mycoides_Afade.gff3.gz",
                          seqids=RECORDS)
    result.write(prefix)
    return result


@pytest.fixture(scope="module")
def afade_painted(tmp_path_factory, data_dir):
    """Afade targets painted by `genolong prepare` (biotype and GO), the independent truth."""
    root = tmp_path_factory.mktemp("painted")
    for scheme in ("biotype", "go"):
        assert main(["prepare", "--genome", str(data_dir / "mycoides_Afade.fna.gz"), "--annotation",
                     str(data_dir / "mycoides_Afade.gff3.gz"), "--labels", scheme, "--out", str(root / scheme),
                     "--split", "records:val=NZ_LAEX01000004.1;test=NZ_LAEX01000005.1", "--allow-leak"]) == 0
    return root


def test_biotype_evaluation_matches_sklearn_and_has_baselines(biotype_store, afade_painted, data_dir, tmp_path):
    vocab = TokenStore(biotype_store).labels
    prefix = tmp_path / "pred" / "afade"
    _predict(vocab, data_dir, prefix)
    base = tmp_path / "base.json"
    assert main(["baseline", "--store", str(biotype_store), "--out", str(base)]) == 0
    log = tmp_path / "metrics.csv"
    log.write_text("epoch,step,train/loss,val/loss,val/macro_f1\n0,9,1.2,,\n0,19,0.9,,\n0,19,,0.95,0.30\n"
                   "1,29,0.7,,\n1,39,,0.80,0.41\n")
    out = tmp_path / "eval"
    assert main(["evaluate", "--pred", str(prefix), "--reference", str(data_dir / "mycoides_Afade.gff3.gz"),
                 "--genome", str(data_dir / "mycoides_Afade.fna.gz"), "--baseline", str(base),
                 "--train-log", str(log), "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())

    painted = TokenStore(afade_painted / "biotype")
    probs = load_probs(f"{prefix}.probs.npz")
    to_model = {i: vocab.classes.index(c) if c in vocab.classes else -1 for i, c in enumerate(painted.labels.classes)}
    y, p = [], []
    for s in RECORDS:
        t = np.asarray(painted.targets(s)).astype(int)
        keep = (t != 255)
        mapped = np.array([to_model[v] for v in t[keep]])
        ok = mapped >= 0
        y.append(mapped[ok])
        p.append(probs.probs[s].astype(np.float32)[keep][ok])
    y, pred = np.concatenate(y), np.concatenate(p).argmax(1)
    tok = m["model"]["token"]
    assert tok["n"] == y.size
    assert tok["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro", zero_division=0), abs=1e-6)
    assert tok["mcc"] == pytest.approx(matthews_corrcoef(y, pred), abs=1e-6)

    from genolong.evaluate import prodigal

    have_prodigal = prodigal.available()  # an optional extra; `make test` installs it
    assert set(m["baselines"]) >= {"majority", "kmer_logreg"} | ({"pyrodigal"} if have_prodigal else set())
    majority = m["baselines"]["majority"]["token"]
    assert majority["accuracy"] == pytest.approx(np.mean(y == vocab.classes.index("protein_coding")), abs=1e-6)
    seg = m["model"]["segment"]["overall"]
    gff_genes = [l for l in prefix.with_suffix(".gff3").read_text().splitlines() if not l.startswith("#")]
    assert seg["n_pred"] == len(gff_genes) and seg["n_ref"] == m["meta"]["n_reference_genes"]
    if have_prodigal:
        pyro = m["baselines"]["pyrodigal"]["segment"]["by_biotype"]["protein_coding"]
        assert pyro["f1"] > 0.8  # Prodigal finds bacterial CDS; a broken matcher would not see it
    assert m["model"]["gene"]["n"] == m["baselines"]["kmer_logreg"]["gene"]["n"] > 50

    for name in ("confusion_matrix", "pr_curves", "genome_track", "training_curves"):
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"({name}.png)" in (out / "report.md").read_text()
    report = (out / "report.md").read_text()
    assert "| genolong |" in report and "| kmer_logreg |" in report
    assert ("| pyrodigal |" in report) if have_prodigal else ("pyrodigal is not installed" in report)


def test_go_evaluation_genic_f1_and_fmax(go_store, afade_painted, data_dir, tmp_path):
    vocab = TokenStore(go_store).labels
    prefix = tmp_path / "go"
    _predict(vocab, data_dir, prefix, seed=1)
    out = tmp_path / "eval_go"
    assert main(["evaluate", "--pred", str(prefix), "--reference", str(data_dir / "mycoides_Afade.gff3.gz"),
                 "--out", str(out), "--prodigal", "off"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    painted = TokenStore(afade_painted / "go")
    probs = load_probs(f"{prefix}.probs.npz")
    genic = np.concatenate([np.asarray(painted.targets(s))[:, 0] for s in RECORDS])
    p_genic = np.concatenate([probs.probs[s][:, 0].astype(np.float32) for s in RECORDS])
    assert m["model"]["token"]["genic_f1"] == pytest.approx(f1_score(genic, p_genic >= 0.5), abs=1e-6)
    gene = m["model"]["gene"]
    assert gene["n_genes_with_go"] > 5 and 0.0 <= gene["fmax"] <= 1.0 and gene["micro_auprc"] is not None
    assert "term_prior" in m["baselines"] and m["baselines"]["term_prior"]["gene"]["fmax"] is not None
    assert any("--baseline" in n for n in m["meta"]["notes"])


def test_pyrodigal_absent_is_reported(biotype_store, data_dir, tmp_path, monkeypatch):
    import genolong.evaluate.prodigal as prodigal

    vocab = TokenStore(biotype_store).labels
    prefix = tmp_path / "p"
    _predict(vocab, data_dir, prefix)
    monkeypatch.setattr(prodigal, "available", lambda: False)
    out = tmp_path / "e"
    assert main(["evaluate", "--pred", str(prefix), "--reference", str(data_dir / "mycoides_Afade.gff3.gz"),
                 "--genome", str(data_dir / "mycoides_Afade.fna.gz"), "--out", str(out), "--no-plots"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert "pyrodigal" not in m["baselines"]
    assert "pyrodigal is not installed" in (out / "report.md").read_text()


def test_evaluate_bad_input(biotype_store, go_store, data_dir, tmp_path, capsys):
    vocab = TokenStore(biotype_store).labels
    prefix = tmp_path / "p"
    _predict(vocab, data_dir, prefix)
    capsys.readouterr()
    cases = [
        (["--pred", str(tmp_path / "missing"), "--reference", str(data_dir / "mycoides_Afade.gff3.gz")], "missing.probs.npz"),
        (["--pred", str(prefix), "--reference", str(data_dir / "D10483.gbk")], "D10483.gbk"),
    ]
    go_base = tmp_path / "go_base.json"
    assert main(["baseline", "--store", str(go_store), "--out", str(go_base)]) == 0
    cases.append((["--pred", str(prefix), "--reference", str(data_dir / "mycoides_Afade.gff3.gz"), "--genome",
                   str(data_dir / "mycoides_Afade.fna.gz"), "--baseline", str(go_base), "--prodigal", "off"],
                  "baseline model"))
    broken = tmp_path / "broken.probs.npz"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    cases.append((["--pred", str(tmp_path / "broken"), "--reference", str(data_dir / "D10483.gbk")], "broken.probs.npz"))
    for args, needle in cases:
        capsys.readouterr()
        out = tmp_path / "never"
        assert main(["evaluate", *args, "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0], err
        assert not (out / "metrics.json").exists()


def test_regions_restrict_every_metric(biotype_store, data_dir, tmp_path):
    from genolong.evaluate.evaluation import evaluate

    vocab = TokenStore(biotype_store).labels
    prefix = tmp_path / "p"
    _predict(vocab, data_dir, prefix)
    region = ("NZ_LAEX01000004.1", 1000, 21000)
    m = evaluate(prefix, data_dir / "mycoides_Afade.gff3.gz", tmp_path / "e", genome=data_dir / "mycoides_Afade.fna.gz",
                 plots=False, regions=[region])
    a, b = KmerTokenizer(6).token_range(region[1], region[2])
    assert m["meta"]["n_scored_tokens"] == b - a
    from genolong.data.annotation import read_annotation

    inside = [g for g in read_annotation(data_dir / "mycoides_Afade.gff3.gz")
              if g.seqid == region[0] and region[1] <= g.start and g.end <= region[2]]
    assert m["meta"]["n_reference_genes"] == len(inside) == m["model"]["segment"]["overall"]["n_ref"]
    if "pyrodigal" in m["baselines"]:
        assert m["baselines"]["pyrodigal"]["segment"]["overall"]["n_pred"] <= len(inside) + 5
    rows = [l.split("\t") for l in prefix.with_suffix(".gff3").read_text().splitlines() if not l.startswith("#")]
    overlapping = [r for r in rows if r[0] == region[0] and int(r[3]) - 1 < region[2] and region[1] < int(r[4])]
    assert m["model"]["segment"]["overall"]["n_pred"] == len(overlapping)  # clipped to the region, still counted
    assert "scored only inside 1 region" in (tmp_path / "e" / "report.md").read_text()


def test_plots_do_not_change_metrics_json(go_store, data_dir, tmp_path):
    """metrics.json is the scores alone: byte-identical with and without plots (GO: the genic
    confusion matrix used to be added by the plotting code)."""
    from genolong.evaluate.evaluation import evaluate

    pred, reference = tmp_path / "pred" / "afade", data_dir / "mycoides_Afade.gff3.gz"
    _predict(TokenStore(go_store).labels, data_dir, pred)
    with_plots = evaluate(pred, reference, tmp_path / "plots", prodigal="off", plots=True)
    without = evaluate(pred, reference, tmp_path / "none", prodigal="off", plots=False)
    assert with_plots["plots"] and not without["plots"]
    assert (tmp_path / "plots" / "metrics.json").read_bytes() == (tmp_path / "none" / "metrics.json").read_bytes()
    assert "genome_track.png" in (tmp_path / "plots" / "report.md").read_text()
