"""Token-, gene- and segment-level metrics, computed with scikit-learn.

Conventions:
- Single-label: macro-F1 averages over the classes present in the truth or the predictions
  (scikit-learn's default label set), so a class absent from a held-out region does not count
  as a zero; average precision is reported for each class present in the truth.
- Multilabel (GO): column 0 is the genic bit, the others terms. A row whose term targets are
  UNKNOWN (255: the covering gene has no GO term) is left out of the term metrics but counts
  for the genic F1. Term AUPRCs use only terms with at least one positive.
- CAFA Fmax (protein-centric): for each threshold t, precision is averaged over the genes with
  at least one term predicted at >= t, recall over all genes with GO annotation;
  Fmax = max_t 2PR / (P + R).
- Segments match at >= 50% reciprocal overlap on the same record and a compatible strand
  ("." matches either), one-to-one, greedily by overlap fraction. On a circular record the
  overlap is taken round the circle: a gene across the origin (its end past the record's length,
  `Interval.circle` the length) also overlaps what lies at the record's start.
- Protein-coding genes (`coding_metrics`): the same matching; among matched pairs, the stop is
  exact when the 3' ends agree (end on +, start on -) and the start when the 5' ends agree.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    f1_score,
    matthews_corrcoef,
)

from genolong.data.fmax import FMAX_THRESHOLDS, cafa_fmax  # noqa: F401  (evaluate's function metrics use both)
from genolong.data.labels import UNKNOWN



def _ap_or_none(y: np.ndarray, score: np.ndarray) -> float | None:
    if y.size == 0 or y.sum() == 0:
        return None
    return float(average_precision_score(y, score))


def single_label_metrics(y_true: np.ndarray, probs: np.ndarray, classes: Sequence[str]) -> dict:
    """Token or gene level: accuracy, macro-F1, MCC, per-class AP, confusion matrix."""
    y_true = np.asarray(y_true, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    y_pred = probs.argmax(axis=1)
    out = {
        "n": int(y_true.size),
        "accuracy": float(accuracy_score(y_true, y_pred)) if y_true.size else None,
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)) if y_true.size else None,
        "mcc": float(matthews_corrcoef(y_true, y_pred)) if y_true.size else None,
        "average_precision": {c: _ap_or_none((y_true == i).astype(int), probs[:, i]) for i, c in enumerate(classes)},
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=list(range(len(classes)))).tolist()
        if y_true.size else None,
    }
    aps = [v for v in out["average_precision"].values() if v is not None]
    out["mean_average_precision"] = float(np.mean(aps)) if aps else None
    return out


def multilabel_token_metrics(targets: np.ndarray, probs: np.ndarray, classes: Sequence[str]) -> dict:
    """GO tokens: genic F1 on column 0, micro/macro AUPRC over the terms on known rows."""
    targets = np.asarray(targets)
    probs = np.asarray(probs, dtype=np.float64)
    genic_true = targets[:, 0].astype(int)
    out = {
        "n": int(targets.shape[0]),
        "genic_f1": float(f1_score(genic_true, (probs[:, 0] >= 0.5).astype(int), zero_division=0)),
        "genic_average_precision": _ap_or_none(genic_true, probs[:, 0]),
    }
    out.update(term_auprc(targets[:, 1:], probs[:, 1:], classes[1:]))
    return out


def term_auprc(targets: np.ndarray, probs: np.ndarray, terms: Sequence[str]) -> dict:
    """Micro and macro AUPRC over terms, on rows whose targets are known (not UNKNOWN)."""
    known = ~np.any(targets == UNKNOWN, axis=1) if targets.size else np.zeros(targets.shape[0], bool)
    y = targets[known].astype(int)
    p = probs[known]
    positive = y.sum(axis=0) > 0 if y.size else np.zeros(len(terms), bool)
    per_term = {t: (float(average_precision_score(y[:, j], p[:, j])) if positive[j] else None)
                for j, t in enumerate(terms)}
    has_any = bool(positive.any())
    return {
        "n_known": int(known.sum()),
        "n_terms_with_positives": int(positive.sum()),
        "micro_auprc": float(average_precision_score(y[:, positive], p[:, positive], average="micro")) if has_any else None,
        "macro_auprc": float(average_precision_score(y[:, positive], p[:, positive], average="macro")) if has_any else None,
        "term_average_precision": per_term,
    }


def gene_multilabel_metrics(targets: np.ndarray, probs: np.ndarray, terms: Sequence[str]) -> dict:
    """GO genes (rows with at least one term): CAFA Fmax and term-centric AUPRC."""
    y = np.asarray(targets).astype(int)
    annotated = y.sum(axis=1) > 0
    out = {"n_genes_with_go": int(annotated.sum())}
    out.update(cafa_fmax(y, probs))
    out.update(term_auprc(y[annotated], np.asarray(probs)[annotated], terms))
    return out


@dataclass(frozen=True)
class Interval:
    seqid: str
    start: int
    end: int
    strand: str = "."
    biotype: str = ""
    circle: int = 0  # the circular record's length when the interval runs past its end (across the origin)


def on_circles(intervals: Sequence[Interval], lengths: dict[str, int]) -> list[Interval]:
    """`intervals` with `circle` set on those that run past their record's end (`lengths`): genes
    across the origin of a circular record, as GFF3 and genolong write them."""
    out = []
    for it in intervals:
        length = lengths.get(it.seqid)
        out.append(replace(it, circle=length) if length is not None and it.end > length else it)
    return out


def _turns(it: Interval) -> list[Interval]:
    """The interval, and for one across the origin the same interval a turn back (over the start)."""
    return [it, replace(it, start=it.start - it.circle, end=it.end - it.circle)] if it.circle else [it]


def _strand_ok(a: str, b: str) -> bool:
    return a == b or a == "." or b == "."


def reciprocal_overlap(a: Interval, b: Interval) -> float:
    """min(overlap / len(a), overlap / len(b)); 0 when disjoint."""
    ov = min(a.end, b.end) - max(a.start, b.start)
    if ov <= 0:
        return 0.0
    return min(ov / max(a.end - a.start, 1), ov / max(b.end - b.start, 1))


def match_segments(pred: Sequence[Interval], ref: Sequence[Interval], min_overlap: float = 0.5) -> list[tuple[int, int]]:
    """One-to-one (pred index, ref index) pairs with reciprocal overlap >= min_overlap (round the
    circle for intervals across the origin of a circular record)."""
    best: dict[tuple[int, int], float] = {}
    entries = [(r, j) for j, r0 in enumerate(ref) for r in _turns(r0)]  # a gene across the origin twice
    by_seq: dict[str, list[int]] = {}
    for e, (r, _) in enumerate(entries):
        by_seq.setdefault(r.seqid, []).append(e)
    for seq, idx in by_seq.items():
        idx.sort(key=lambda e: entries[e][0].start)
    ref_starts = {seq: np.array([entries[e][0].start for e in idx]) for seq, idx in by_seq.items()}
    max_len = {seq: max(entries[e][0].end - entries[e][0].start for e in idx) for seq, idx in by_seq.items()}
    for i, p0 in enumerate(pred):
        idx = by_seq.get(p0.seqid)
        if not idx:
            continue
        for p in _turns(p0):
            lo = np.searchsorted(ref_starts[p.seqid], p.start - max_len[p.seqid], side="left")
            hi = np.searchsorted(ref_starts[p.seqid], p.end, side="left")
            for e in idx[lo:hi]:
                r, j = entries[e]
                if not _strand_ok(p.strand, r.strand):
                    continue
                ov = reciprocal_overlap(p, r)
                if ov >= min_overlap and ov > best.get((i, j), 0.0):
                    best[(i, j)] = ov
    candidates = sorted(((ov, i, j) for (i, j), ov in best.items()), key=lambda c: -c[0])
    used_p, used_r, pairs = set(), set(), []
    for _, i, j in candidates:
        if i in used_p or j in used_r:
            continue
        used_p.add(i)
        used_r.add(j)
        pairs.append((i, j))
    return pairs


def _prf(n_pred: int, n_ref: int, n_match: int) -> dict:
    precision = n_match / n_pred if n_pred else None
    recall = n_match / n_ref if n_ref else None
    f1 = (2 * precision * recall / (precision + recall) if precision and recall else 0.0) \
        if precision is not None and recall is not None else None
    return {"precision": precision, "recall": recall, "f1": f1, "n_pred": n_pred, "n_ref": n_ref, "n_matched": n_match}


def segment_metrics(pred: Sequence[Interval], ref: Sequence[Interval], min_overlap: float = 0.5) -> dict:
    """Precision/recall/F1 overall, and per reference biotype.

    Per biotype b: when some predictions carry biotype b, predictions of b are matched against
    references of b (P, R, F1); otherwise (e.g. GO predictions, which carry no biotype) only the
    recall of b's references in the overall matching is given.
    """
    pairs = match_segments(pred, ref, min_overlap)
    out = {"overall": _prf(len(pred), len(ref), len(pairs)), "by_biotype": {}}
    matched_ref = {j for _, j in pairs}
    pred_biotypes = {p.biotype for p in pred}
    for b in sorted({r.biotype for r in ref}):
        ref_b = [r for r in ref if r.biotype == b]
        if b in pred_biotypes:
            pred_b = [p for p in pred if p.biotype == b]
            out["by_biotype"][b] = _prf(len(pred_b), len(ref_b), len(match_segments(pred_b, ref_b, min_overlap)))
        else:
            n_match = sum(1 for j, r in enumerate(ref) if r.biotype == b and j in matched_ref)
            out["by_biotype"][b] = {"precision": None, "recall": n_match / len(ref_b), "f1": None,
                                    "n_pred": 0, "n_ref": len(ref_b), "n_matched": n_match}
    return out


def _ends(it: Interval) -> tuple[int, int]:
    """(5' end, 3' end) coordinates of an interval on its strand."""
    return (it.end, it.start) if it.strand == "-" else (it.start, it.end)


def coding_metrics(pred: Sequence[Interval], ref: Sequence[Interval], min_overlap: float = 0.5) -> dict:
    """Gene P/R/F1 of protein-coding calls, and exact-start / exact-stop rates among the matches."""
    pairs = match_segments(pred, ref, min_overlap)
    out = _prf(len(pred), len(ref), len(pairs))

    def same(a: int, b: int, p: Interval, r: Interval) -> bool:  # round the circle: positions modulo its length
        circle = p.circle or r.circle
        return a == b if not circle else (a - b) % circle == 0

    starts = [same(_ends(pred[i])[0], _ends(ref[j])[0], pred[i], ref[j]) for i, j in pairs]
    stops = [same(_ends(pred[i])[1], _ends(ref[j])[1], pred[i], ref[j]) for i, j in pairs]
    out["exact_start"] = float(np.mean(starts)) if pairs else None
    out["exact_stop"] = float(np.mean(stops)) if pairs else None
    return out


RNA_TYPES = ("tRNA", "tmRNA", "rRNA")


def rna_metrics(pred: Sequence[Interval], ref: Sequence[Interval], min_overlap: float = 0.5,
                kinds: Sequence[str] = RNA_TYPES) -> dict:
    """Per RNA type of `kinds` present in the reference: a system's calls of that biotype matched
    to the reference genes of it (same strand, >= `min_overlap` reciprocal overlap): precision
    (None without calls), recall, F1 and the counts."""
    out = {}
    for kind in kinds:
        ref_k = [r for r in ref if r.biotype == kind]
        if ref_k:
            pred_k = [p for p in pred if p.biotype == kind]
            out[kind] = _prf(len(pred_k), len(ref_k), len(match_segments(pred_k, ref_k, min_overlap)))
    return out
