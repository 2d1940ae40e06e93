"""CAFA's protein-centric Fmax, shared by evaluation (`evaluate/metrics.py`) and by the choice of
the per-gene function head's best epoch (`training/gene_function.py`), which may not import
`evaluate/`."""

from __future__ import annotations

from typing import Iterable

import numpy as np

FMAX_THRESHOLDS = np.round(np.arange(0.01, 1.0, 0.01), 2)


def cafa_fmax(targets: np.ndarray, probs: np.ndarray, thresholds: Iterable[float] = FMAX_THRESHOLDS) -> dict:
    """Protein-centric Fmax over genes (rows) with at least one true term."""
    y = np.asarray(targets).astype(bool)
    p = np.asarray(probs, dtype=np.float64)
    annotated = y.any(axis=1)
    y, p = y[annotated], p[annotated]
    best = {"fmax": None, "threshold": None, "precision": None, "recall": None, "n_genes": int(y.shape[0])}
    if y.shape[0] == 0:
        return best
    for t in thresholds:
        pred = p >= t
        covered = pred.any(axis=1)
        if not covered.any():
            continue
        tp = (pred & y).sum(axis=1)
        precision = float(np.mean(tp[covered] / pred[covered].sum(axis=1)))
        recall = float(np.mean(tp / y.sum(axis=1)))
        f = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
        if best["fmax"] is None or f > best["fmax"]:
            best.update(fmax=f, threshold=float(t), precision=precision, recall=recall)
    return best
