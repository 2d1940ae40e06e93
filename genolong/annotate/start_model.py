"""A per-genome start-site model, self-trained on the genome's own first-pass gene calls.

The structure head finds genes and their stops well, but its evidence fades over the few codons
that separate a gene's real start from the in-frame alternatives, so the start is often a guess.
Prodigal learns start signals from each genome itself; this does the same, unsupervised: the
starts of the first pass's genes are the positives and the other in-frame start codons on the
same stops (no stop between them and the gene's stop) the negatives, and two naive-Bayes
log-odds are learnt from them:

- the start codon (ATG/GTG/TTG usage differs between genomes and from the fixed prior);
- the ribosome-binding site: for each 4-mer and each spacer bin (bases between the 4-mer's end
  and the start codon), how much more often it occurs upstream of a positive than of a negative.
  A start scores its best 4-mer (a Shine-Dalgarno core such as AGGA or GGAG where the genome
  uses one), or `NO_MOTIF` when none of its upstream 4-mers is enriched.

Both are smoothed counts, so a genome without a usable signal gives weights near zero and the
structure evidence decides as before. numpy only; the features of every ORF are gathered at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genolong.annotate.orfs import COMMON_STARTS, _code_of, find_orfs

MOTIF_K = 4
# spacer (bp between a motif's last base and the start codon's first) bins: Shine-Dalgarno
# spacers are 5-10 bp in E. coli; the outer bins catch genomes that sit further or closer
SPACER_BINS = ((3, 4), (5, 7), (8, 10), (11, 14))
UPSTREAM = MOTIF_K + SPACER_BINS[-1][1]  # bp of sequence read upstream of each start
NO_MOTIF = 0.0  # log-odds of a start with no enriched motif upstream
PSEUDOCOUNT = 1.0


@dataclass(frozen=True)
class StartModel:
    codon: np.ndarray  # (65,) log-odds of each start codon code (0 for codons never seen)
    motif: np.ndarray  # (4**MOTIF_K, len(SPACER_BINS)) log-odds of a motif at a spacer
    n_genes: int  # positives it was trained on

    def score(self, bases: np.ndarray, five_prime: np.ndarray, strand: np.ndarray) -> np.ndarray:
        """(n,) log-odds that the start codons at `five_prime` (first base of each, forward
        coordinates, strand +1/-1) are real starts, read from `bases` (`encode_bases` output)."""
        up, codon = start_context(bases, five_prime, strand)
        return self.codon[codon] + _motif_score(self.motif, up)


def start_context(bases: np.ndarray, five_prime: np.ndarray, strand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, UPSTREAM) upstream bases read 5'->3' on each start's strand (4 outside the sequence)
    and (n,) the start codon codes (64 when a base is not ACGT)."""
    plus = (np.asarray(strand) > 0)[:, None]
    steps = np.arange(-UPSTREAM, 3)  # along the gene's strand, 0 = first base of the start codon
    pos = np.asarray(five_prime, dtype=np.int64)[:, None] + np.where(plus, steps, -steps)
    inside = (pos >= 0) & (pos < bases.size)
    ctx = np.where(inside, bases[np.clip(pos, 0, max(bases.size - 1, 0))], 4).astype(np.int64)
    ctx = np.where(plus | (ctx > 3), ctx, 3 - ctx)  # complement on the minus strand
    c = ctx[:, UPSTREAM:]
    codon = np.where((c > 3).any(axis=1), 64, 16 * c[:, 0] + 4 * c[:, 1] + c[:, 2])
    return ctx[:, :UPSTREAM], codon


def _motif_codes(up: np.ndarray) -> np.ndarray:
    """(n, UPSTREAM - MOTIF_K + 1) code of the 4-mer starting at each upstream position, -1
    where it holds a non-ACGT base."""
    n_pos = up.shape[1] - MOTIF_K + 1
    code = np.zeros((up.shape[0], n_pos), dtype=np.int64)
    bad = np.zeros(code.shape, dtype=bool)
    for j in range(MOTIF_K):
        part = up[:, j : j + n_pos]
        code = code * 4 + np.minimum(part, 3)
        bad |= part > 3
    return np.where(bad, -1, code)


def _spacer_bin() -> np.ndarray:
    """(UPSTREAM - MOTIF_K + 1,) spacer bin of a motif starting at each upstream position, -1
    when the spacer is in no bin."""
    n_pos = UPSTREAM - MOTIF_K + 1
    spacer = UPSTREAM - (np.arange(n_pos) + MOTIF_K)
    out = np.full(n_pos, -1, dtype=np.int64)
    for b, (lo, hi) in enumerate(SPACER_BINS):
        out[(spacer >= lo) & (spacer <= hi)] = b
    return out


def _motif_presence(up: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, motif, bin) of every distinct motif/bin pair upstream of each start."""
    code, bins = _motif_codes(up), _spacer_bin()
    rows = np.broadcast_to(np.arange(up.shape[0])[:, None], code.shape)
    ok = (code >= 0) & (bins[None, :] >= 0)
    key = (rows[ok] * 4 ** MOTIF_K + code[ok]) * len(SPACER_BINS) + np.broadcast_to(bins, code.shape)[ok]
    key = np.unique(key)
    return key // (4 ** MOTIF_K * len(SPACER_BINS)), (key // len(SPACER_BINS)) % 4 ** MOTIF_K, key % len(SPACER_BINS)


def _motif_score(motif: np.ndarray, up: np.ndarray) -> np.ndarray:
    """(n,) the best motif log-odds upstream of each start, at least NO_MOTIF."""
    out = np.full(up.shape[0], NO_MOTIF)
    row, m, b = _motif_presence(up)
    np.maximum.at(out, row, motif[m, b])
    return out


def _log_odds(pos: np.ndarray, neg: np.ndarray, n_pos: int, n_neg: int) -> np.ndarray:
    return np.log((pos + PSEUDOCOUNT) / (n_pos + 2 * PSEUDOCOUNT)) - np.log((neg + PSEUDOCOUNT) / (n_neg + 2 * PSEUDOCOUNT))


def training_examples(bases: np.ndarray, start: np.ndarray, end: np.ndarray, strand: np.ndarray, table: int,
                      ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """(positives, negatives) for `fit` from genes called on `bases` (forward coordinates, 0-based
    half-open, strand +1/-1): each gene's own start, and every other start codon of its ORF (in
    frame, no stop between it and the gene's stop)."""
    orfs = find_orfs(bases, table)
    strand = np.asarray(strand)
    gene_stop = np.where(strand > 0, np.asarray(end) - 1, start) * 2 + (strand > 0)
    gene_five = np.where(strand > 0, start, np.asarray(end) - 1) * 2 + (strand > 0)
    on_gene = np.isin(orfs.three_prime * 2 + (orfs.strand > 0), gene_stop)
    own = np.isin(orfs.five_prime * 2 + (orfs.strand > 0), gene_five)
    pos, neg = on_gene & own, on_gene & ~own
    return (start_context(bases, orfs.five_prime[pos], orfs.strand[pos]),
            start_context(bases, orfs.five_prime[neg], orfs.strand[neg]))


def fit(positives: tuple[np.ndarray, np.ndarray], negatives: tuple[np.ndarray, np.ndarray]) -> StartModel:
    """The log-odds of start codons and upstream motifs, positives vs negatives, each
    (upstream bases, start codon codes) as `start_context` gives them."""
    (up_p, codon_p), (up_n, codon_n) = positives, negatives
    n_p, n_n = len(codon_p), len(codon_n)
    codon = np.zeros(65)
    for c in COMMON_STARTS:
        i = _code_of(c)
        codon[i] = _log_odds(np.sum(codon_p == i), np.sum(codon_n == i), n_p, n_n)
    shape = (4 ** MOTIF_K, len(SPACER_BINS))
    counts = []
    for up in (up_p, up_n):
        _, m, b = _motif_presence(up)
        c = np.zeros(shape)
        np.add.at(c, (m, b), 1)
        counts.append(c)
    motif = _log_odds(counts[0], counts[1], n_p, n_n)
    return StartModel(codon, motif, n_p)
