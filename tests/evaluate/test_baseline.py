"""The k-mer logistic-regression baseline: features by hand, predictions vs scikit-learn, a real store."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from genolong.evaluate.baseline import (
    fit_multilabel,
    fit_single,
    gene_tokens,
    kmer_features,
    load_baseline,
    predict_proba,
    train_baseline,
)
from genolong.cli import main
from genolong.data.tokenizer import KmerTokenizer


def test_kmer_features_by_hand():
    tok = KmerTokenizer(6)
    ids = tok.encode("ACGTACNNNNNNACGTAC")  # two real 6-mers and one [UNK]
    x = kmer_features([ids, ids[:0]], tok, 3)
    expected = np.zeros(64)
    for kmer in ("ACG", "CGT", "GTA", "TAC"):
        code = int("".join("ACGT".index(b).__str__() for b in kmer), 4)
        expected[code] = 0.25
    np.testing.assert_allclose(x[0], expected)
    assert x[1].sum() == 0
    with pytest.raises(Exception):
        kmer_features([ids], tok, 7)


def test_minus_strand_gene_reads_its_reverse_complement():
    tok = KmerTokenizer(3)
    seq = "AAACCCGGGTTT"
    tokens = tok.encode(seq)
    minus = gene_tokens(tokens, ((0, 12, "-"),), "-", tok)
    assert tok.decode(minus) == "AAACCCGGGTTT"[::-1].translate(str.maketrans("ACGT", "TGCA"))


def test_predictions_match_sklearn():
    rng = np.random.default_rng(0)
    x = rng.random((60, 16))
    for present in ([1, 3, 4], [2, 5]):
        y = rng.choice(present, size=60)
        coef, intercept = fit_single(x, y, 6, 1.0)
        model = {"coef": coef.tolist(), "intercept": intercept.tolist(), "labels": {"kind": "single"}}
        got = predict_proba(model, x)
        ref = LogisticRegression(C=1.0, max_iter=2000).fit(x, y).predict_proba(x)
        np.testing.assert_allclose(got[:, present], ref, atol=1e-6)
        assert got[:, [c for c in range(6) if c not in present]].max() < 1e-9
    y = (rng.random((60, 3)) < [0.3, 0.0, 0.5]).astype(int)
    coef, intercept = fit_multilabel(x, y, 1.0)
    got = predict_proba({"coef": coef.tolist(), "intercept": intercept.tolist(), "labels": {"kind": "multilabel"}}, x)
    ref0 = LogisticRegression(C=1.0, max_iter=2000).fit(x, y[:, 0]).predict_proba(x)[:, 1]
    np.testing.assert_allclose(got[:, 1], ref0, atol=1e-6)
    assert np.all(got[:, 2] < 1e-5) and np.all(got[:, 0] == 1.0)


def test_cli_trains_from_a_real_store(biotype_store, tmp_path, capsys):
    out = tmp_path / "base.json"
    assert main(["baseline", "--store", str(biotype_store), "--out", str(out), "--k", "2"]) == 0
    model = load_baseline(out)
    store_meta = json.loads((biotype_store / "meta.json").read_text())
    assert model["labels"] == store_meta["labels"] and model["k_sub"] == 2
    assert np.array(model["coef"]).shape == (len(model["labels"]["classes"]), 16)
    assert model["n_train_genes"] > 100
    assert sum(model["gene_prior"]) == pytest.approx(1.0) and sum(model["token_prior"]) == pytest.approx(1.0)
    assert direct_model_matches(biotype_store, model)


def direct_model_matches(store, model) -> bool:
    again = train_baseline(store, k_sub=2)
    return np.allclose(again["coef"], model["coef"]) and again["n_train_genes"] == model["n_train_genes"]


def test_bad_baseline_inputs(tmp_path, capsys):
    assert main(["baseline", "--store", str(tmp_path / "nope"), "--out", str(tmp_path / "b.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope" in err[0]
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": 1}')
    with pytest.raises(Exception, match="not a genolong baseline model"):
        load_baseline(bad)
