"""Train/val/test splits as contiguous regions, and the verbatim-leak check.

SPEC syntax: `MODE[:key=value;key=value...]`, coordinates 0-based half-open (as BED), sizes in
bp with an optional k/M suffix (`10k` = 10,000).

- `contiguous[:val=0.1;test=0.1;gap=10k]` (the default, `contiguous`): in every record, the
  last `val + test` fraction is held out as `train | gap | val | gap | test | gap`; the final gap
  keeps circular chromosomes from touching train across the origin.
- `records:val=ID[,ID...];test=ID[,ID...]`: whole records; every other record is train.
- `regions:val=SEQID:START-END[,...];test=SEQID:START-END[,...][;gap=10k]`: explicit held-out
  regions (e.g. inside a chloroplast's single-copy regions); train is everything else, minus
  `gap` bp on each side of every held-out region.

A region keeps the tokens whose whole span `[i*stride, i*stride + k)` lies inside it.

Leak check (`check_leak`): every 1 kbp window at *every* offset of val/test is hashed (a
vectorised polynomial rolling hash mod 2^64), together with its reverse complement; train is cut
into aligned 1 kbp tiles. A train tile found among the held-out hashes is a verbatim (or
reverse-complement) copy, so any shared stretch of >= 2 kbp is always caught. `prepare` refuses a
split when more than `max_leak` (default 1%) of held-out bp is covered by such copies, and
prints a warning for any smaller, nonzero leak (real genomes have a few repeated rRNA operons).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from genolong.errors import GenolongError
from genolong.data.tokenizer import KmerTokenizer

SPLITS = ("train", "val", "test")


def within_regions(regions):
    """A predicate: does an object with `.seqid`, `.start`, `.end` lie wholly inside one of the
    `(seqid, start, end)` regions? (Genes a baseline trains on, genes an evaluation scores.)"""
    by_seq: dict[str, list[tuple[int, int]]] = {}
    for seqid, start, end in regions:
        by_seq.setdefault(seqid, []).append((int(start), int(end)))
    return lambda item: any(s <= item.start and item.end <= e for s, e in by_seq.get(item.seqid, ()))
DEFAULT_SPEC = "contiguous"
LEAK_WINDOW = 1000


@dataclass(frozen=True)
class Region:
    seqid: str
    tok_start: int
    tok_end: int
    start: int  # bp, half-open
    end: int

    @property
    def n_tokens(self) -> int:
        return self.tok_end - self.tok_start


@dataclass(frozen=True)
class SplitRegion:
    split: str
    region: Region


def _size(text: str, spec: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmM]?)(?:[bB][pP])?\s*", text)
    if not m:
        raise GenolongError(f"--split {spec!r}: bad size {text!r} (e.g. 10000, 10k, 1M)")
    mult = {"": 1, "k": 1_000, "m": 1_000_000}[m.group(2).lower()]
    return int(float(m.group(1)) * mult)


def _options(spec: str) -> tuple[str, dict[str, str]]:
    mode, _, rest = spec.partition(":")
    opts: dict[str, str] = {}
    for item in filter(None, (x.strip() for x in rest.split(";"))):
        key, eq, value = item.partition("=")
        if not eq:
            raise GenolongError(f"--split {spec!r}: expected key=value, got {item!r}")
        opts[key.strip()] = value.strip()
    return mode.strip(), opts


def _check_keys(spec: str, opts: dict, allowed: set[str]) -> None:
    extra = set(opts) - allowed
    if extra:
        raise GenolongError(f"--split {spec!r}: unknown option(s) {', '.join(sorted(extra))}; allowed: {', '.join(sorted(allowed))}")


def _bp_regions(spec: str, lengths: dict[str, int]) -> list[tuple[str, str, int, int]]:
    """(split, seqid, start, end) in bp, before token rounding."""
    mode, opts = _options(spec)
    out: list[tuple[str, str, int, int]] = []
    if mode == "contiguous":
        _check_keys(spec, opts, {"val", "test", "gap"})
        try:
            fval, ftest = float(opts.get("val", 0.1)), float(opts.get("test", 0.1))
        except ValueError:
            raise GenolongError(f"--split {spec!r}: val and test must be fractions") from None
        gap = _size(opts.get("gap", "10k"), spec)
        if fval < 0 or ftest < 0 or fval + ftest >= 1:
            raise GenolongError(f"--split {spec!r}: val and test fractions must be >= 0 and sum to < 1")
        for seqid, length in lengths.items():
            nval, ntest = int(length * fval), int(length * ftest)
            n_held = (nval > 0) + (ntest > 0)
            ngaps = n_held + 1 if n_held else 0
            if length - ngaps * gap <= nval + ntest:
                raise GenolongError(f"--split {spec!r}: record {seqid} ({length} bp) is too short for this split with gap {gap}")
            train_end = length - nval - ntest - ngaps * gap
            out.append(("train", seqid, 0, train_end))
            pos = train_end + gap
            if nval:
                out.append(("val", seqid, pos, pos + nval))
                pos += nval + (gap if ntest else 0)
            if ntest:
                out.append(("test", seqid, pos, pos + ntest))
        return out
    if mode == "records":
        _check_keys(spec, opts, {"val", "test"})
        held: dict[str, str] = {}
        for split in ("val", "test"):
            for seqid in filter(None, (x.strip() for x in opts.get(split, "").split(","))):
                if seqid not in lengths:
                    raise GenolongError(f"--split {spec!r}: record {seqid!r} is not in the genome (records: {', '.join(list(lengths)[:5])})")
                if seqid in held:
                    raise GenolongError(f"--split {spec!r}: record {seqid} is in both {held[seqid]} and {split}")
                held[seqid] = split
        if len(held) == len(lengths):
            raise GenolongError(f"--split {spec!r}: no record left for training")
        return [(held.get(s, "train"), s, 0, n) for s, n in lengths.items()]
    if mode == "regions":
        _check_keys(spec, opts, {"val", "test", "gap"})
        gap = _size(opts.get("gap", "10k"), spec)
        held_regions: list[tuple[str, str, int, int]] = []
        for split in ("val", "test"):
            for item in filter(None, (x.strip() for x in opts.get(split, "").split(","))):
                m = re.fullmatch(r"(.+):(\d+)-(\d+)", item)
                if not m:
                    raise GenolongError(f"--split {spec!r}: bad region {item!r}, expected SEQID:START-END")
                seqid, s, e = m.group(1), int(m.group(2)), int(m.group(3))
                if seqid not in lengths:
                    raise GenolongError(f"--split {spec!r}: record {seqid!r} is not in the genome")
                if not 0 <= s < e <= lengths[seqid]:
                    raise GenolongError(f"--split {spec!r}: region {item} outside record {seqid} (length {lengths[seqid]})")
                held_regions.append((split, seqid, s, e))
        if not held_regions:
            raise GenolongError(f"--split {spec!r}: give at least one val= or test= region")
        for seqid, length in lengths.items():
            mine = sorted((s, e, sp) for sp, sq, s, e in held_regions if sq == seqid)
            for (s1, e1, sp1), (s2, e2, sp2) in zip(mine, mine[1:]):
                if s2 < e1:
                    raise GenolongError(f"--split {spec!r}: {sp1} region {seqid}:{s1}-{e1} overlaps {sp2} region {seqid}:{s2}-{e2}")
            pos = 0
            for s, e, sp in mine:
                if s - gap > pos:
                    out.append(("train", seqid, pos, s - gap))
                out.append((sp, seqid, s, e))
                pos = max(pos, e + gap)
            if pos < length:
                out.append(("train", seqid, pos, length))
        return out
    raise GenolongError(f"--split {spec!r}: unknown mode {mode!r}; expected contiguous, records or regions")


def make_split(spec: str | None, lengths: dict[str, int], tok: KmerTokenizer) -> list[SplitRegion]:
    """Parse SPEC into token-aligned regions; GenolongError on a bad spec or an empty split."""
    spec = spec or DEFAULT_SPEC
    out = []
    for split, seqid, start, end in _bp_regions(spec, lengths):
        a, b = tok.token_range(start, min(end, lengths[seqid]))
        if b > a:
            out.append(SplitRegion(split, Region(seqid, a, b, start, end)))
    if not any(r.split == "train" for r in out):
        raise GenolongError(f"--split {spec!r}: no training region left")
    return out


# ---- leak check -------------------------------------------------------------------------------
_BASE = np.uint64(0x9E3779B97F4A7C15 | 1)  # odd, so it is invertible mod 2^64
_CODE = np.zeros(256, dtype=np.uint64)
for _i, _c in enumerate(b"ACGT"):
    _CODE[_c] = _i + 1
    _CODE[_c + 32] = _i + 1
_RC = np.zeros(256, dtype=np.uint64)
for _c, _r in zip(b"ACGT", b"TGCA"):
    _RC[_c] = _CODE[_r]
    _RC[_c + 32] = _CODE[_r]


def _pow(n: int) -> np.ndarray:
    p = np.full(n, _BASE, dtype=np.uint64)
    p[0] = 1
    return np.cumprod(p, dtype=np.uint64)  # wraps mod 2^64 on purpose


def _window_hashes(codes: np.ndarray, w: int) -> np.ndarray:
    """Polynomial hash of every length-w window of `codes` (uint64), mod 2^64."""
    n = codes.size
    if n < w:
        return np.empty(0, dtype=np.uint64)
    with np.errstate(over="ignore"):
        powers = _pow(n + 1)
        inv = pow(int(_BASE), -1, 1 << 64)
        inv_powers = _pow_inv(n, inv)
        prefix = np.concatenate([[np.uint64(0)], np.cumsum(codes * inv_powers, dtype=np.uint64)])
        # prefix[j] * B^j == sum_{i<j} c_i B^(j-1-i); window hash h(i) = P(i+w) - P(i) B^w
        full = prefix * powers
        return full[w:] - full[: n - w + 1] * powers[w]


def _pow_inv(n: int, inv: int) -> np.ndarray:
    p = np.full(n, np.uint64(inv), dtype=np.uint64)
    return np.cumprod(p, dtype=np.uint64)  # inv^(i+1)


_CHUNK = 2_000_000
# Held-out windows (both strands) beyond which the hash table is sampled, so the check's memory
# stays flat for a 250 Mbp chromosome instead of 16 bytes per held-out bp.
_MAX_HELD_HASHES = 4_000_000
_MIX = np.uint64(0x9E3779B97F4A7C15)


def _sampled(h: np.ndarray, rate: int) -> np.ndarray:
    """Keep 1 in `rate` hashes, chosen by the hash itself: a train tile and a held-out window with
    the same sequence are kept or dropped together, so sampling loses no match it keeps."""
    if rate == 1:
        return np.ones(h.shape, dtype=bool)
    with np.errstate(over="ignore"):
        mixed = (h * _MIX) >> np.uint64(32)
    return mixed % np.uint64(rate) == 0


def _member(h: np.ndarray, table: np.ndarray) -> np.ndarray:
    """`np.isin` against a sorted unique table, without re-sorting the table for every chunk."""
    if table.size == 0:
        return np.zeros(h.shape, dtype=bool)
    pos = np.minimum(np.searchsorted(table, h), table.size - 1)
    return table[pos] == h


def _held_hashes(fetch: Callable[[str, int, int], bytes], regions: list[SplitRegion], w: int,
                 rate: int = 1) -> np.ndarray:
    parts = []
    for r in regions:
        s, e = r.region.start, r.region.end
        for a in range(s, e - w + 1, _CHUNK):
            b = min(e, a + _CHUNK + w - 1)
            raw = np.frombuffer(fetch(r.region.seqid, a, b), dtype=np.uint8)
            codes = _CODE[raw]
            h = _window_hashes(codes, w)
            n_bad = np.concatenate([[0], np.cumsum(codes == 0)])
            valid = (n_bad[w:] - n_bad[: n_bad.size - w]) == 0  # windows free of N/IUPAC
            parts.append(h[valid & _sampled(h, rate)])
            rc = _RC[raw[::-1]]
            h_rc = _window_hashes(rc, w)
            parts.append(h_rc[valid[::-1] & _sampled(h_rc, rate)])
    return np.unique(np.concatenate(parts)) if parts else np.empty(0, dtype=np.uint64)


@dataclass(frozen=True)
class LeakReport:
    held_bp: int
    train_tiles: int
    leaked_tiles: int  # an estimate (sampled matches x sampling) when sampling > 1
    window: int
    sampling: int = 1

    @property
    def leaked_fraction(self) -> float:
        """Held-out bp estimated to be covered by verbatim train copies."""
        return min(1.0, self.leaked_tiles * self.window / self.held_bp) if self.held_bp else 0.0


def check_leak(fetch: Callable[[str, int, int], bytes], regions: list[SplitRegion], w: int = LEAK_WINDOW) -> LeakReport:
    held = [r for r in regions if r.split != "train"]
    train = [r for r in regions if r.split == "train"]
    held_bp = sum(r.region.end - r.region.start for r in held)
    rate = max(1, -(-2 * held_bp // _MAX_HELD_HASHES))
    table = _held_hashes(fetch, held, w, rate)
    n_tiles = leaked = 0
    for r in train:
        for a in range(r.region.start, r.region.end - w + 1, _CHUNK):
            b = min(r.region.end, a + _CHUNK)
            raw = np.frombuffer(fetch(r.region.seqid, a, b), dtype=np.uint8)
            m = raw.size // w
            if m == 0:
                continue
            tiles = _CODE[raw[: m * w]].reshape(m, w)  # (tiles, w)
            ok = (tiles != 0).all(axis=1)
            with np.errstate(over="ignore"):
                weights = _pow(w)[::-1]
                h = (tiles * weights).sum(axis=1, dtype=np.uint64)
            n_tiles += int(ok.sum())
            tested = h[ok & _sampled(h, rate)]
            leaked += int(_member(tested, table).sum())
    return LeakReport(held_bp, n_tiles, leaked * rate, w, rate)
