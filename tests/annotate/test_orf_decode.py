"""The ORF-aware decoder: planted genes come back exact; reference structure gives reference genes."""

from __future__ import annotations

import numpy as np
import pytest
from Bio.Seq import Seq

from genolong.annotate.orf_decode import DecodeConfig, decode_genes
from tests.annotate.helpers import STRUCTURE, soft_probs, structure_targets

K = STRIDE = 6
SENSE = [c for c in (a + b + d for a in "ACGT" for b in "ACGT" for d in "ACGT")
         if c not in ("TAA", "TAG", "TGA", "ATG", "GTG", "TTG")]


def codons(rng, n: int) -> str:
    return "".join(rng.choice(SENSE, size=n))


def planted(offset: int, strand: str, seed: int = 0) -> tuple[str, int, int]:
    """A 4 kbp sequence with one 603 bp gene at `offset`; an in-frame ATG 30 bp upstream with no
    stop between (a longer ORF on the same stop) and an internal ATG at +60 (a shorter one)."""
    rng = np.random.default_rng(seed)
    upstream = "ATG" + codons(rng, 9)  # in frame with the real start, 30 bp before it
    gene = "ATG" + codons(rng, 19) + "ATG" + codons(rng, 179) + "TAA"
    left = "".join(rng.choice(list("ACGT"), size=offset - len(upstream)))
    right = "".join(rng.choice(list("ACGT"), size=4000 - offset - len(gene)))
    if strand == "+":
        return left + upstream + gene + right, offset, offset + len(gene)
    body = str(Seq(upstream + gene).reverse_complement())
    # mirror: the gene's start codon is at the right end on the minus strand
    seq = right + body + left
    start = len(right)
    return seq, start, start + len(gene)


def decode(seq: str, genes, table: int = 11, **cfg):
    n_tok = (len(seq) - K) // STRIDE + 1
    probs = soft_probs(structure_targets(genes, n_tok, K, STRIDE), len(STRUCTURE))
    data = seq.encode()
    return decode_genes("chr", lambda a, b: data[a:b], len(seq), probs, STRUCTURE, K, STRIDE,
                        DecodeConfig(table=table, **cfg))


@pytest.mark.parametrize("strand", ["+", "-"])
@pytest.mark.parametrize("offset", [1500, 1501, 1502, 1503, 1504, 1505])
def test_planted_orf_called_exactly(offset, strand):
    """Every position of the gene relative to the 6 bp token grid, on both strands."""
    seq, start, end = planted(offset, strand, seed=offset)
    calls = decode(seq, [(start, end, strand, "protein_coding")])
    coding = [(g.start, g.end, g.strand) for g in calls if g.biotype == "protein_coding"]
    assert coding == [(start, end, strand)]
    piece = Seq(seq[start:end]) if strand == "+" else Seq(seq[start:end]).reverse_complement()
    assert len(piece.translate(table=11, cds=True)) == 200


def test_wrong_frame_evidence_calls_nothing():
    seq, start, end = planted(1500, "+")
    calls = decode(seq, [(start + 1, end + 1, "+", "protein_coding")])  # evidence one base off
    assert not any(g.biotype == "protein_coding" and (g.start, g.end) == (start, end) for g in calls)


def test_rna_segments_and_chunking():
    """A tRNA comes back as a segment; a small chunk size gives the same genes as one chunk."""
    rng = np.random.default_rng(3)
    seq = "".join(rng.choice(list("ACGT"), size=30000))
    genes = []
    for i, pos in enumerate(range(1000, 28000, 3000)):
        strand = "+-"[i % 2]
        gene = "ATG" + codons(rng, 199) + "TAG"
        body = gene if strand == "+" else str(Seq(gene).reverse_complement())
        seq = seq[:pos - 3] + ("TAA" if strand == "+" else "") + seq[pos:]  # no longer ORF upstream
        seq = seq[:pos] + body + seq[pos + len(body):]
        if strand == "-":
            seq = seq[:pos + len(body)] + "TTA" + seq[pos + len(body) + 3:]
        genes.append((pos, pos + len(body), strand, "protein_coding"))
    genes.append((2500, 2580, "-", "tRNA"))
    whole = decode(seq, genes)
    chunked = decode(seq, genes, chunk_bp=4000, margin_bp=1200)
    assert [(g.start, g.end, g.strand, g.biotype) for g in whole] == [(g.start, g.end, g.strand, g.biotype)
                                                                       for g in chunked]
    coding = {(g.start, g.end, g.strand) for g in whole if g.biotype == "protein_coding"}
    assert coding == {(s, e, st) for s, e, st, b in genes if b == "protein_coding"}
    trna = [g for g in whole if g.biotype == "tRNA"]
    assert len(trna) == 1 and trna[0].strand == "-" and abs(trna[0].start - 2500) <= K and abs(trna[0].end - 2580) <= K


@pytest.mark.parametrize("p", [0.9, 0.7])
def test_planted_rna_segments_on_their_strand(p):
    """tRNA-like segments on either strand and an rRNA come back with their kind and strand, also
    with a less sure model. (A 76 bp tRNA is 13 tokens at k = 6: entering and leaving it costs
    2 log(p_switch) = -10.6, so its class needs a mean log-odds above 0.8 against `other`: at
    p = 0.5 here, 0.54, it is lost.)"""
    rng = np.random.default_rng(5)
    seq = "".join(rng.choice(list("ACGT"), size=12000))
    planted = [(1500, 1576, "+", "tRNA"), (4000, 4077, "-", "tRNA"), (7000, 8500, "+", "rRNA")]
    n_tok = (len(seq) - K) // STRIDE + 1
    probs = soft_probs(structure_targets(planted, n_tok, K, STRIDE), len(STRUCTURE), p=p)
    calls = decode_genes("chr", lambda a, b: seq[a:b].encode(), len(seq), probs, STRUCTURE, K, STRIDE,
                         DecodeConfig())
    rna = [(g.biotype, g.strand, g.start, g.end) for g in calls if g.biotype != "protein_coding"]
    assert [(b, st) for b, st, _, _ in rna] == [(b, st) for _, _, st, b in planted]
    for (_, _, start, end), (a, b, _, _) in zip(rna, planted):
        assert abs(start - a) <= K and abs(end - b) <= K


def test_oracle_structure_on_afade(data_dir):
    """Structure targets of the reference, fed as probabilities, give back the reference genes."""
    from genolong.data.annotation import read_annotation
    from genolong.data.genome import open_genome
    from genolong.evaluate.metrics import Interval, segment_metrics

    path = data_dir / "mycoides_Afade.gbff.gz"
    genes = read_annotation(path)
    calls, ref = [], []
    with open_genome(path) as genome:
        for seqid in genome.ids[:3]:
            length = genome.lengths[seqid]
            mine = [g for g in genes if g.seqid == seqid]
            n_tok = (length - K) // STRIDE + 1
            targets = structure_targets([(g.start, g.end, g.strand, g.biotype) for g in mine], n_tok, K, STRIDE)
            probs = soft_probs(targets, len(STRUCTURE))
            calls += decode_genes(seqid, lambda a, b, s=seqid: genome.fetch(s, a, b), length, probs, STRUCTURE,
                                  K, STRIDE, DecodeConfig(table=4))
            ref += [g for g in mine if g.biotype == "protein_coding"]
    pred = [Interval(g.seqid, g.start, g.end, g.strand) for g in calls if g.biotype == "protein_coding"]
    truth = [Interval(g.seqid, g.start, g.end, g.strand) for g in ref]
    assert len(truth) > 300
    f1 = segment_metrics(pred, truth)["overall"]["f1"]
    assert f1 > 0.95
    exact_stop = sum(any((p.end if p.strand == "+" else p.start) == (t.end if t.strand == "+" else t.start)
                         and p.strand == t.strand for t in truth) for p in pred) / len(pred)
    assert exact_stop > 0.95


def test_start_codon_prior_reads_each_orfs_start_codon():
    from genolong.annotate.orf_decode import start_codon_prior
    from genolong.annotate.orfs import encode_bases, find_orfs

    seq = "".join(np.random.default_rng(0).choice(list("ACGT"), size=5000))
    orfs = find_orfs(seq.encode(), 11)
    prior = start_codon_prior(encode_bases(seq.encode()), orfs, (("ATG", -1.0), ("GTG", -2.0), ("TTG", -3.0)))
    for a, b, s, p in zip(orfs.start, orfs.end, orfs.strand, prior):
        codon = seq[a : a + 3] if s > 0 else str(Seq(seq[b - 3 : b]).reverse_complement())
        assert p == {"ATG": -1.0, "GTG": -2.0, "TTG": -3.0}[codon]
    assert {-1 if s > 0 else 1 for s in orfs.strand} == {-1, 1}
