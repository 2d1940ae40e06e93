"""Open reading frames under an NCBI genetic code, found with numpy over whole records.

An ORF runs from a start codon to the first in-frame stop codon after it, stop included, on
either strand and in any of the three frames: the coordinates are 0-based half-open on the
forward strand, so a minus-strand ORF's start codon ends at `end` and its stop codon begins at
`start`. Only complete ORFs are found (a start with no in-frame stop before the record ends is
not one). Stop codons are the table's own (`Bio.Data.CodonTable`), so table 4 (*Mycoplasma*)
reads TGA as tryptophan. Start codons are, by default, the table's starts among ATG, GTG and TTG
(`starts="common"`, the three Prodigal scores): the rare alternative starts of table 11 (CTG,
ATT, ATC, ATA) extend almost every ORF upstream past its real start, and measured with the ORF
baseline they cost F1 (*E. coli* UMN026 0.883 -> 0.858, Afade 0.849 -> 0.825);
`starts="table"` uses every start codon of the table.

The work is vectorised: each base becomes 0-3 (anything else 4), each position a codon code
0-63 (64 when it holds a non-ACGT base), and every start is paired with its stop by one
`searchsorted` per frame; nothing loops over bases in Python.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from functools import lru_cache

import numpy as np


_BASE = np.full(256, 4, dtype=np.uint8)
for _i, _b in enumerate(b"ACGT"):
    _BASE[_b] = _i
    _BASE[ord(chr(_b).lower())] = _i
N_CODES = 65  # 64 codons and "contains a non-ACGT base"


@dataclass(frozen=True)
class GeneticCode:
    table: int
    starts: np.ndarray  # (65,) bool: codon code is a start codon
    stops: np.ndarray  # (65,) bool: codon code is a stop codon


def _code_of(codon: str) -> int:
    a, b, c = (int(_BASE[ord(x)]) for x in codon.upper())
    return a * 16 + b * 4 + c


COMMON_STARTS = ("ATG", "GTG", "TTG")


@lru_cache(maxsize=None)
def genetic_code(table: int, starts: str = "common") -> GeneticCode:
    """Start and stop codon masks of NCBI translation table `table`; GenolongError if unknown.
    `starts`: "common" (the table's starts among ATG, GTG, TTG) or "table" (all of them)."""
    from Bio.Data import CodonTable

    from genolong.data.structure import check_transl_table

    t = CodonTable.unambiguous_dna_by_id[check_transl_table(table, "genetic code")]
    if starts not in ("common", "table"):
        raise ValueError(f"starts must be 'common' or 'table', got {starts!r}")
    start_codons = [c for c in t.start_codons if starts == "table" or c in COMMON_STARTS]
    start_mask = np.zeros(N_CODES, dtype=bool)
    stops = np.zeros(N_CODES, dtype=bool)
    start_mask[[_code_of(c) for c in start_codons]] = True
    stops[[_code_of(c) for c in t.stop_codons]] = True
    return GeneticCode(int(table), start_mask, stops)


def encode_bases(seq: bytes | str) -> np.ndarray:
    """(n,) uint8: A=0, C=1, G=2, T=3, anything else 4 (case-insensitive)."""
    if isinstance(seq, str):
        seq = seq.encode("ascii", "replace")
    return _BASE[np.frombuffer(seq, dtype=np.uint8)]


def reverse_complement_bases(bases: np.ndarray) -> np.ndarray:
    """Reverse complement of `encode_bases` output (4 stays 4)."""
    rc = bases[::-1].copy()
    ok = rc < 4
    rc[ok] = 3 - rc[ok]
    return rc


def codon_codes(bases: np.ndarray) -> np.ndarray:
    """(n - 2,) int16: the codon starting at each position, 64 where it holds a non-ACGT base."""
    if bases.size < 3:
        return np.zeros(0, dtype=np.int16)
    a, b, c = bases[:-2].astype(np.int16), bases[1:-1].astype(np.int16), bases[2:].astype(np.int16)
    codes = a * 16 + b * 4 + c
    codes[(a > 3) | (b > 3) | (c > 3)] = 64
    return codes


@dataclass
class Orfs:
    """ORFs of one record as parallel arrays, forward-strand coordinates, 0-based half-open."""

    start: np.ndarray  # (n,) int64
    end: np.ndarray  # (n,) int64
    strand: np.ndarray  # (n,) int8: +1 or -1
    stop_id: np.ndarray  # (n,) int64: ORFs sharing a stop codon share this id

    def __len__(self) -> int:
        return int(self.start.size)

    @property
    def length(self) -> np.ndarray:
        return self.end - self.start

    def take(self, index) -> "Orfs":
        return Orfs(self.start[index], self.end[index], self.strand[index], self.stop_id[index])

    @property
    def five_prime(self) -> np.ndarray:
        """First base of each start codon."""
        return np.where(self.strand > 0, self.start, self.end - 1)

    @property
    def three_prime(self) -> np.ndarray:
        """Last base of each stop codon."""
        return np.where(self.strand > 0, self.end - 1, self.start)


def _one_strand(codes: np.ndarray, code: GeneticCode) -> tuple[np.ndarray, np.ndarray]:
    """(start codon position, stop codon position) of every ORF read left to right in `codes`."""
    stop_pos = np.flatnonzero(code.stops[codes])
    start_pos = np.flatnonzero(code.starts[codes])
    starts, stops = [], []
    for frame in range(3):
        stop_f = stop_pos[stop_pos % 3 == frame]
        start_f = start_pos[start_pos % 3 == frame]
        nxt = np.searchsorted(stop_f, start_f, side="left")  # the first in-frame stop at or after the start
        ok = nxt < stop_f.size
        starts.append(start_f[ok])
        stops.append(stop_f[nxt[ok]])
    return np.concatenate(starts), np.concatenate(stops)


def find_orfs(seq: bytes | str | np.ndarray, table: int = 11, min_length: int = 0, longest_only: bool = False,
              starts: str = "common") -> Orfs:
    """Every ORF of `seq` (bytes, or `encode_bases` output) of at least `min_length` bp, stop
    included; `longest_only` keeps one per stop codon, from its most upstream start."""
    code = genetic_code(table, starts)
    bases = seq if isinstance(seq, np.ndarray) else encode_bases(seq)
    n = int(bases.size)
    parts = []
    for sign, strand_bases in ((1, bases), (-1, reverse_complement_bases(bases))):
        first, stop = _one_strand(codon_codes(strand_bases), code)
        lo, hi = first, stop + 3  # in this strand's own left-to-right coordinates
        if sign < 0:
            lo, hi = n - hi, n - lo
        stop_key = stop if sign > 0 else -stop - 1  # distinct ids per strand
        parts.append((lo, hi, np.full(lo.size, sign, dtype=np.int8), stop_key))
    start = np.concatenate([p[0] for p in parts]).astype(np.int64)
    end = np.concatenate([p[1] for p in parts]).astype(np.int64)
    strand = np.concatenate([p[2] for p in parts])
    stop_key = np.concatenate([p[3] for p in parts]).astype(np.int64)
    keep = end - start >= min_length
    orfs = Orfs(start[keep], end[keep], strand[keep], stop_key[keep])
    if longest_only and len(orfs):
        order = np.lexsort((-orfs.length, orfs.stop_id))
        first = np.unique(orfs.stop_id[order], return_index=True)[1]
        orfs = orfs.take(order[first])
    _, orfs.stop_id = np.unique(orfs.stop_id, return_inverse=True)
    return orfs


class OverlapSet:
    """Accepted intervals; `add` refuses one that overlaps any accepted interval by > `max_overlap` bp."""

    def __init__(self, max_overlap: int = 60):
        self.max_overlap = max_overlap
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._longest = 0

    def overlap(self, start: int, end: int) -> int:
        """Largest overlap in bp of [start, end) with an accepted interval."""
        lo = bisect.bisect_right(self._starts, start - self._longest)
        hi = bisect.bisect_left(self._starts, end)
        best = 0
        for i in range(lo, hi):
            best = max(best, min(end, self._ends[i]) - max(start, self._starts[i]))
        return best

    def add(self, start: int, end: int) -> bool:
        if self.overlap(start, end) > self.max_overlap:
            return False
        i = bisect.bisect_left(self._starts, start)
        self._starts.insert(i, start)
        self._ends.insert(i, end)
        self._longest = max(self._longest, end - start)
        return True


def greedy_select(start: np.ndarray, end: np.ndarray, priority: np.ndarray, max_overlap: int = 60) -> np.ndarray:
    """Indices accepted when taking intervals in decreasing `priority` and dropping any that
    overlaps an accepted one by more than `max_overlap` bp (ties: the earlier index first)."""
    accepted = OverlapSet(max_overlap)
    order = np.argsort(-np.asarray(priority, dtype=np.float64), kind="stable")
    keep = [i for i in order.tolist() if accepted.add(int(start[i]), int(end[i]))]
    return np.array(sorted(keep), dtype=np.int64)
