"""The GO graph: alt ids, is_a + part_of ancestors, the true-path rule, depth order, information content.

Most tests use the hand-made diamond of tests/conftest.py (A <- B, A <- C, B <- D -> C); one reads the
embedded GO release in data/.
"""

from __future__ import annotations

import gzip
import math

import numpy as np
import pytest

from genolong.data import ontology
from genolong.data.ontology import DEFAULT_OBO, ROOTS, GeneOntology, term_vocabulary
from genolong.errors import GenolongError

A, B, C, D, D2, R, M, N, O = ("GO:0000010", "GO:0000020", "GO:0000030", "GO:0000040", "GO:0000041",
                              "GO:0000050", "GO:0000060", "GO:0009999", "GO:0000099")
BP_ROOT, MF_ROOT = "GO:0008150", "GO:0003674"


@pytest.fixture(scope="module")
def go(diamond_obo) -> GeneOntology:
    return GeneOntology.read(diamond_obo)


def test_terms_alt_ids_and_obsolete(go):
    assert len(go) == 9  # the obsolete term is left out
    assert go.primary(D) == D and go.primary(D2) == D
    assert go.primary(O) is None and go.primary("GO:1234567") is None
    assert D2 in go and O not in go and "GO:1234567" not in go
    assert go.name(D2) == "term d" and go.name(O) == ""
    assert go.namespace(D2) == "BP" and go.namespace(M) == "MF" and go.namespace(MF_ROOT) == "MF"
    assert go.namespace(O) is None


def test_ancestors_follow_is_a_and_part_of_not_regulates(go):
    assert go.ancestors(D) == {A, B, C}
    assert go.ancestors(D2) == {A, B, C}
    assert go.ancestors(C) == {A}  # part_of only
    assert go.ancestors(R) == frozenset()  # regulates D: D is no ancestor; the root is left out
    assert go.ancestors(A) == frozenset() and go.ancestors(O) == frozenset()


def test_propagate_maps_alt_ids_drops_unknown_and_roots(go):
    assert go.propagate({D2, O, "GO:1234567"}) == {A, B, C, D}
    assert go.propagate({C, M, BP_ROOT}) == {A, C, M}
    assert go.propagate(set()) == set()
    assert go.propagate({D}) == go.propagate(go.propagate({D}))


def test_closure(go):
    terms = [A, B, C, D, BP_ROOT]
    expected = np.array([
        # A  B  C  D  root
        [1, 0, 0, 0, 1],  # A
        [1, 1, 0, 0, 1],  # B
        [1, 0, 1, 0, 1],  # C
        [1, 1, 1, 1, 1],  # D
        [0, 0, 0, 0, 1],  # root
    ], dtype=bool)
    np.testing.assert_array_equal(go.closure(terms), expected)
    # an alt id column stands for its primary term
    np.testing.assert_array_equal(go.closure([D, D2]), np.ones((2, 2), bool))


def test_propagate_scores_parent_at_least_best_child(go, monkeypatch):
    terms = [A, B, C, D]
    scores = np.array([
        [0.1, 0.2, 0.3, 0.9],
        [0.5, 0.1, 0.4, 0.0],
        [0.0, 0.7, 0.2, 0.1],
    ])
    expected = np.array([
        [0.9, 0.9, 0.9, 0.9],
        [0.5, 0.1, 0.4, 0.0],
        [0.7, 0.7, 0.2, 0.1],
    ])
    np.testing.assert_array_equal(go.propagate_scores(scores, terms), expected)

    rng = np.random.default_rng(0)
    terms = [D, R, C, M, A, B]
    scores = rng.random((50, len(terms))).astype(np.float32)
    closure = go.closure(terms)
    brute = np.stack([scores[:, closure[:, j]].max(axis=1) for j in range(len(terms))], axis=1)
    out = go.propagate_scores(scores, terms)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, brute)
    monkeypatch.setattr(ontology, "_GATHER_ELEMENTS", 7)  # many row blocks: same result
    np.testing.assert_array_equal(go.propagate_scores(scores, terms), brute)
    with pytest.raises(ValueError):
        go.propagate_scores(scores[:, :3], terms)


def test_specific_first(go):
    order = go.specific_first([A, R, C, BP_ROOT, B, D])
    assert order == [D, B, C, A, R, BP_ROOT]
    assert [go.depth(t) for t in order] == [3, 2, 2, 1, 1, 0]
    # N is a child of the root with a later id: depth, not the id, puts it first
    assert go.specific_first([MF_ROOT, N]) == [N, MF_ROOT]


def test_information_content_by_hand(go):
    # Propagated: g0 {A,B,C,D} (given as the alt id), g1 {A,B}, g2 {A,C}, g3 {A}, g4 {M}, g5 {A,B,C}.
    genes = [{D2}, {B}, {C}, {A}, {M}, {B, C}, {O}]
    ic = go.information_content(genes)
    assert set(ic) == {A, B, C, D, M}  # roots, unseen, obsolete terms left out
    assert ic[A] == 0.0  # every gene with a BP term has A
    assert ic[B] == pytest.approx(-math.log2(3 / 5)) and ic[C] == pytest.approx(-math.log2(3 / 5))
    assert ic[D] == pytest.approx(1.0)  # 1 of the 2 genes with both B and C
    assert ic[M] == 0.0
    assert go.information_content([go.propagate(g) for g in genes]) == ic


def test_term_vocabulary(go):
    genes = [go.propagate(g) for g in [{D2}, {B}, {C}, {A}, {M}, {B, C}]]
    assert term_vocabulary(genes, min_genes=3) == [A, B, C]
    assert term_vocabulary(genes, min_genes=1) == [A, B, C, D, M]
    assert term_vocabulary(genes) == [A]


def test_read_gzip_cache_and_errors(diamond_obo, tmp_path):
    gz = tmp_path / "diamond.obo.gz"
    gz.write_bytes(gzip.compress(diamond_obo.read_bytes()))
    go = GeneOntology.read(gz)
    assert go.ancestors(D2) == {A, B, C}
    assert GeneOntology.read(gz) is go
    with pytest.raises(GenolongError, match="missing.obo"):
        GeneOntology.read(tmp_path / "missing.obo")
    bad = tmp_path / "bad.obo"
    bad.write_text("this is\nnot an ontology\n")
    with pytest.raises(GenolongError, match="bad.obo"):
        GeneOntology.read(bad)
    truncated = tmp_path / "truncated.obo.gz"
    truncated.write_bytes(gz.read_bytes()[:40])
    with pytest.raises(GenolongError, match="truncated.obo.gz"):
        GeneOntology.read(truncated)


def test_the_embedded_release():
    go = GeneOntology.read()
    assert go.source == str(DEFAULT_OBO) and len(go) == 43558  # data/README.md
    translation = "GO:0006412"
    assert go.name(translation) == "translation" and go.namespace(translation) == "BP"
    anc = go.ancestors(translation)
    # biosynthetic process, peptide biosynthetic process, gene expression, protein metabolic process
    assert {"GO:0009058", "GO:0043043", "GO:0010467", "GO:0019538"} <= anc
    assert not anc & ROOTS
    assert {go.namespace(t) for t in anc} == {"BP"}
    assert go.namespace("GO:0005524") == "MF" and go.namespace("GO:0016020") == "CC"
    assert go.primary("GO:0019952") == "GO:0000003"  # an alt id of reproduction
    order = go.specific_first(anc | {translation})
    assert order[0] == translation
    assert all(order.index(t) > order.index(child) for child in order for t in go.ancestors(child))
