"""The arithmetic floor of the annotation network's forward over a genome, against what this
machine's matrix products deliver.

    python benchmarks/forward_floor.py --checkpoint CKPT --genome GENOME [--threads 1 2] [--json PATH]

FLOPs are counted by `torch.utils.flop_counter.FlopCounterMode` (matrix products only: every
elementwise pass, softmax, the LSH sort and the bias are left out, so the floor is optimistic)
over one batch of windows read on both strands, exactly as `Annotator._forward` runs it, and
scaled to the genome: tokens x (window / (window - overlap)) for the overlapping windows. The
rates are measured in this process for each thread count: a 1024² GEMM (the machine's best
case), the network's own linear-layer shape and its attention-block `bmm` shape (torch's
intra-op threads), and the network's real forward over a slice of the genome as `genolong
annotate --threads N` runs it (N threads, each running whole batches).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def _rate(fn, flops: float, seconds: float = 1.0) -> float:
    """GFLOP/s of `fn` (which does `flops`), repeated for about `seconds`, best of the repeats."""
    fn()
    best, spent = float("inf"), 0.0
    while spent < seconds:
        t = time.perf_counter()
        fn()
        dt = time.perf_counter() - t
        best, spent = min(best, dt), spent + dt
    return flops / best / 1e9


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--genome", required=True)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--json")
    args = parser.parse_args(argv)

    import numpy as np
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from genolong.annotate.annotator import Annotator
    from genolong.annotate.tiling import plan_windows
    from genolong.data.genome import open_genome

    ann = Annotator.from_checkpoint(args.checkpoint, progress=False, batch_size=args.batch_size)
    with open_genome(args.genome) as genome:
        total_bp = sum(genome.lengths.values())
        n_tokens = sum(ann.tokenizer.n_tokens(n) for n in genome.lengths.values())
        seqid = max(genome.ids, key=lambda s: genome.lengths[s])
        length = genome.lengths[seqid]
        tokens = np.empty(ann.tokenizer.n_tokens(length), dtype=ann.tokenizer.dtype)
        ann.tokenizer.encode_record(lambda a, b: genome.fetch(seqid, a, b), length, tokens)
    windows = plan_windows(len(tokens), ann.window, ann.overlap)
    first = windows[: args.batch_size]
    with FlopCounterMode(display=False) as counter:
        ann._forward(tokens, first)
    strands = 2 if ann.rc_tables is not None else 1
    window_tokens = sum(w.end - w.start for w in first)
    flop_per_token = counter.get_total_flops() / window_tokens / strands  # per token, per strand
    overlap_factor = ann.window / (ann.window - ann.overlap)
    genome_flop = flop_per_token * n_tokens * overlap_factor * strands
    cfg = ann.net.encoder.cfg
    d, dff, head_dim = cfg.d_model, cfg.d_ff, cfg.d_model // cfg.n_heads
    rows = []
    sample = tokens[: 40 * (ann.window - ann.overlap)]
    sample_windows = plan_windows(len(sample), ann.window, ann.overlap)
    for threads in args.threads:
        torch.set_num_threads(threads)
        a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
        x, w = torch.randn(args.batch_size * ann.window * strands, d), torch.randn(d, dff)
        blocks = args.batch_size * strands * cfg.n_heads * cfg.n_hashes * ann.window // cfg.bucket_size
        q, k = torch.randn(blocks, cfg.bucket_size, head_dim), torch.randn(blocks, head_dim, 3 * cfg.bucket_size)
        gemm = _rate(lambda: a @ b, 2 * 1024**3)
        linear = _rate(lambda: x @ w, 2 * x.shape[0] * d * dff)
        attention = _rate(lambda: torch.bmm(q, k), 2 * blocks * cfg.bucket_size * head_dim * 3 * cfg.bucket_size)
        ann.threads = threads  # as `genolong annotate --threads` runs it: whole batches per thread
        t = time.perf_counter()
        for _ in ann._batch_logits(sample, sample_windows):
            pass
        forward_s = time.perf_counter() - t
        tokens_per_s = len(sample) / forward_s
        rows.append({"threads": threads, "gemm_1024_gflops": gemm, "linear_gflops": linear,
                     "attention_bmm_gflops": attention, "forward_tokens_per_s": tokens_per_s,
                     "forward_gflops": flop_per_token * len(sample) * overlap_factor * strands / forward_s / 1e9,
                     "floor_s_at_gemm": genome_flop / gemm / 1e9, "floor_s_at_linear": genome_flop / linear / 1e9,
                     "forward_s_genome": n_tokens / tokens_per_s})
    print(f"{Path(args.genome).name}: {total_bp:,} bp, {n_tokens:,} tokens, x{overlap_factor:.3f} overlap, "
          f"{strands} strand(s); network {flop_per_token / 1e3:.1f} kFLOP per token per strand (matrix products) "
          f"-> {genome_flop / 1e9:.1f} GFLOP for the genome")
    print(f"{'threads':>7} {'GEMM 1024':>10} {'linear':>8} {'attn bmm':>9} {'forward':>8} {'floor@GEMM s':>13} "
          f"{'floor@linear s':>15} {'forward s':>10}")
    for r in rows:
        print(f"{r['threads']:>7} {r['gemm_1024_gflops']:>10.1f} {r['linear_gflops']:>8.1f} "
              f"{r['attention_bmm_gflops']:>9.1f} {r['forward_gflops']:>8.1f} {r['floor_s_at_gemm']:>13.2f} "
              f"{r['floor_s_at_linear']:>15.2f} {r['forward_s_genome']:>10.1f}")
    if args.json:
        from genolong.atomic import atomic_write_text

        meta = {"bp": total_bp, "tokens": n_tokens, "overlap_factor": overlap_factor, "strands": strands,
                "flop_per_token_per_strand": flop_per_token, "genome_gflop": genome_flop / 1e9,
                "torch": torch.__version__,
                "command": " ".join(Path(a).name if "/" in a else a for a in sys.argv[1:])}
        atomic_write_text(args.json, json.dumps({"meta": meta, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
