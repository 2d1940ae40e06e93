"""The self-trained coding model: it learns a planted codon usage from the genome's own first-pass
calls and then calls the short genes with that usage which the structure evidence calls non-coding."""

from __future__ import annotations

import numpy as np
from Bio.Seq import Seq

from genolong.annotate import coding_model as coding
from genolong.annotate.orfs import encode_bases, reverse_complement_bases
from tests.annotate.helpers import STRUCTURE, decode_planted, soft_probs, structure_targets

K = STRIDE = 6
# the planted genes' codon usage: a few sense codons, none a start or a stop codon
BIASED = ["GCT", "GAA", "AAA", "CGT", "CTG", "GGC", "ACC", "CAG"]
SLOT = 480  # bp per planted gene, a multiple of STRIDE


def planted_genome(n_genes: int, n_weak: int, seed: int = 0):
    """`n_genes` genes with the BIASED codon usage on alternating strands in random sequence; the
    last `n_weak` are short (150 bp) and left out of the structure probabilities (their tokens
    say intergenic). Returns the sequence, the genes and the probabilities."""
    rng = np.random.default_rng(seed)
    seq, genes, painted = [], [], []
    for i in range(n_genes):
        weak = i >= n_genes - n_weak
        gene = "ATG" + "".join(rng.choice(BIASED, size=48 if weak else 98)) + "TAA"
        left = "".join(rng.choice(list("ACGT"), size=(SLOT - len(gene)) // 2))
        right = "".join(rng.choice(list("ACGT"), size=SLOT - len(gene) - len(left)))
        strand = "+-"[i % 2]
        body = gene if strand == "+" else str(Seq(gene).reverse_complement())
        start = i * SLOT + len(left)
        seq.append(left + body + right)
        genes.append((start, start + len(gene), strand, "protein_coding"))
        if not weak:
            painted.append(genes[-1])
    seq = "".join(seq)
    n_tok = (len(seq) - K) // STRIDE + 1
    return seq, genes, soft_probs(structure_targets(painted, n_tok, K, STRIDE), len(STRUCTURE))


def decode(seq: str, probs: np.ndarray, **cfg):
    return decode_planted(seq, probs, K, STRIDE, **cfg)


def test_codon_usage_rescues_weak_short_genes():
    """Off, the genes the structure evidence calls intergenic are missed; on, trained on the
    first pass's genes, they are called exactly, and nothing else is (the random sequence's ORFs
    do not have the usage)."""
    seq, genes, probs = planted_genome(70, 8)
    truth = {(a, b, s) for a, b, s, _ in genes}
    weak = {(a, b, s) for a, b, s, _ in genes[-8:]}
    assert decode(seq, probs, coding_model=False) == truth - weak
    assert decode(seq, probs) == truth


def test_too_few_genes_keeps_first_pass():
    seq, genes, probs = planted_genome(20, 4)
    assert decode(seq, probs) == decode(seq, probs, coding_model=False)


def test_score_sums_in_frame_hexamers():
    """The cumulative-sum score equals the plain sum over each ORF's in-frame hexamers (stop codon
    excluded), on both strands; an ORF too short for one hexamer scores 0."""
    rng = np.random.default_rng(1)
    bases = rng.integers(0, 4, size=300).astype(np.uint8)
    model = coding.CodingModel(np.append(rng.normal(size=coding.N_WORDS), 0.0), 1)
    start = np.array([0, 10, 31, 100, 5, 40, 200])
    end = np.array([30, 40, 106, 106, 35, 76, 209])
    strand = np.array([1, 1, 1, 1, -1, -1, -1])

    def naive(s, e, sign):
        gene = bases[s:e] if sign > 0 else reverse_complement_bases(bases[s:e])
        codes = coding.word_codes(gene[:-3])
        return model.log_odds[codes[::3]].sum()

    expect = [naive(s, e, g) for s, e, g in zip(start, end, strand)]
    assert np.allclose(model.score(bases, start, end, strand), expect)
    assert model.score(bases, start[3:4], end[3:4], strand[3:4])[0] == 0.0


def test_gene_word_counts_count_in_frame_hexamers():
    rng = np.random.default_rng(2)
    bases = rng.integers(0, 4, size=200).astype(np.uint8)
    start, end, strand = np.array([3, 60]), np.array([33, 120]), np.array([1, -1])
    counts = coding.gene_word_counts(bases, start, end, strand)
    expect = np.zeros(coding.N_WORDS + 1)
    for s, e, sign in zip(start, end, strand):
        gene = bases[s:e] if sign > 0 else reverse_complement_bases(bases[s:e])
        np.add.at(expect, coding.word_codes(gene[:-3])[::3], 1)
    assert np.array_equal(counts, expect)
    assert counts.sum() == 8 + 18  # (27 - 6) / 3 + 1 and (57 - 6) / 3 + 1 hexamers
    assert coding.background_word_counts(encode_bases("ACGTACG")).sum() == 4  # 2 per strand
