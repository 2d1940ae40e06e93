"""Per-token class probabilities -> gene segments.

Choice: a small HMM decoded with Viterbi. Each class is one state; the emission of a token is
its predicted probability, staying in a state costs `log(1 - p_switch)` and moving to any other
state costs `log(p_switch / (C - 1))`. One switch therefore has to be paid for by several tokens
of evidence, which removes the one-token flickers that plain argmax leaves at gene edges without
blurring the boundaries the way a moving-average filter does. Segments that are still shorter
than `min_length` bp are then dropped (returned to intergenic): no real gene is that short.

Single-label vocabularies decode over all classes, class 0 being intergenic. Multilabel (GO)
vocabularies decode the genic bit (column 0) with a two-state HMM, and a segment's function is
every term whose mean probability over the segment is at least `term_threshold` (or the best
term when none is).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from genolong.data.labels import split_strand


@dataclass
class Segment:
    seqid: str
    start: int  # bp, 0-based half-open
    end: int
    strand: str  # "+", "-" or "." when the classes carry no strand
    label: str  # the function label (class name without its strand, or ";"-joined GO terms)
    score: float  # mean probability of the decoded state over the segment
    tok_start: int
    tok_end: int
    probs: np.ndarray = field(repr=False)  # (C,) mean per-class probability over the segment
    functions: tuple[str, ...] = ()  # the GO terms of a multilabel segment; empty: just `label`


def viterbi(log_emission: np.ndarray, p_switch: float) -> np.ndarray:
    """Most likely state path (n,) under a uniform switching HMM; log_emission is (n, S)."""
    n, n_states = log_emission.shape
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if n_states == 1:
        return np.zeros(n, dtype=np.int64)
    stay = math.log1p(-p_switch)
    switch = math.log(p_switch / (n_states - 1))
    from_switch = np.zeros((n, n_states), dtype=bool)  # (n, S): did the best path switch into s at t
    best_prev = np.zeros(n, dtype=np.int64)  # (n,): the best state at t-1
    delta = log_emission[0].astype(np.float64)
    for t in range(1, n):
        b = int(np.argmax(delta))
        best_prev[t] = b
        stay_score = delta + stay
        switch_score = delta[b] + switch
        took_switch = switch_score > stay_score
        from_switch[t] = took_switch
        delta = np.where(took_switch, switch_score, stay_score) + log_emission[t]
    path = np.empty(n, dtype=np.int64)
    path[-1] = int(np.argmax(delta))
    for t in range(n - 1, 0, -1):
        path[t - 1] = best_prev[t] if from_switch[t, path[t]] else path[t]
    return path


def runs(path: np.ndarray) -> list[tuple[int, int, int]]:
    """(start, end, state) of each maximal run of equal states."""
    if path.size == 0:
        return []
    edges = np.flatnonzero(np.diff(path)) + 1
    starts = np.concatenate([[0], edges])
    ends = np.concatenate([edges, [path.size]])
    return [(int(s), int(e), int(path[s])) for s, e in zip(starts, ends)]


def token_span_bp(tok_start: int, tok_end: int, k: int, stride: int, length_bp: int) -> tuple[int, int]:
    """bp span covered by tokens [tok_start, tok_end): token i covers [i*stride, i*stride + k)."""
    return tok_start * stride, min(length_bp, (tok_end - 1) * stride + k)


def decode_record(
    seqid: str,
    probs: np.ndarray,
    classes: list[str],
    kind: str,
    k: int,
    stride: int,
    length_bp: int,
    p_switch: float = 0.005,
    min_length: int = 60,
    term_threshold: float = 0.5,
) -> list[Segment]:
    """Segments of one record from its per-token probabilities (n_tokens, C)."""
    probs = np.asarray(probs, dtype=np.float32)
    eps = 1e-6
    if kind == "multilabel":
        genic = probs[:, 0]
        emission = np.log(np.stack([1.0 - genic, genic], axis=1).clip(eps, 1.0))  # (n, 2)
    else:
        emission = np.log(probs.clip(eps, 1.0))  # (n, C)
    path = viterbi(emission, p_switch)
    segments = []
    for a, b, state in runs(path):
        if state == 0:
            continue
        start, end = token_span_bp(a, b, k, stride, length_bp)
        if end - start < min_length:
            continue
        mean = probs[a:b].mean(axis=0)
        if kind == "multilabel":
            terms = mean[1:]
            chosen = [classes[i + 1] for i in np.flatnonzero(terms >= term_threshold)]
            if not chosen and terms.size:
                chosen = [classes[int(np.argmax(terms)) + 1]]
            label, strand, score = ";".join(chosen) or "genic", ".", float(mean[0])
        else:
            label, strand = split_strand(classes[state])
            score = float(mean[state])
        functions = tuple(chosen) if kind == "multilabel" else ()
        segments.append(Segment(seqid, start, end, strand, label, score, a, b, mean, functions))
    return segments
