"""Gene-function metrics: CAFA Fmax and Smin per GO namespace, and product-name agreement.

GO metrics follow CAFA (Radivojac et al. 2013, Nature Methods 10:221; Clark & Radivojac 2013):
- Protein-centric, "full" mode, per namespace (MF, BP, CC): the genes evaluated are those with at
  least one true term among the namespace's `terms` columns; terms outside `terms` do not count.
  At each threshold t, precision is averaged over the evaluated genes with at least one term
  scored >= t, recall over all evaluated genes; Fmax is the best 2PR / (P + R).
- Smin: at each threshold, remaining uncertainty (the information content of true terms not
  predicted) and misinformation (that of predicted terms not true), each averaged over the
  evaluated genes; Smin is the smallest sqrt(ru^2 + mi^2).
True sets and scores are expected already propagated (`GeneOntology.propagate`,
`GeneOntology.propagate_scores`), so a prediction of a term implies its ancestors.

Product names: a reference gene's `/product` and the called one agree when they are equal after
`normalise_product` (case, punctuation and spacing ignored); only named reference products count.
"""

from __future__ import annotations

import re
from typing import Iterable, Sequence

import numpy as np

from genolong.data.labels import is_named_product
from genolong.data.ontology import NAMESPACE_CODES
from genolong.evaluate.metrics import FMAX_THRESHOLDS, cafa_fmax

BANDS = ("≥90%", "50-90%", "30-50%", "<30% or no hit")
NAMESPACES = tuple(NAMESPACE_CODES.values())


def identity_band(identity: float | None) -> str:
    """The band of a homology hit's identity (a fraction in [0, 1]); None means no hit."""
    if identity is None:
        return BANDS[3]
    if not 0.0 <= identity <= 1.0:
        raise ValueError(f"identity {identity!r} is not a fraction in [0, 1]")
    if identity >= 0.9:
        return BANDS[0]
    if identity >= 0.5:
        return BANDS[1]
    if identity >= 0.3:
        return BANDS[2]
    return BANDS[3]


def _by_namespace(true: Sequence[set[str]], scores: np.ndarray, terms: Sequence[str], ontology):
    """Per namespace: (y, p, columns), restricted to its `terms` columns and the genes with a true term there."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (len(true), len(terms)):
        raise ValueError(f"scores of shape {scores.shape}, expected ({len(true)}, {len(terms)})")
    column = {t: j for j, t in enumerate(terms)}
    y_all = np.zeros(scores.shape, dtype=bool)
    for g, genes in enumerate(true):
        y_all[g, [column[t] for t in genes if t in column]] = True
    for ns in NAMESPACES:
        cols = [j for j, t in enumerate(terms) if ontology.namespace(t) == ns]
        y = y_all[:, cols]
        keep = y.any(axis=1)
        yield ns, y[keep], scores[keep][:, cols], cols


def namespace_fmax(true: Sequence[set[str]], scores: np.ndarray, terms: Sequence[str], ontology) -> dict:
    """{namespace: {fmax, threshold, precision, recall, n_genes}}; fmax None when no gene is evaluated."""
    return {ns: cafa_fmax(y, p) for ns, y, p, _ in _by_namespace(true, scores, terms, ontology)}


def namespace_smin(true: Sequence[set[str]], scores: np.ndarray, terms: Sequence[str], ontology,
                   ic: dict[str, float]) -> dict:
    """{namespace: {smin, threshold, remaining_uncertainty, misinformation, n_genes}}.

    `ic` is the information content per term (`GeneOntology.information_content` of the training
    annotations); a term it lacks weighs 0. smin is None when no gene is evaluated.
    """
    out = {}
    for ns, y, p, cols in _by_namespace(true, scores, terms, ontology):
        best = {"smin": None, "threshold": None, "remaining_uncertainty": None, "misinformation": None,
                "n_genes": int(y.shape[0])}
        if y.shape[0]:
            weight = np.array([ic.get(terms[j], 0.0) for j in cols], dtype=np.float64)
            for t in FMAX_THRESHOLDS:
                pred = p >= t
                ru = float(((y & ~pred) @ weight).mean())
                mi = float(((pred & ~y) @ weight).mean())
                s = float(np.hypot(ru, mi))
                if best["smin"] is None or s < best["smin"]:
                    best.update(smin=s, threshold=float(t), remaining_uncertainty=ru, misinformation=mi)
        out[ns] = best
    return out


_PUNCTUATION = re.compile(r"[\W_]+")


def normalise_product(name: str) -> str:
    """Case-folded, punctuation as spaces, spaces collapsed: 'DNA-binding  protein HU.' -> 'dna binding protein hu'."""
    return " ".join(_PUNCTUATION.sub(" ", name.casefold()).split())


def is_named(product: str) -> bool:
    """False for an empty or unknown-function product ('hypothetical protein', 'Uncharacterized protein', ...).

    The unknown-function rule is the `product` label scheme's (`genolong/data/labels.py`).
    """
    return is_named_product(normalise_product(product))


def product_agreement(pairs: Iterable[tuple[str, str]]) -> dict:
    """(reference product, called product) pairs of matched genes -> share of named references whose
    called product is the same name: {agreement, n}; agreement None when n is 0."""
    same = [normalise_product(ref) == normalise_product(called) for ref, called in pairs if is_named(ref)]
    return {"agreement": float(np.mean(same)) if same else None, "n": len(same)}


def coverage(products: Iterable[str], class_labels: Iterable[str] = ()) -> dict:
    """Share of called CDS products that are a real name: named, and not just a function class
    label (e.g. 'transporter' from a class-level call): {coverage, n}; coverage None when n is 0."""
    bare = {normalise_product(c) for c in class_labels}
    named = [is_named(p) and normalise_product(p) not in bare for p in products]
    return {"coverage": float(np.mean(named)) if named else None, "n": len(named)}
