"""Gene models from structure probabilities: ORFs scored by the structure head, RNA as segments.

Structure classes (painted by `genolong/data/structure.py`): `intergenic`, `CDS{p}(+/-)` with p
the codon position of the token's centre base counted along the gene from its first coding base,
and stranded tRNA / rRNA / ncRNA.

Protein-coding genes. Every ORF of the genome's code (`orfs.find_orfs`) is a candidate. A token
t supports an ORF when the class the ORF predicts for it (its strand, and the codon position of
its centre under the ORF's frame) is likely: its evidence is the clipped log-odds
`log q_t - log(1 - q_t)`, so tokens of another frame, strand or of intergenic sequence count
against the ORF. Each base carries 1/stride of the evidence of the token whose block holds it
(blocks of `stride` bases centred on the token centres), so an ORF's score is a difference of
a piecewise-linear cumulative sum and start codons a few bases apart get different scores. Per
stop codon the start with the best score is kept (the start choice is the evidence's, plus a
small prior on the start codon); the
candidates with a positive score are then taken best first, dropping any that overlaps an
accepted gene by more than `max_overlap` bp (either strand). `decode_genome` then self-trains a
start model on these first-pass genes of the whole genome (`start_model.py`) and decodes again,
each stop's start now chosen by evidence plus the model's weighted log-odds (the start model
does not change the gene's score). The same pass self-trains a coding model (`coding_model.py`,
in-frame hexamer log-odds of the first-pass genes against the genome) whose weighted score joins
every ORF's evidence, for its start and its acceptance: short genes the structure head scores
weakly come back on their codon usage.

RNA genes: the Viterbi of `decode.py` over {other, tRNA(+/-), rRNA(+/-), ncRNA(+/-)}, where
`other` pools intergenic and coding, then runs shorter than `min_rna_length` are dropped.

Memory: a record is decoded in chunks of `chunk_bp` bases with `margin_bp` of sequence on each
side (the longest gene that is found whole); a chunk keeps the ORFs whose stop codon lies in its
core, so every ORF is scored once. Only the positive candidates outlive their chunk.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genolong.annotate import coding_model as coding
from genolong.annotate.coding_model import CodingModel
from genolong.annotate.decode import decode_record
from genolong.annotate.orfs import _code_of, encode_bases, find_orfs, greedy_select
from genolong.annotate.start_model import StartModel, fit, training_examples
from genolong.data.labels import split_strand
from genolong.errors import GenolongError

RNA_KINDS = ("tRNA", "rRNA", "ncRNA")


@dataclass(frozen=True)
class DecodeConfig:
    table: int = 11
    # shortest protein-coding gene, bp with the stop codon: 90 -> 120 drops mostly false calls
    # (demo model, F1 mm5713 0.896 -> 0.905, B237 0.868 -> 0.875, recall unchanged)
    min_length: int = 120
    max_overlap: int = 60  # bp two accepted genes may share
    min_score: float = 0.0  # an ORF needs more evidence than this (summed over its tokens)
    clip: float = 4.0  # |log-ratio| per token is capped: one confident token cannot veto a gene
    p_switch: float = 0.005  # RNA Viterbi
    min_rna_length: int = 60
    rna_floor: float = 0.2  # RNA decoding runs only near tokens where an RNA class reaches this
    chunk_bp: int = 1_000_000
    margin_bp: int = 60_000
    # log-probability of each start codon, added to an ORF's score (0 for codons not listed):
    # E. coli's usage, ATG 83%, GTG 14%, TTG 3% (Blattner et al. 1997); it breaks near-ties between
    # starts a few codons apart (measured on GM12 with the demo model: exact starts 0.808 -> 0.822)
    start_prior: tuple = (("ATG", 0.0), ("GTG", -1.78), ("TTG", -3.32))
    # the self-trained start model (start_model.py) of a second pass replaces `start_prior`:
    start_model: bool = True
    # its log-odds are multiplied by this before they join the evidence: the structure evidence over
    # a few codons is tens of units and wrong as often as not there (chosen on mm5713: exact starts
    # 0.778 -> 0.80 / 0.83 / 0.844 / 0.853 at weights 4 / 12 / 20 / 30, F1 flat up to 20)
    start_weight: float = 20.0
    start_training_length: int = 300  # first-pass genes at least this long (bp) train it
    start_min_genes: int = 100  # fewer training genes than this: the first pass stands
    # train-and-decode rounds: a second round, trained on better starts, adds exact starts
    # (mm5713 0.843 -> 0.850, B237 0.844 -> 0.848); F1 unchanged. Checked again with the network-free
    # decoder on the four training genomes of both codes (mm5713, B237, E. coli IAI39, Sakai): F1 mean
    # 0.8996 / 0.8991 / 0.8990 and exact start 0.850 / 0.854 / 0.854 after 1 / 2 / 3 rounds, so 2
    # stays (the unseen UMN026 would prefer 1 - 0.920 vs 0.915 - but test genomes choose nothing)
    start_rounds: int = 2
    # the self-trained coding model (coding_model.py) of the second pass: its summed hexamer log-odds,
    # times `coding_weight`, join each ORF's score, so genes the structure head scores weakly are
    # rescued by their codon usage (chosen on mm5713/B237 at start weight 20: F1 0.905/0.875 ->
    # 0.907/0.884 / 0.915/0.887 / 0.916/0.891 / 0.915/0.890 at weights 3 / 10 / 20 / 40; recall
    # 0.94/0.93 -> 0.97/0.97, precision flat: most false calls are frame fragments of pseudogenes)
    coding_model: bool = True
    coding_weight: float = 20.0
    # the start model's weight when the coding model scores too: every codon an ORF gains upstream
    # adds coding log-odds, so the starts need a stronger pull (mm5713/B237 exact starts 0.838/0.847
    # / 0.866/0.872 / 0.871/0.878 / 0.878/0.881 at 20 / 40 / 60 / 80; F1 flat to 60, then -0.001)
    coding_start_weight: float = 60.0
    # with an ORF net (`orf_score`): a stop's acceptance is judged at the start the net scores highest
    # (the placed start on ties, so a net at weight 0 changes nothing), not at the start placed. The net
    # is trained to fire at a gene's own start and not at its other starts: judged at a wrongly
    # placed start it rejects real genes
    accept_best_start: bool = True


@dataclass
class GeneModel:
    seqid: str
    start: int  # bp, 0-based half-open
    end: int
    strand: str  # "+" or "-"
    biotype: str  # protein_coding, tRNA, rRNA or ncRNA
    score: float  # protein-coding: mean evidence (log-ratio) per token; RNA: mean probability of the class


@dataclass(frozen=True)
class StructureClasses:
    intergenic: int
    cds: np.ndarray  # (2, 3): [strand (0 '+', 1 '-'), codon position] -> class index
    rna: dict  # (kind, strand) -> class index

    @classmethod
    def from_names(cls, names: list[str]) -> "StructureClasses":
        index = {split_strand(n): i for i, n in enumerate(names)}
        try:
            cds = np.array([[index[(f"CDS{p}", s)] for p in range(3)] for s in "+-"], dtype=np.int64)
            intergenic = index[("intergenic", ".")]
        except KeyError as exc:
            raise GenolongError(f"structure labels: no class {exc.args[0]} (classes: {', '.join(names)})") from None
        rna = {(kind, s): index[(kind, s)] for kind in RNA_KINDS for s in "+-" if (kind, s) in index}
        return cls(intergenic, cds, rna)


def _log_ratio(q: np.ndarray, other: np.ndarray, clip: float) -> np.ndarray:
    eps = 1e-6
    return np.clip(np.log(q + eps) - np.log(other + eps), -clip, clip)


def frame_evidence(probs: np.ndarray, classes: StructureClasses, k: int, stride: int, clip: float) -> np.ndarray:
    """(2, 3, n_tokens) float32 evidence that token t is coding on strand s in ORF frame r.

    Two clipped log-ratios, added: the frame term, the probability of the class the ORF
    predicts (its codon position) against the best other class; and the strand term, the
    coding mass of the strand (three positions summed) against the best of intergenic, the
    other strand's coding mass and each RNA class. An ORF so needs its class to beat the rest by
    a margin, whatever the model's calibration; and where the model knows a gene's strand but
    not its frame, the strand term alone still favours the ORFs over it (the longest first).

    Frame r of an ORF: + strand, r = start % 3 and the centre c of token t sits at codon
    position (c - r) % 3; - strand, r = (end - 1) % 3 and the position is (r - c) % 3.
    """
    probs = np.asarray(probs, dtype=np.float32)
    n = probs.shape[0]
    rows = np.arange(n)
    centre = rows.astype(np.int64) * stride + k // 2
    order = np.argsort(probs, axis=1)[:, -2:]  # (n, 2): second best, best
    best, second = probs[rows, order[:, 1]], probs[rows, order[:, 0]]
    coding = probs[:, classes.cds.ravel()].reshape(n, 2, 3).sum(axis=2)  # (n, 2) per strand
    rna = probs[:, list(classes.rna.values())].max(axis=1) if classes.rna else np.zeros(n, np.float32)
    background = np.maximum(probs[:, classes.intergenic], rna)  # (n,)
    out = np.empty((2, 3, n), dtype=np.float32)
    for s in range(2):
        strand = _log_ratio(coding[:, s], np.maximum(background, coding[:, 1 - s]), clip)
        for r in range(3):
            pos = (centre - r) % 3 if s == 0 else (r - centre) % 3
            target = classes.cds[s][pos]  # (n,) class index the ORF predicts for each token
            other = np.where(order[:, 1] == target, second, best)
            out[s, r] = _log_ratio(probs[rows, target], other, clip) + strand
    return out


def cumulative(e: np.ndarray, x: np.ndarray, k: int, stride: int) -> np.ndarray:
    """H(x) with H(b) - H(a) = sum over bases [a, b) of their token's evidence / stride.

    Token t's block is [t*stride + off, (t+1)*stride + off), off = k//2 - stride//2; bases
    before the first block belong to token 0 and after the last to the last token.
    """
    n = e.shape[-1]
    off = k // 2 - stride // 2
    cum = np.concatenate([[0.0], np.cumsum(e, dtype=np.float64)])
    y = np.clip(x - off, 0, n * stride).astype(np.float64) / stride  # tokens before x
    j = np.minimum(np.floor(y).astype(np.int64), n - 1)
    inside = cum[j] + (y - j) * e[j]
    left = np.minimum(x - off, 0) / stride * e[0]
    right = np.maximum(x - off - n * stride, 0) / stride * e[n - 1]
    return inside + left + right


def orf_candidates(bases: np.ndarray, probs: np.ndarray, classes: StructureClasses, k: int, stride: int,
                   cfg: DecodeConfig, core: tuple[int, int], start_model: StartModel | None = None,
                   coding_model: CodingModel | None = None, orf_score=None, start_score=None) -> tuple[np.ndarray, ...]:
    """Best-start ORF per stop codon in `core` (local bp) with a positive score:
    (start, end, strand, score, n_tokens), local coordinates. `orf_score(bases, orfs, table)`, when
    given, adds a score per candidate (the ORF net's, `gene_caller.py`) to its acceptance only (letting it
    also choose starts cost exact starts), judged at the start it scores highest when
    `cfg.accept_best_start`; `start_score(bases, orfs, table)` (the TIS net's, `start_caller.py`) only
    to its start choice: a stop's acceptance is decided as without it."""
    if probs.shape[0] == 0:
        return tuple(np.zeros(0) for _ in range(5))
    orfs = find_orfs(bases, cfg.table, min_length=cfg.min_length)
    tp = orfs.three_prime
    orfs = orfs.take((tp >= core[0]) & (tp < core[1]))
    ev = frame_evidence(probs, classes, k, stride, cfg.clip)  # (2, 3, n)
    score = np.empty(len(orfs), dtype=np.float64)
    for s, sign in enumerate((1, -1)):
        for r in range(3):
            ref = np.where(sign > 0, orfs.start, orfs.end - 1) % 3
            sel = np.flatnonzero((orfs.strand == sign) & (ref == r))
            score[sel] = cumulative(ev[s, r], orfs.end[sel], k, stride) - cumulative(ev[s, r], orfs.start[sel], k, stride)
    if coding_model is not None:
        # the codon statistics count for the gene (its acceptance) and for its start: without them in
        # the start choice, the rescued short genes keep the structure head's poor starts (F1 mm5713
        # 0.916 -> 0.907, B237 0.891 -> 0.875)
        score += cfg.coding_weight * coding_model.score(bases, orfs.start, orfs.end, orfs.strand)
    choice = score.copy()
    if start_model is not None:
        # the start model only chooses among a stop's starts: added to the gene's own score it would
        # lift weak ORFs (every start codon gets some log-odds) over `min_score` and cost precision
        weight = cfg.start_weight if coding_model is None else cfg.coding_start_weight
        choice += weight * start_model.score(bases, orfs.five_prime, orfs.strand)
    elif cfg.start_prior:
        score += start_codon_prior(bases, orfs, cfg.start_prior)
        choice = score
    net = None if orf_score is None else orf_score(bases, orfs, cfg.table)
    if net is not None:
        score = score + net  # a new array: `choice` may be `score` itself
    best = _best_per_stop(orfs, choice)
    # `start_score` moves a stop's start but not its acceptance, which stays that of the start chosen
    # without it (demo model, val regions of GM12/mm5713/B237, weight 80: F1 0.885 this way, 0.881
    # when the moved start's own score decides)
    moved = best if start_score is None else _best_per_stop(orfs, choice + start_score(bases, orfs, cfg.table))
    judged = best
    if net is not None and cfg.accept_best_start:
        placed = np.zeros(len(orfs), dtype=bool)
        placed[best] = True
        judged = _best_per_stop(orfs, net, prefer=placed)
    ok = score[judged] > cfg.min_score
    judged, moved = judged[ok], moved[ok]
    return orfs.start[moved], orfs.end[moved], orfs.strand[moved], score[judged], orfs.length[moved] / stride


def _best_per_stop(orfs, choice: np.ndarray, prefer: np.ndarray | None = None) -> np.ndarray:
    """Index of the best-`choice` candidate of each stop codon (stops in order); ties go to the
    `prefer`red candidate (when given), then to the longer ORF."""
    tie = np.zeros(len(orfs), dtype=bool) if prefer is None else ~prefer
    order = np.lexsort((-orfs.length, tie, -choice, orfs.stop_id))
    return order[np.unique(orfs.stop_id[order], return_index=True)[1]]


MAX_RNA_REGION = 1 << 17  # tokens decoded at once; only a model that sees RNA everywhere makes longer runs


def candidate_regions(mask: np.ndarray, pad: int, longest: int = MAX_RNA_REGION) -> list[tuple[int, int]]:
    """Runs of True in `mask`, each widened by `pad` on both sides and merged, then cut into
    pieces of at most `longest` (so memory stays bounded whatever the model says)."""
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) > 2 * pad) + 1
    starts, ends = idx[np.r_[0, breaks]], idx[np.r_[breaks - 1, idx.size - 1]] + 1
    out = []
    for a, b in zip(starts, ends):
        a, b = max(0, int(a) - pad), min(mask.size, int(b) + pad)
        out += [(x, min(b, x + longest)) for x in range(a, b, longest)]
    return out


def start_codon_prior(bases: np.ndarray, orfs, prior: tuple) -> np.ndarray:
    """(n_orfs,) the prior log-probability of each ORF's start codon."""
    table = np.zeros(65, dtype=np.float64)
    for codon, logp in prior:
        table[_code_of(codon)] = logp
    b = bases.astype(np.int64)
    plus = orfs.strand > 0
    s, e = orfs.start, orfs.end
    fwd = 16 * b[np.where(plus, s, 0)] + 4 * b[np.where(plus, s + 1, 0)] + b[np.where(plus, s + 2, 0)]
    rev = 16 * (3 - b[np.where(plus, 2, e - 1)]) + 4 * (3 - b[np.where(plus, 1, e - 2)]) + (3 - b[np.where(plus, 0, e - 3)])
    code = np.where(plus, fwd, rev)
    return table[np.clip(code, 0, 64)]


def rna_models(seqid: str, probs: np.ndarray, classes: StructureClasses, k: int, stride: int, length_bp: int,
               cfg: DecodeConfig) -> list[GeneModel]:
    """RNA genes: the Viterbi over {other, RNA classes}, run only where some RNA class reaches
    `cfg.rna_floor` (plus a margin): elsewhere `other` wins every token and the path stays there."""
    if not classes.rna:
        return []
    keys = list(classes.rna)
    cols = [classes.rna[key] for key in keys]
    names = ["other"] + [f"{kind}({s})" for kind, s in keys]
    models = []
    step = 1 << 16  # tokens per slice while looking for RNA evidence
    mask = np.concatenate([np.asarray(probs[a : a + step])[:, cols].max(axis=1) >= cfg.rna_floor
                           for a in range(0, probs.shape[0], step)] or [np.zeros(0, dtype=bool)])
    for a, b in candidate_regions(mask, 64):
        rna = np.asarray(probs[a:b, cols], dtype=np.float32)  # (n, R)
        collapsed = np.concatenate([np.clip(1.0 - rna.sum(axis=1, keepdims=True), 0.0, 1.0), rna], axis=1)
        for seg in decode_record(seqid, collapsed, names, "single", k, stride, length_bp - a * stride,
                                 cfg.p_switch, cfg.min_rna_length):
            models.append(GeneModel(seqid, seg.start + a * stride, seg.end + a * stride, seg.strand, seg.label,
                                    seg.score))
    return models


def _chunks(length_bp: int, k: int, stride: int, n_tok: int, cfg: DecodeConfig):
    """(a, b, lo, hi, t0, t1) per chunk: its core [a, b) and the bases [lo, hi) and tokens
    [t0, t1) read around it."""
    step = max(stride, cfg.chunk_bp - cfg.chunk_bp % stride)
    margin = cfg.margin_bp - cfg.margin_bp % stride
    for a in range(0, max(length_bp, 1), step):
        b = min(length_bp, a + step)
        lo = max(0, a - margin)  # a multiple of stride: local tokens line up with the grid
        hi = min(length_bp, b + margin)
        yield a, b, lo, hi, lo // stride, min(n_tok, max(lo // stride, (hi - k) // stride + 1))


def decode_genes(seqid: str, fetch, length_bp: int, probs: np.ndarray, names: list[str], k: int, stride: int,
                 cfg: DecodeConfig = DecodeConfig(), start_model: StartModel | None = None,
                 coding_model: CodingModel | None = None, orf_score=None, start_score=None) -> list[GeneModel]:
    """Gene models of one record: `fetch(a, b)` gives its bases, `probs` (n_tokens, C_structure)
    may be a memory map; chunk by chunk so only one chunk's arrays are in memory. Starts are
    scored by `start_model` when given, else by `cfg.start_prior`; `coding_model`, when given,
    adds its codon-usage score to every ORF's, `orf_score` its own, `start_score` its own to the start
    choice (`orf_candidates`)."""
    classes = StructureClasses.from_names(names)
    found = []
    for a, b, lo, hi, t0, t1 in _chunks(length_bp, k, stride, probs.shape[0], cfg):
        bases = encode_bases(fetch(lo, hi))
        start, end, strand, score, n = orf_candidates(bases, probs[t0:t1], classes, k, stride, cfg, (a - lo, b - lo),
                                                      start_model, coding_model, orf_score, start_score)
        found.append((start + lo, end + lo, strand, score, n))
    start, end, strand, score, n = (np.concatenate(parts) for parts in zip(*found))
    keep = greedy_select(start, end, score, cfg.max_overlap)
    genes = [GeneModel(seqid, int(start[i]), int(end[i]), "+" if strand[i] > 0 else "-", "protein_coding",
                       float(score[i] / max(n[i], 1e-9))) for i in keep]
    genes += rna_models(seqid, probs, classes, k, stride, length_bp, cfg)
    return sorted(genes, key=lambda g: (g.start, g.end))


def _genes_by_chunk(records, genes: dict[str, list[GeneModel]], k: int, stride: int, cfg: DecodeConfig):
    """Per chunk of every record: (its bases, its core [a, b) and the protein-coding `genes` whose
    stop lies in that core, local coordinates: start, end, strand +1/-1). One read of each chunk."""
    for seqid, fetch, length_bp, probs in records:
        mine = [g for g in genes[seqid] if g.biotype == "protein_coding"]
        start = np.array([g.start for g in mine], dtype=np.int64)
        end = np.array([g.end for g in mine], dtype=np.int64)
        strand = np.array([1 if g.strand == "+" else -1 for g in mine], dtype=np.int64)
        three = np.where(strand > 0, end - 1, start)
        for a, b, lo, hi, _, _ in _chunks(length_bp, k, stride, probs.shape[0], cfg):
            sel = (three >= a) & (three < b) & (start >= lo) & (end <= hi)
            yield encode_bases(fetch(lo, hi)), (a - lo, b - lo), start[sel] - lo, end[sel] - lo, strand[sel]


def genome_word_counts(records, k: int, stride: int, cfg: DecodeConfig) -> np.ndarray:
    """The coding model's background: hexamer counts over every record, both strands (they do not
    depend on the calls, so one count serves every round)."""
    no_genes = {rec[0]: [] for rec in records}
    return sum(coding.background_word_counts(bases[a:b])
               for bases, (a, b), *_ in _genes_by_chunk(records, no_genes, k, stride, cfg))


def learn_models(records, genes: dict[str, list[GeneModel]], k: int, stride: int, cfg: DecodeConfig,
                 background: np.ndarray | None) -> tuple[StartModel | None, CodingModel | None]:
    """The genome's start model (from genes of at least `cfg.start_training_length` bp) and coding
    model (from all of them, against `background`, None to leave it out) trained on the previous
    pass's `genes`; each is None when fewer than `cfg.start_min_genes` genes train it."""
    positives, negatives = [], []
    gene_counts, n_coding = 0.0, 0
    for bases, _, start, end, strand in _genes_by_chunk(records, genes, k, stride, cfg):
        if cfg.start_model:
            long = end - start >= cfg.start_training_length
            if long.any():
                pos, neg = training_examples(bases, start[long], end[long], strand[long], cfg.table)
                positives.append(pos)
                negatives.append(neg)
        if background is not None:
            gene_counts = gene_counts + coding.gene_word_counts(bases, start, end, strand)
            n_coding += start.size
    start_fit = coding_fit = None
    if sum(len(codon) for _, codon in positives) >= cfg.start_min_genes:
        start_fit = fit(*(tuple(np.concatenate(part) for part in zip(*side)) for side in (positives, negatives)))
    if background is not None and n_coding >= cfg.start_min_genes:
        coding_fit = coding.fit(gene_counts, background, n_coding)
    return start_fit, coding_fit


def no_evidence(n_tokens: int, names: list[str]) -> np.ndarray:
    """Structure probabilities that say nothing: every class equally likely, so every token's frame
    and strand log-ratios (`frame_evidence`) are exactly 0 and no RNA class reaches `rna_floor`.
    A read-only broadcast view: no memory however long the record."""
    return np.broadcast_to(np.float32(1.0 / len(names)), (n_tokens, len(names)))


def decode_genome(records, names: list[str], k: int, stride: int, cfg: DecodeConfig = DecodeConfig(),
                  first_pass: dict[str, list[GeneModel]] | None = None, orf_score=None,
                  start_score=None) -> dict[str, list[GeneModel]]:
    """Gene models per record of a genome, `records` a list of (seqid, fetch, length_bp, probs)
    as for `decode_genes`. With `cfg.start_model` and/or `cfg.coding_model`, a first pass trains
    the genome's start and coding models on its own calls (no reference) and a second pass decodes
    again with them, `cfg.start_rounds` times (once with the coding model alone), each model trained
    on the previous pass's genes. `first_pass` (genes per seqid), when given, stands in for the
    first decode: the network-free decoder starts from the ORF baseline's genes (with `no_evidence`
    probabilities, only the self-trained models then score). `orf_score` and `start_score` join every
    pass (`orf_candidates`)."""
    genes = first_pass if first_pass is not None else {
        rec[0]: decode_genes(*rec, names, k, stride, cfg, orf_score=orf_score, start_score=start_score) for rec in records}
    rounds = cfg.start_rounds if cfg.start_model else (1 if cfg.coding_model else 0)
    background = genome_word_counts(records, k, stride, cfg) if cfg.coding_model and rounds else None
    for _ in range(rounds):
        start_fit, coding_fit = learn_models(records, genes, k, stride, cfg, background)
        if start_fit is None and coding_fit is None:
            break
        genes = {rec[0]: decode_genes(*rec, names, k, stride, cfg, start_fit, coding_fit, orf_score, start_score)
                 for rec in records}
    return genes
