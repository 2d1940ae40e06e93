"""CAFA Fmax / Smin per namespace, worked out by hand on the diamond GO of tests/conftest.py,
and the product-name metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from genolong.data.labels import PRODUCT_CLASSES
from genolong.data.ontology import GeneOntology
from genolong.evaluate.function_metrics import (
    BANDS,
    coverage,
    identity_band,
    is_named,
    namespace_fmax,
    namespace_smin,
    normalise_product,
    product_agreement,
)

A, B, C, D, M = "GO:0000010", "GO:0000020", "GO:0000030", "GO:0000040", "GO:0000060"
TERMS = [A, B, C, D, M]
# Biological process: g0 has A, B (and a term outside TERMS, which does not count); g1 has A, C.
# Molecular function: only g2 (M). g3 has no term at all, so it is evaluated nowhere.
TRUE = [{A, B, "GO:0000099"}, {A, C}, {M}, set()]
SCORES = np.array([
    # A    B    C    D    M
    [0.9, 0.6, 0.4, 0.2, 0.5],
    [0.8, 0.3, 0.3, 0.1, 0.5],
    [0.9, 0.9, 0.9, 0.9, 0.7],
    [0.9, 0.9, 0.9, 0.9, 0.9],
])


@pytest.fixture(scope="module")
def go(diamond_obo) -> GeneOntology:
    return GeneOntology.read(diamond_obo)


def test_fmax_perfect_scores(go):
    scores = np.array([[float(t in genes) for t in TERMS] for genes in TRUE])
    out = namespace_fmax(TRUE, scores, TERMS, go)
    assert out["BP"]["fmax"] == 1.0 and out["BP"]["n_genes"] == 2
    assert out["MF"]["fmax"] == 1.0 and out["MF"]["n_genes"] == 1
    assert out["CC"] == {"fmax": None, "threshold": None, "precision": None, "recall": None, "n_genes": 0}


def test_fmax_by_hand(go):
    out = namespace_fmax(TRUE, SCORES, TERMS, go)
    # BP, threshold in (0.4, 0.6]: g0 predicts {A, B} (P 1, R 1), g1 predicts {A} (P 1, R 1/2):
    # P = 1, R = 3/4, F = 6/7, the best over all thresholds (e.g. (0.3, 0.4]: P 5/6, R 3/4, F 0.789;
    # (0.2, 0.3]: P 2/3, R 1, F 0.8).
    bp = out["BP"]
    assert bp["fmax"] == pytest.approx(6 / 7)
    assert bp["threshold"] == pytest.approx(0.41)
    assert (bp["precision"], bp["recall"], bp["n_genes"]) == (pytest.approx(1.0), pytest.approx(0.75), 2)
    # MF: only g2 counts (g0 and g1 score M 0.5 but have no MF term).
    assert out["MF"]["fmax"] == 1.0 and out["MF"]["n_genes"] == 1


def test_smin_by_hand(go):
    ic = {A: 0.0, B: 1.0, C: 2.0, D: 3.0}  # M absent: weighs 0
    out = namespace_smin(TRUE, SCORES, TERMS, go, ic)
    # BP, threshold in (0.4, 0.6]: g0 misses nothing; g1 misses C (ru 2); nothing wrong predicted:
    # ru = 1, mi = 0, S = 1. Elsewhere S >= 1.41 ((0.3, 0.4]: ru 1, mi 1) or 1.5 (t > 0.6: ru 1.5).
    bp = out["BP"]
    assert bp["smin"] == pytest.approx(1.0) and bp["threshold"] == pytest.approx(0.41)
    assert bp["remaining_uncertainty"] == pytest.approx(1.0) and bp["misinformation"] == 0.0
    assert bp["n_genes"] == 2
    assert out["MF"]["smin"] == 0.0 and out["MF"]["n_genes"] == 1
    assert out["CC"]["smin"] is None and out["CC"]["n_genes"] == 0

    # All scores 1: every BP term predicted at every threshold; g0 wrongly has C, D (mi 5),
    # g1 wrongly has B, D (mi 4): S = 4.5.
    flat = namespace_smin(TRUE, np.ones_like(SCORES), TERMS, go, ic)["BP"]
    assert flat["smin"] == pytest.approx(4.5) and flat["remaining_uncertainty"] == 0.0


def test_smin_with_ic_from_the_ontology(go):
    ic = go.information_content([go.propagate(t) for t in TRUE])
    # BP annotations {A, B}, {A, C}: IA(A) = 0, IA(B) = IA(C) = 1.
    assert ic == {A: 0.0, B: 1.0, C: 1.0, M: 0.0}
    bp = namespace_smin(TRUE, SCORES, TERMS, go, ic)["BP"]
    # (0.4, 0.6]: only g1's C missed: ru = 1/2; (0.2, 0.3]: g0 C, g1 B wrongly predicted: mi = 1.
    assert bp["smin"] == pytest.approx(0.5)


def test_shape_mismatch_raises(go):
    with pytest.raises(ValueError):
        namespace_fmax(TRUE, SCORES[:, :4], TERMS, go)


def test_identity_band_edges():
    assert identity_band(1.0) == identity_band(0.9) == "≥90%"
    assert identity_band(0.8999) == identity_band(0.5) == "50-90%"
    assert identity_band(0.4999) == identity_band(0.3) == "30-50%"
    assert identity_band(0.2999) == identity_band(0.0) == identity_band(None) == "<30% or no hit"
    assert set(map(identity_band, (0.95, 0.6, 0.35, None))) == set(BANDS)
    with pytest.raises(ValueError):
        identity_band(90.0)  # a percentage, not a fraction


def test_normalise_and_named():
    assert normalise_product("  Chaperone-protein  DnaK; (Hsp70) ") == "chaperone protein dnak hsp70"
    assert normalise_product("DNA-directed RNA polymerase subunit beta'") == "dna directed rna polymerase subunit beta"
    for unknown in ("", "   ", "hypothetical protein", "HYPOTHETICAL PROTEIN", "Uncharacterized protein.",
                    "putative uncharacterised protein", "Putative uncharacterized protein MG123"):
        assert not is_named(unknown), unknown
    for named in ("putative transporter", "DUF31 family protein", "50S ribosomal protein L2"):
        assert is_named(named), named


def test_product_agreement():
    pairs = [
        ("DNA-binding protein HU", "dna binding protein  HU."),  # same name
        ("50S ribosomal protein L2", "30S ribosomal protein S2"),  # different
        ("hypothetical protein", "anything"),  # unnamed reference: not counted
        ("", "elongation factor Tu"),
    ]
    assert product_agreement(pairs) == {"agreement": 0.5, "n": 2}
    assert product_agreement([("hypothetical protein", "x")]) == {"agreement": None, "n": 0}


def test_coverage():
    classes = [name for name, _ in PRODUCT_CLASSES] + ["other"]
    products = ["DNA polymerase III subunit alpha", "hypothetical protein", "Transporter",
                "ribosomal protein", "regulator/transcription", ""]
    out = coverage(products, classes)
    assert out == {"coverage": pytest.approx(1 / 6), "n": 6}
    assert coverage(products)["coverage"] == pytest.approx(4 / 6)  # class names count when no classes given
    assert coverage([]) == {"coverage": None, "n": 0}
    assert math.isclose(coverage(["elongation factor Tu"] * 3)["coverage"], 1.0)
