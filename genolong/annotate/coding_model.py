"""A per-genome coding model, self-trained on the genome's own first-pass gene calls.

The structure head misses short genes: it scores their ORFs as non-coding, so the first pass
never calls them. Prodigal's second score is the genome's own codon statistics, which need no
network; this learns the same, unsupervised: the in-frame hexamers (dicodons) of the first-pass
genes against the hexamers of the whole genome (every position, both strands), and an ORF scores
the summed log-odds of its in-frame hexamers. A real gene of this genome has the codon usage of
its genes, so its score grows with its length; a frame fragment or a non-coding ORF's hovers
around zero or below.

Smoothed counts: a genome too small to train it gives weights near zero. numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genolong.annotate.orfs import reverse_complement_bases

WORD = 6  # bases in a scored word: a dicodon, the unit of Prodigal's coding statistics
N_WORDS = 4 ** WORD
PSEUDOCOUNT = 1.0


def word_codes(bases: np.ndarray) -> np.ndarray:
    """(max(n - WORD + 1, 0),) code of the hexamer starting at each position, N_WORDS where it
    holds a non-ACGT base."""
    n_pos = max(bases.size - WORD + 1, 0)
    code = np.zeros(n_pos, dtype=np.int64)
    bad = np.zeros(n_pos, dtype=bool)
    for j in range(WORD):
        part = bases[j : j + n_pos]
        code = code * 4 + np.minimum(part, 3)
        bad |= part > 3
    code[bad] = N_WORDS
    return code


def _on_strand(bases: np.ndarray, start: np.ndarray, end: np.ndarray, strand: np.ndarray):
    """For each strand: (its bases read 5'->3', the rows on it, their start and end on those bases)."""
    n = bases.size
    for sign, seq in ((1, bases), (-1, reverse_complement_bases(bases))):
        rows = np.flatnonzero(np.asarray(strand) == sign)
        s, e = (start[rows], end[rows]) if sign > 0 else (n - end[rows], n - start[rows])
        yield seq, rows, s.astype(np.int64), e.astype(np.int64)


def _frame_cumsum(values: np.ndarray) -> np.ndarray:
    """(len + 3,) C with C[i + 3] = values[i] + C[i]: the sum of values[j], j = i, i - 3, ... is C[i + 3]."""
    out = np.zeros(values.size + 3, dtype=np.float64)
    for r in range(3):
        out[r + 3 :: 3] = np.cumsum(values[r::3])
    return out


def _last_word(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """(n,) position of each gene's last in-frame hexamer (its stop codon is left out: it says
    nothing of codon usage); `start - 3`, an empty range, for a gene too short to hold one."""
    last = start + 3 * ((end - 3 - WORD - start) // 3)
    return np.where(end - 3 - start >= WORD, last, start - 3)


@dataclass(frozen=True)
class CodingModel:
    log_odds: np.ndarray  # (N_WORDS + 1,) in-frame hexamer log-odds, coding vs genome (0 for non-ACGT)
    n_genes: int  # genes it was trained on

    def score(self, bases: np.ndarray, start: np.ndarray, end: np.ndarray, strand: np.ndarray) -> np.ndarray:
        """(n,) summed log-odds of the in-frame hexamers of each ORF (forward coordinates, 0-based
        half-open, strand +1/-1, stop codon included) read from `bases` (`encode_bases` output)."""
        out = np.zeros(len(start), dtype=np.float64)
        for seq, rows, s, e in _on_strand(bases, np.asarray(start), np.asarray(end), strand):
            if rows.size == 0:
                continue
            cum = _frame_cumsum(self.log_odds[word_codes(seq)])
            last = _last_word(s, e)
            out[rows] = cum[last + 3] - cum[s]
        return out


def gene_word_counts(bases: np.ndarray, start: np.ndarray, end: np.ndarray, strand: np.ndarray) -> np.ndarray:
    """(N_WORDS + 1,) counts of the in-frame hexamers of genes called on `bases` (as for `score`)."""
    counts = np.zeros(N_WORDS + 1, dtype=np.float64)
    for seq, _, s, e in _on_strand(bases, np.asarray(start), np.asarray(end), strand):
        if s.size == 0:
            continue
        n_pos = max(seq.size - WORD + 1, 0)
        hit = np.zeros(n_pos + 3, dtype=np.float64)
        last = _last_word(s, e)
        ok = last >= s
        # +1 at each gene's first hexamer and -1 one codon past its last, summed along each frame
        np.add.at(hit, s[ok], 1.0)
        np.add.at(hit, last[ok] + 3, -1.0)
        weight = _frame_cumsum(hit)[3 : 3 + n_pos]  # genes whose frame holds each position
        counts += np.bincount(word_codes(seq), weights=weight, minlength=N_WORDS + 1)
    return counts


def background_word_counts(bases: np.ndarray) -> np.ndarray:
    """(N_WORDS + 1,) counts of the hexamers at every position of `bases`, both strands."""
    return sum(np.bincount(word_codes(seq), minlength=N_WORDS + 1).astype(np.float64)
               for seq in (bases, reverse_complement_bases(bases)))


def fit(coding: np.ndarray, background: np.ndarray, n_genes: int) -> CodingModel:
    """The log-odds of each hexamer, in-frame in genes (`gene_word_counts`) vs anywhere
    (`background_word_counts`), each summed over the genome."""
    c, b = coding[:N_WORDS] + PSEUDOCOUNT, background[:N_WORDS] + PSEUDOCOUNT
    log_odds = np.append(np.log(c / c.sum()) - np.log(b / b.sum()), 0.0)
    return CodingModel(log_odds, n_genes)
