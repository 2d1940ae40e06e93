"""Metrics on small hand-made cases, checked against direct scikit-learn calls and by hand."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score, matthews_corrcoef, precision_score, recall_score

from genolong.evaluate.metrics import (
    UNKNOWN,
    Interval,
    cafa_fmax,
    match_segments,
    multilabel_token_metrics,
    reciprocal_overlap,
    segment_metrics,
    single_label_metrics,
)

CLASSES = ["intergenic", "protein_coding", "tRNA"]


def test_single_label_matches_sklearn():
    y = np.array([0, 0, 1, 1, 1, 2, 0, 1])
    probs = np.array([[.8, .1, .1], [.3, .6, .1], [.2, .7, .1], [.1, .8, .1],
                      [.5, .4, .1], [.2, .2, .6], [.9, .05, .05], [.3, .3, .4]])
    pred = probs.argmax(1)
    m = single_label_metrics(y, probs, CLASSES)
    assert m["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro"))
    assert m["mcc"] == pytest.approx(matthews_corrcoef(y, pred))
    assert m["accuracy"] == pytest.approx(np.mean(y == pred))
    for i, c in enumerate(CLASSES):
        assert m["average_precision"][c] == pytest.approx(average_precision_score(y == i, probs[:, i]))
    assert np.array(m["confusion_matrix"]).sum() == len(y)
    assert m["confusion_matrix"][1][0] == 1  # the one protein_coding token called intergenic


def test_absent_class_has_no_average_precision():
    y = np.array([0, 1, 0, 1])
    probs = np.array([[.9, .1, 0], [.2, .8, 0], [.6, .4, 0], [.4, .6, 0]])
    m = single_label_metrics(y, probs, CLASSES)
    assert m["average_precision"]["tRNA"] is None
    assert m["macro_f1"] == pytest.approx(1.0)


def test_multilabel_masks_unknown_rows():
    targets = np.array([[0, 0, 0], [1, 1, 0], [1, 0, 1], [1, UNKNOWN, UNKNOWN], [1, 1, 1]], dtype=np.uint8)
    probs = np.array([[.1, .1, .2], [.9, .8, .3], [.7, .4, .6], [.2, .99, .99], [.6, .7, .2]])
    m = multilabel_token_metrics(targets, probs, ["genic", "GO:1", "GO:2"])
    known = [0, 1, 2, 4]
    y, p = targets[known, 1:].astype(int), probs[known, 1:]
    assert m["n_known"] == 4
    assert m["micro_auprc"] == pytest.approx(average_precision_score(y, p, average="micro"))
    assert m["macro_auprc"] == pytest.approx(average_precision_score(y, p, average="macro"))
    # the UNKNOWN row still counts for the genic bit (and is a false negative there)
    assert m["genic_f1"] == pytest.approx(f1_score(targets[:, 0], probs[:, 0] >= 0.5))


def test_cafa_fmax_against_per_gene_sklearn():
    y = np.array([[1, 0, 1, 0], [0, 1, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0]])
    p = np.array([[.9, .2, .6, .1], [.3, .4, .1, .2], [.8, .7, .3, .5], [.9, .9, .9, .9]])
    got = cafa_fmax(y, p)
    best = 0.0
    for t in np.round(np.arange(0.01, 1.0, 0.01), 2):
        rows = [i for i in range(3)]  # gene 3 has no GO annotation: excluded
        pred = (p >= t).astype(int)
        covered = [i for i in rows if pred[i].any()]
        if not covered:
            continue
        prec = np.mean([precision_score(y[i], pred[i], zero_division=0) for i in covered])
        rec = np.mean([recall_score(y[i], pred[i], zero_division=0) for i in rows])
        best = max(best, 0 if prec + rec == 0 else 2 * prec * rec / (prec + rec))
    assert got["n_genes"] == 3
    assert got["fmax"] == pytest.approx(best)


def test_reciprocal_overlap_threshold():
    a = Interval("c", 0, 100, "+")
    assert reciprocal_overlap(a, Interval("c", 50, 150, "+")) == pytest.approx(0.5)
    assert reciprocal_overlap(a, Interval("c", 0, 201, "+")) < 0.5  # covers a, but < half of b
    assert reciprocal_overlap(a, Interval("c", 100, 200, "+")) == 0.0


def test_segment_matching_one_to_one_strand_and_biotype():
    ref = [Interval("c", 0, 100, "+", "protein_coding"), Interval("c", 200, 300, "-", "protein_coding"),
           Interval("c", 400, 480, "+", "tRNA"), Interval("d", 0, 100, "+", "protein_coding")]
    pred = [Interval("c", 10, 105, "+", "protein_coding"),  # matches ref 0
            Interval("c", 5, 100, "+", "protein_coding"),   # second claim on ref 0: unmatched
            Interval("c", 200, 300, "+", "protein_coding"),  # wrong strand
            Interval("c", 405, 480, "+", "protein_coding"),  # right place, wrong biotype
            Interval("d", 0, 100, ".", "protein_coding")]   # unknown strand matches
    pairs = match_segments(pred, ref)
    assert sorted(j for _, j in pairs) == [0, 2, 3]
    m = segment_metrics(pred, ref)
    assert m["overall"]["n_matched"] == 3
    assert m["overall"]["precision"] == pytest.approx(3 / 5)
    assert m["overall"]["recall"] == pytest.approx(3 / 4)
    pc = m["by_biotype"]["protein_coding"]
    assert (pc["n_pred"], pc["n_ref"], pc["n_matched"]) == (5, 3, 2)
    trna = m["by_biotype"]["tRNA"]  # no prediction carries tRNA: recall from the overall matching
    assert trna["precision"] is None and trna["recall"] == pytest.approx(1.0)
