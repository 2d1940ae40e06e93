"""k-mer tokenizer: DNA bytes -> integer token ids, fully vectorised in numpy.

Ids 0..4 are the specials `[PAD] [UNK] [CLS] [SEP] [MASK]`; id `5 + code(kmer)` is a k-mer, where
`code` reads the k-mer as a base-4 number with A=0, C=1, G=2, T=3 (so ids follow the
lexicographic order of the k-mers). Any k-mer holding N or another IUPAC code becomes `[UNK]`;
lowercase (soft-masked) bases read as uppercase.

Token i covers bp `[i*stride, i*stride + k)`; a record of `length` bp yields
`(length - k) // stride + 1` tokens (0 if shorter than k), so a trailing partial k-mer is dropped.

Encoding runs over fixed-size chunks, so temporary memory stays a few MB whatever the input
length; `encode_into` fills a caller's array (e.g. a memory-mapped `.npy`) without a copy.
"""

from __future__ import annotations

import hashlib
import json
from typing import Callable, Iterator

import numpy as np

from genolong.errors import GenolongError

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
ALPHABET = "ACGT"
_INVALID = 4
# Tokens per internal chunk: bounds the temporaries to ~chunk * (k + 2 * itemsize) bytes.
_CHUNK_TOKENS = 1 << 20

_BASE_CODE = np.full(256, _INVALID, dtype=np.uint8)
for _i, _b in enumerate(ALPHABET.encode()):
    _BASE_CODE[_b] = _i
    _BASE_CODE[_b + 32] = _i  # lowercase


def _as_uint8(seq: bytes | bytearray | memoryview | str | np.ndarray) -> np.ndarray:
    if isinstance(seq, str):
        seq = seq.encode("ascii", errors="replace")
    if isinstance(seq, np.ndarray):
        return seq.view(np.uint8).reshape(-1)
    return np.frombuffer(seq, dtype=np.uint8)


def centre_token_range(start: int, end: int, k: int, stride: int, n_tokens: int) -> tuple[int, int]:
    """Tokens (half-open range, within `n_tokens`) whose centre base `i*stride + k//2` lies in bp
    `[start, end)`."""
    c = k // 2
    a = max(0, -(-(int(start) - c) // stride))
    b = min(n_tokens, -(-(int(end) - c) // stride))
    return a, max(a, b)


class KmerTokenizer:
    """Non-overlapping (stride == k) or overlapping (stride < k) k-mer tokens."""

    pad_id = 0
    unk_id = 1
    cls_id = 2
    sep_id = 3
    mask_id = 4
    n_special = len(SPECIALS)

    def __init__(self, k: int = 6, stride: int | None = None):
        stride = k if stride is None else stride
        if not (isinstance(k, (int, np.integer)) and 1 <= k <= 15):
            raise ValueError(f"k must be an integer in 1..15, got {k!r}")
        if not (isinstance(stride, (int, np.integer)) and stride >= 1):
            raise ValueError(f"stride must be a positive integer, got {stride!r}")
        self.k = int(k)
        self.stride = int(stride)
        self.vocab_size = self.n_special + 4**self.k
        self.dtype = np.dtype(np.uint16 if self.vocab_size <= 1 << 16 else np.uint32)
        self._rc_map: np.ndarray | None = None
        self._kmer_table: np.ndarray | None = None

    def __repr__(self) -> str:
        return f"KmerTokenizer(k={self.k}, stride={self.stride})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KmerTokenizer) and (self.k, self.stride) == (other.k, other.stride)

    def __hash__(self) -> int:
        return hash((self.k, self.stride))

    # ---- geometry -------------------------------------------------------------------------
    def n_tokens(self, length_bp: int) -> int:
        return 0 if length_bp < self.k else (int(length_bp) - self.k) // self.stride + 1

    def token_start(self, i):
        """First bp of token i (works on ints and numpy arrays)."""
        return i * self.stride

    def token_span(self, i) -> tuple:
        """Half-open bp span `[start, end)` of token i."""
        start = i * self.stride
        return start, start + self.k

    def centre_range(self, start: int, end: int, n_tokens: int) -> tuple[int, int]:
        """Half-open token range whose centre base `i*stride + k//2` lies in bp `[start, end)`:
        the rule that gives a token the label of the gene part covering it."""
        return centre_token_range(start, end, self.k, self.stride, n_tokens)

    def token_range(self, start: int, end: int) -> tuple[int, int]:
        """Half-open token range whose whole spans lie inside bp `[start, end)`."""
        tok_start = -(-int(start) // self.stride)
        tok_end = max(tok_start, (int(end) - self.k) // self.stride + 1)
        return tok_start, tok_end

    # ---- encoding -------------------------------------------------------------------------
    def encode(self, seq: bytes | str | np.ndarray) -> np.ndarray:
        """Token ids of a whole sequence: shape (n_tokens(len(seq)),), uint16 when it fits."""
        codes = _as_uint8(seq)
        out = np.empty(self.n_tokens(codes.size), dtype=self.dtype)
        self.encode_into(codes, out)
        return out

    def encode_into(self, seq: bytes | str | np.ndarray, out: np.ndarray) -> np.ndarray:
        """Write the tokens of `seq` into `out` (length n_tokens(len(seq))) chunk by chunk."""
        raw = _as_uint8(seq)
        n = self.n_tokens(raw.size)
        if out.shape != (n,):
            raise ValueError(f"out has shape {out.shape}, expected ({n},)")
        for t0, t1, bp0, bp1 in self._chunks(n, _CHUNK_TOKENS):
            out[t0:t1] = self._encode_chunk(raw[bp0:bp1], t1 - t0)
        return out

    def _chunks(self, n_tokens: int, chunk_tokens: int) -> Iterator[tuple[int, int, int, int]]:
        """(first token, end token, first bp, end bp) of consecutive chunks of `chunk_tokens` tokens."""
        for t0 in range(0, n_tokens, chunk_tokens):
            t1 = min(n_tokens, t0 + chunk_tokens)
            yield t0, t1, t0 * self.stride, (t1 - 1) * self.stride + self.k

    def encode_record(
        self,
        fetch: Callable[[int, int], bytes],
        length_bp: int,
        out: np.ndarray,
        chunk_tokens: int = 4 * _CHUNK_TOKENS,
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Tokenize a record read piecewise via `fetch(start, end) -> bytes` into `out`.

        Only `chunk_tokens * stride` bp of sequence are held at once, so a 250 Mbp chromosome
        streams from disk into a memory-mapped `out`. `progress(n_bp)` is called per chunk.
        """
        n = self.n_tokens(length_bp)
        if out.shape != (n,):
            raise ValueError(f"out has shape {out.shape}, expected ({n},)")
        for t0, t1, bp0, bp1 in self._chunks(n, chunk_tokens):
            self.encode_into(fetch(bp0, bp1), out[t0:t1])
            if progress is not None:
                progress(min(t1 * self.stride, length_bp) - bp0)
        return out

    def _encode_chunk(self, raw: np.ndarray, n: int) -> np.ndarray:
        codes = _BASE_CODE[raw]  # (bp,) 0..3, or 4 for anything that is not ACGT
        ids = np.zeros(n, dtype=self.dtype)
        bad = np.zeros(n, dtype=np.uint8)
        s, last = self.stride, (n - 1) * self.stride + 1
        for j in range(self.k):
            col = codes[j : j + last : s]  # base j of every k-mer, a strided view
            ids <<= 2
            ids |= col  # an invalid code pollutes high bits; those tokens become [UNK] below
            bad |= col
        ids += self.n_special
        ids[bad >= _INVALID] = self.unk_id
        return ids

    # ---- decoding -------------------------------------------------------------------------
    @property
    def kmer_table(self) -> np.ndarray:
        """(vocab_size, k) uint8 ASCII of every token; specials render as N (PAD as '-')."""
        if self._kmer_table is None:
            codes = np.arange(4**self.k, dtype=np.int64)
            digits = (codes[:, None] >> (2 * np.arange(self.k - 1, -1, -1))) & 3  # (4^k, k)
            letters = np.frombuffer(ALPHABET.encode(), dtype=np.uint8)[digits]
            specials = np.full((self.n_special, self.k), ord("N"), dtype=np.uint8)
            self._kmer_table = np.concatenate([specials, letters.astype(np.uint8)])
        return self._kmer_table

    def decode(self, ids) -> str:
        """Sequence covered by `ids`: the reverse of `encode` for ACGT input.

        `[UNK]` and `[MASK]` render as N; `[PAD]`, `[CLS]` and `[SEP]` are dropped. With
        stride < k each token after the first adds its last `stride` bases; with stride > k
        the uncovered bases between tokens are written as N.
        """
        ids = np.asarray(ids).reshape(-1).astype(np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError(f"token ids must lie in [0, {self.vocab_size})")
        ids = ids[~np.isin(ids, (self.pad_id, self.cls_id, self.sep_id))]
        if ids.size == 0:
            return ""
        kmers = self.kmer_table[ids]  # (n, k)
        if self.stride >= self.k:
            if self.stride > self.k:
                gap = np.full((ids.size, self.stride - self.k), ord("N"), dtype=np.uint8)
                kmers = np.concatenate([kmers, gap], axis=1)[:, : self.stride]
                return kmers.tobytes().decode("ascii")[: (ids.size - 1) * self.stride + self.k]
            return kmers.tobytes().decode("ascii")
        head = kmers[0].tobytes()
        tail = kmers[1:, self.k - self.stride :].tobytes()
        return (head + tail).decode("ascii")

    def id_to_token(self, i: int) -> str:
        if i < self.n_special:
            return SPECIALS[i]
        return self.kmer_table[i].tobytes().decode("ascii")

    def token_to_id(self, token: str) -> int:
        if token in SPECIALS:
            return SPECIALS.index(token)
        if len(token) != self.k:
            return self.unk_id
        return int(self.encode(token)[0])

    # ---- reverse complement ---------------------------------------------------------------
    @property
    def rc_map(self) -> np.ndarray:
        """(vocab_size,) token -> token of the reverse-complement k-mer; specials map to themselves.

        Reverse-complementing a stride == k token array is `rc_map[ids[::-1]]` (it then covers
        the reverse strand of the same bases, shifted by `len % stride`).
        """
        if self._rc_map is None:
            codes = np.arange(4**self.k, dtype=np.int64)
            rc = np.zeros_like(codes)
            for j in range(self.k):
                digit = (codes >> (2 * j)) & 3
                rc = (rc << 2) | (3 - digit)  # A<->T, C<->G: complement is 3 - code
            specials = np.arange(self.n_special, dtype=np.int64)
            self._rc_map = np.concatenate([specials, rc + self.n_special]).astype(self.dtype)
            self._rc_map.setflags(write=False)
        return self._rc_map

    # ---- identity -------------------------------------------------------------------------
    @property
    def vocab_hash(self) -> str:
        """sha256 over everything that fixes the id of a token at a position: specials,
        alphabet order, k and stride. Two tokenizers are interchangeable iff hashes match."""
        spec = {"specials": list(SPECIALS), "alphabet": ALPHABET, "k": self.k, "stride": self.stride}
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()

    def to_dict(self) -> dict:
        return {"k": self.k, "stride": self.stride, "vocab_size": self.vocab_size, "vocab_hash": self.vocab_hash}

    @classmethod
    def from_dict(cls, d: dict) -> "KmerTokenizer":
        tok = cls(k=int(d["k"]), stride=int(d.get("stride", d["k"])))
        for key in ("vocab_size", "vocab_hash"):
            if key in d and d[key] != getattr(tok, key):
                raise GenolongError(f"tokenizer {key} {d[key]!r} does not match k={tok.k}, stride={tok.stride}")
        return tok
