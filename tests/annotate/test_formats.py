"""Product names and GO terms of gene calls, under GO and single-label function vocabularies."""

from __future__ import annotations

import numpy as np

from genolong.annotate.formats import UNKNOWN_PRODUCT, go_terms, product
from genolong.annotate.genes import GeneCall

GO = {"scheme": "go", "kind": "multilabel", "classes": ["genic", "GO:0005524", "GO:0003735"],
      "descriptions": {"GO:0005524": "ATP binding", "GO:0003735": "structural constituent of ribosome"}}
PRODUCT = {"scheme": "product", "kind": "single", "classes": ["intergenic", "ribosomal protein", "other"]}


def call(label, probs, biotype="protein_coding"):
    return GeneCall("c", 0, 300, "+", "g1", "g1", biotype, label, 0.9, np.asarray(probs, dtype=np.float32))


def test_go_terms_and_product():
    g = call("GO:0005524", [0.9, 0.7, 0.2])
    assert go_terms(g, "multilabel", GO) == ["GO:0005524"]
    assert product(g, "multilabel", GO) == "protein with GO function: ATP binding"
    none = call("GO:0005524", [0.9, 0.3, 0.2])  # the best term, but below 0.5: not annotated
    assert go_terms(none, "multilabel", GO) == [] and product(none, "multilabel", GO) == UNKNOWN_PRODUCT
    assert go_terms(none, "multilabel", GO, threshold=0.25) == ["GO:0005524"]  # --go-threshold 0.25
    assert go_terms(call("tRNA", [0.9, 0.9, 0.9], "tRNA"), "multilabel", GO) == []
    assert product(call("tRNA", [0.9, 0.9, 0.9], "tRNA"), "multilabel", GO) == "tRNA"


def test_single_label_product():
    assert product(call("ribosomal protein", [0.1, 0.8, 0.1]), "single", PRODUCT) == "ribosomal protein"
    assert product(call("intergenic", [0.8, 0.1, 0.1]), "single", PRODUCT) == UNKNOWN_PRODUCT
    assert product(call("other", [0.1, 0.1, 0.8]), "single", PRODUCT) == "protein of another function class"
    assert go_terms(call("ribosomal protein", [0.1, 0.8, 0.1]), "single", PRODUCT) == []
