"""Pseudogene fragments: called CDS that are pieces of a broken gene, recognised by homology.

A frameshift or a premature stop splits a gene into reading-frame fragments; each is an ORF
with good codon usage, so ab initio callers (this decoder, Prodigal) call them as genes, and
RefSeq annotates them as one `pseudogene` without a protein. Against the training genomes'
proteins (`annotate/homology.py`, the index the function head already searches) a fragment
shows what it is: its best hit is nearly identical (identity >= `min_identity`), the alignment
covers at most `max_coverage` of the hit's length, and the call itself is mostly aligned
(>= `min_query_coverage`: a gene whose own ends reach beyond the alignment is another protein
sharing a domain, not a piece of this one). A missing N-terminus that the call's own ORF could
reach with an earlier start (no stop codon in frame before it) counts as covered: that is a
late start, not a broken gene.

The note says how the gene broke, as RefSeq's do: two flagged neighbours on one strand (at most
`max_gap` bp apart) aligned to successive, hardly overlapping parts (`max_pair_overlap` of the
shorter) of one target are `frameshifted` when their frames differ and `internal stop` when they
share one; a lone fragment is `partial`. The neighbour evidence only names the break: flagging
on it alone (at identity 0.7 or 0.9) cost more real genes than it removed fragments on the
training genomes.

A flagged call becomes biotype `pseudogene` with its note, written as RefSeq writes pseudogenes
(`annotate/formats.py`) and not counted as a protein-coding call by `genolong evaluate`.

Thresholds chosen on the training genomes, never on a test genome: each training genome's
network-free calls (`evaluate/no_network.py`), searched against the other training genomes of
its clade (mycoides GM12 / mm5713 / B237, E. coli Sakai / IAI39), every flagged call dropped,
protein-coding F1 against the genome's own annotation (its annotated pseudogenes are what the
dropped fragments should be; `benchmarks/pseudogenes.py`). The grid (identity 0.7-0.95,
coverage 0.6-0.95, query coverage 0.5-0.9, with and without the earlier-start rule; an earlier
grid also tried the pair rule as a flag of its own) maximised the mean gain over the five genomes: +0.012 (GM12 0.979 -> 0.984, mm5713 0.903 -> 0.921, B237 0.877 ->
0.911, Sakai 0.901 -> 0.902, IAI39 0.917 -> 0.918); without the earlier-start rule +0.010,
with E. coli losing.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

from genolong.annotate.homology import Hit, HomologyIndex
from genolong.errors import GenolongError


@dataclass(frozen=True)
class PseudogeneConfig:
    min_identity: float = 0.95
    max_coverage: float = 0.9
    min_query_coverage: float = 0.7
    max_gap: int = 300  # bp between neighbouring fragments' ends (negative: they overlap)
    max_pair_overlap: float = 0.2  # of the shorter aligned target span
    top_hits: int = 5  # the hits of each fragment a shared target is looked for in


def _target_length(index: HomologyIndex, hit: Hit) -> int:
    return max(len(index.proteins[hit.target].sequence), 1)


def _partial(hits: Sequence[Hit], query_length: int, upstream: int, index: HomologyIndex,
             cfg: PseudogeneConfig) -> bool:
    """A near-identical best hit covered only in part, by a call that is mostly aligned; an
    N-terminal part the call's own ORF could reach with an earlier start (`upstream` codons
    before the next in-frame stop) counts as covered: that call has a late start, not a break."""
    if not hits:
        return False
    best = hits[0]
    reachable = max(0, best.target_start - best.query_start - upstream)
    covered = (best.target_end - reachable) / _target_length(index, best)
    aligned = (best.query_end - best.query_start) / max(query_length, 1)
    return best.identity >= cfg.min_identity and covered <= cfg.max_coverage and aligned >= cfg.min_query_coverage


def _successive(up: Sequence[Hit], down: Sequence[Hit], cfg: PseudogeneConfig) -> bool:
    """Do the upstream and downstream fragments (along their strand) hit successive parts of one target?"""
    later = {}
    for h in down[: cfg.top_hits]:
        later.setdefault(h.target, h)
    for a in up[: cfg.top_hits]:
        b = later.get(a.target)
        if b is None:
            continue
        overlap = min(a.target_end, b.target_end) - max(a.target_start, b.target_start)
        shorter = min(a.target_end - a.target_start, b.target_end - b.target_start)
        if overlap <= cfg.max_pair_overlap * max(shorter, 1) and a.target_start < b.target_start:
            return True
    return False


def flag(calls: Sequence, hits: Sequence[Sequence[Hit]], query_lengths: Sequence[int], index: HomologyIndex,
         cfg: PseudogeneConfig | None = None, upstream: Sequence[int] | None = None) -> list[str | None]:
    """Per protein-coding call (objects with seqid, start, end, strand), its hits (best first),
    its protein's length and the codons its ORF has before its start (`upstream_codons`; None:
    0 each): the note of a pseudogene fragment (`frameshifted`, `internal stop`, `partial`), or
    None for a gene."""
    cfg = cfg or PseudogeneConfig()
    upstream = upstream if upstream is not None else [0] * len(calls)
    notes: list[str | None] = ["partial" if _partial(hs, n, u, index, cfg) else None
                               for hs, n, u in zip(hits, query_lengths, upstream)]
    by_strand: dict[tuple[str, str], list[int]] = {}
    for i, c in enumerate(calls):
        if notes[i] is not None:
            by_strand.setdefault((c.seqid, c.strand), []).append(i)
    for (_, strand), rows in by_strand.items():
        rows.sort(key=lambda i: (calls[i].start, calls[i].end))
        for a, b in zip(rows, rows[1:]):
            if calls[b].start - calls[a].end > cfg.max_gap:
                continue
            up, down = (a, b) if strand == "+" else (b, a)
            if _successive(hits[up], hits[down], cfg):
                same_frame = (calls[b].end - calls[a].end) % 3 == 0  # calls are whole codons
                notes[a] = notes[b] = "internal stop" if same_frame else "frameshifted"
    return notes


def apply(calls: Sequence, notes: Sequence[str | None]) -> int:
    """Make the flagged calls pseudogenes (biotype `pseudogene`, `note`); returns how many."""
    n = 0
    for c, note in zip(calls, notes):
        if note is not None:
            c.biotype, c.note = "pseudogene", note
            n += 1
    return n


def flag_calls(genome, calls: Sequence, table: int, index: HomologyIndex, hits: Sequence | None = None,
               threads: int = 1, cfg: PseudogeneConfig | None = None) -> list[str | None]:
    """`flag` on a genome's protein-coding calls, each translated as annotate writes it; `hits`
    (one list per call, as the function head's search found them) are searched for when not given
    (the network-free row of `genolong evaluate`), with the same search."""
    from genolong.annotate.function import translate_gene

    proteins = [translate_gene(genome, c, table) for c in calls]
    if hits is None:
        hits = index.search(proteins, threads=threads)
    upstream = [upstream_codons(genome, c, table) for c in calls]
    return flag(calls, hits, [len(p) for p in proteins], index, cfg, upstream)


UPSTREAM_SCAN = 600  # codons looked at before a call's start (more than any missing N-terminus that matters)


def upstream_codons(genome, call, table: int) -> int:
    """Codons before the call's start, in its frame and on its strand, up to the first stop codon
    or the record's end (at most UPSTREAM_SCAN): how far an earlier start could move it."""
    from Bio.Data.CodonTable import unambiguous_dna_by_id
    from Bio.Seq import reverse_complement

    stops = set(unambiguous_dna_by_id[table].stop_codons)
    span = 3 * UPSTREAM_SCAN
    if call.strand == "+":
        a = call.start - (call.start - max(0, call.start - span)) // 3 * 3
        bases = genome.fetch(call.seqid, a, call.start).decode("ascii")
    else:
        b = call.end + (min(genome.lengths[call.seqid], call.end + span) - call.end) // 3 * 3
        bases = reverse_complement(genome.fetch(call.seqid, call.end, b).decode("ascii"))
    codons = [bases[i:i + 3] for i in range(len(bases) - 3, -1, -3)]  # the one next to the start first
    for n, codon in enumerate(codons):
        if codon.upper() in stops:
            return n
    return len(codons)


def record(index: HomologyIndex, source: str, cfg: PseudogeneConfig | None = None) -> dict:
    """What a run's function file keeps of the pass, so `genolong evaluate` can give the
    network-free row the same one (`load_record`)."""
    return {"index": str(Path(source).resolve()), "sha256": index.sha256, "config": asdict(cfg or PseudogeneConfig())}


def load_record(rec: dict, where: str) -> tuple[HomologyIndex, PseudogeneConfig]:
    """The index and thresholds a `record` names; the index must be the one the run searched."""
    try:
        cfg = PseudogeneConfig(**rec.get("config", {}))
        path, sha256 = str(rec["index"]), str(rec.get("sha256") or "")
    except (TypeError, KeyError, AttributeError) as exc:
        raise GenolongError(f"{where}: unreadable pseudogene pass record ({exc}); annotate again with this genolong") \
            from None
    index = HomologyIndex.load(path)
    if sha256 and index.sha256 != sha256:
        raise GenolongError(f"{where}: the pseudogene pass searched {path} with sha256 {sha256[:12]}, "
                            f"but that file now has {index.sha256[:12]}")
    return index, cfg


def flag_predicted(genome, predicted: Sequence, table: int, predictor, function) -> dict | None:
    """annotate's pass: flag the protein-coding calls of `predicted` with the hits the function
    head's search found (`function.predicted.hits`, in the calls' order) and say how many; the
    pass's `record`, or None without a homology index."""
    coding = [g for g in predicted if g.biotype == "protein_coding"]
    if predictor.index is None or function.predicted.hits is None:
        print("pseudogenes: no homology index, so no pseudogene fragments flagged", file=sys.stderr)
        return None
    cfg = PseudogeneConfig()
    notes = flag_calls(genome, coding, table, predictor.index, function.predicted.hits, cfg=cfg)
    print(f"pseudogenes: {apply(coding, notes)} of {len(coding)} protein-coding call(s) are fragments of a broken "
          f"gene (written as pseudogenes)", file=sys.stderr)
    return record(predictor.index, predictor.index_source, cfg)
