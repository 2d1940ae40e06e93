"""Tokenizer throughput and memory: >= 100 Mbp through KmerTokenizer.encode_into.

The sequence is the embedded default genome (1.08 Mbp, real base composition) tiled up to
`--mbp`, with 1% of bases set to N and a soft-masked (lowercase) stretch, fed in 8 Mbp pieces
the way `prepare` streams a chromosome. Memory is the peak RSS growth during tokenization
(ru_maxrss, Linux) divided by the bytes of the output token array.

    python benchmarks/tokenizer.py --json PATH [--mbp 120] [--k 6] [--stride 6]
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

from genolong.atomic import atomic_write_text
from genolong.data.tokenizer import KmerTokenizer

REPO = Path(__file__).resolve().parent.parent
PIECE = 8_000_000


def _rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _piece() -> bytes:
    from Bio import SeqIO

    with gzip.open(REPO / "data" / "mycoides_GM12.gbff.gz", "rt") as fh:
        seq = np.frombuffer(bytes(next(SeqIO.parse(fh, "genbank")).seq), dtype=np.uint8)
    reps = -(-PIECE // seq.size)
    piece = np.tile(seq, reps)[:PIECE].copy()
    rng = np.random.default_rng(0)
    piece[rng.choice(PIECE, PIECE // 100, replace=False)] = ord("N")
    piece[1000:200_000] |= 0x20  # soft-masked stretch
    return piece.tobytes()


def bench(mbp: float, k: int, stride: int) -> dict:
    tok = KmerTokenizer(k, stride)
    piece = _piece()
    n_pieces = max(1, int(round(mbp * 1e6 / PIECE)))
    total_bp = n_pieces * PIECE
    per_piece = tok.n_tokens(PIECE)
    # pieces are tokenized independently, so trailing partial k-mers are dropped per piece
    out = np.empty(per_piece * n_pieces, dtype=tok.dtype)
    out[:] = 0  # touch the output so its pages count in the baseline, not in the peak
    tok.encode_into(piece[: 10 * k], np.empty(tok.n_tokens(10 * k), dtype=tok.dtype))  # warm caches
    base = _rss_bytes()
    t0 = time.perf_counter()
    for i in range(n_pieces):
        tok.encode_into(piece, out[i * per_piece : (i + 1) * per_piece])
    dt = time.perf_counter() - t0
    peak_extra = _rss_bytes() - base
    return {
        "k": k, "stride": stride, "mbp": total_bp / 1e6, "seconds": dt, "mbp_per_s": total_bp / 1e6 / dt,
        "output_bytes": int(out.nbytes), "peak_rss_over_output": (out.nbytes + peak_extra) / out.nbytes,
        "input_piece_bytes": PIECE,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", required=True, help="where to write the results")
    ap.add_argument("--mbp", type=float, default=120.0)
    ap.add_argument("--k", type=int, default=6)
    ap.add_argument("--stride", type=int, default=None)
    args = ap.parse_args(argv)
    r = bench(args.mbp, args.k, args.stride or args.k)
    from rich.console import Console
    from rich.table import Table

    table = Table(title="KmerTokenizer (one core)")
    for col in ("k", "stride", "Mbp", "seconds", "Mbp/s", "output MB", "peak RSS / output"):
        table.add_column(col, justify="right")
    table.add_row(str(r["k"]), str(r["stride"]), f"{r['mbp']:.0f}", f"{r['seconds']:.2f}", f"{r['mbp_per_s']:.0f}",
                  f"{r['output_bytes'] / 1e6:.1f}", f"{r['peak_rss_over_output']:.3f}")
    Console().print(table)
    atomic_write_text(args.json, json.dumps(r, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
