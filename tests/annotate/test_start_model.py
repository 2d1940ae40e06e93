"""The self-trained start model: it learns a planted Shine-Dalgarno site from the genome's own
first-pass calls and then moves starts the structure evidence cannot place onto it."""

from __future__ import annotations

import numpy as np
from Bio.Seq import Seq

from genolong.annotate.orfs import encode_bases
from genolong.annotate.start_model import fit, start_context, training_examples
from tests.annotate.helpers import STRUCTURE, decode_planted, soft_probs, structure_targets
from tests.annotate.test_orf_decode import codons

K = STRIDE = 6
RBS = "AGGAGG"  # 7 bp before the real start codon (ends 30 bp after the alternative ATG)
SLOT = 480  # bp per planted gene, a multiple of STRIDE


def planted_genome(n_genes: int, n_unsure: int, seed: int = 0):
    """`n_genes` genes on alternating strands, each with RBS 7 bp before its ATG and, 30 bp
    upstream, an in-frame ATG without any (a longer ORF on the same stop). Returns the sequence,
    the genes and the structure probabilities: the first `n_unsure` genes' 30 bp between the two
    ATGs are uniform (no evidence either way), elsewhere the smoothed truth."""
    rng = np.random.default_rng(seed)
    seq, genes, unsure = [], [], []
    for i in range(n_genes):
        # a stop, then the alternative ATG; its reading frame runs through the RBS without a stop
        upstream = "TAA" + "ATG" + codons(rng, 4) + "GC" + RBS + "CTCTCTC"
        gene = "ATG" + codons(rng, 98) + "TAA"
        unit = upstream + gene
        left = "".join(rng.choice(list("AT"), size=(SLOT - len(unit)) // 2))
        right = "".join(rng.choice(list("AT"), size=SLOT - len(unit) - len(left)))
        strand = "+-"[i % 2]
        body = unit if strand == "+" else str(Seq(unit).reverse_complement())
        a = i * SLOT + len(left)
        if strand == "+":
            start, end = a + len(upstream), a + len(unit)
            alt_region = (start - 30, start)
        else:
            start, end = a, a + len(gene)
            alt_region = (end, end + 30)
        seq.append(left + body + right)
        genes.append((start, end, strand, "protein_coding"))
        if i < n_unsure:
            unsure.append(alt_region)
    seq = "".join(seq)
    n_tok = (len(seq) - K) // STRIDE + 1
    probs = soft_probs(structure_targets(genes, n_tok, K, STRIDE), len(STRUCTURE))
    centre = np.arange(n_tok) * STRIDE + K // 2
    for a, b in unsure:
        probs[(centre >= a - K // 2) & (centre < b + K // 2)] = 1.0 / len(STRUCTURE)
    return seq, genes, probs


def decode(seq: str, probs: np.ndarray, **cfg):
    return decode_planted(seq, probs, K, STRIDE, **cfg)


def test_planted_rbs_moves_unsure_starts():
    """Without the start model the unsure genes take the longer ORF (the evidence ties); with it,
    trained on this genome's own first pass, every gene starts at its RBS."""
    seq, genes, probs = planted_genome(80, 10)
    truth = {(a, b, s) for a, b, s, _ in genes}
    # the first pass: the coding model alone would pick starts too (its random codons reach upstream)
    without = decode(seq, probs, start_model=False, coding_model=False)
    assert len(truth - without) == 10
    assert decode(seq, probs) == truth


def test_fit_scores_rbs_above_background():
    seq, genes, _ = planted_genome(60, 0)
    bases = encode_bases(seq)
    start, end = np.array([g[0] for g in genes]), np.array([g[1] for g in genes])
    strand = np.array([1 if g[2] == "+" else -1 for g in genes])
    positives, negatives = training_examples(bases, start, end, strand, 11)
    assert len(positives[1]) == 60 and len(negatives[1]) >= 60
    model = fit(positives, negatives)
    own = model.score(bases, np.where(strand > 0, start, end - 1), strand)
    alt = model.score(bases, np.where(strand > 0, start - 30, end + 29), strand)
    assert (own > alt + 2).all()
    assert start_context(bases, start[:1], strand[:1])[1][0] == 14  # ATG: 0*16 + 3*4 + 2


def test_too_few_genes_keeps_first_pass():
    seq, genes, probs = planted_genome(12, 4)
    assert decode(seq, probs) == decode(seq, probs, start_model=False)
