"""Annotation throughput (Mbp/s) and memory against record length.

Each record length runs in a fresh process (peak RSS, ru_maxrss, is per process): the default
genome's sequence tiled up to that length, written as FASTA, annotated with a checkpoint (or,
without `--checkpoint`, an untrained network of the demo experiment's shape). The network only
ever sees batch x window tokens, so peak RSS should grow only with the per-record arrays
(2 bytes of tokens + 4 x classes bytes of stitched logits per token, plus probabilities).

    python benchmarks/annotate.py --json PATH [--mbp 0.25 1 4] [--checkpoint CKPT] [--window 512]
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEMO_ENCODER = {"vocab_size": 4101, "d_model": 64, "n_heads": 4, "n_layers": 2, "d_ff": 128,
                "attention": "lsh", "bucket_size": 32, "n_hashes": 1, "reversible": True}


def _genome_sequence() -> bytes:
    from Bio import SeqIO

    with gzip.open(REPO / "data" / "mycoides_GM12.gbff.gz", "rt") as fh:
        return bytes(next(SeqIO.parse(fh, "genbank")).seq)


def _one(length_bp: int, checkpoint: str | None, window: int, batch: int, queue) -> None:
    import numpy as np

    from genolong.annotate import Annotator

    seq = _genome_sequence()
    record = (seq * (length_bp // len(seq) + 1))[:length_bp]
    with tempfile.TemporaryDirectory() as tmp:
        fasta = Path(tmp) / "bench.fa"
        fasta.write_bytes(b">bench\n" + record + b"\n")
        if checkpoint:
            ann = Annotator.from_checkpoint(checkpoint, window=window, batch_size=batch, progress=False)
        else:
            from genolong.data.labels import LabelVocab
            from genolong.models.net import build_net
            from genolong.data.tokenizer import KmerTokenizer

            labels = LabelVocab("go", "multilabel", ["genic"] + [f"GO:{i:07d}" for i in range(20)])
            ann = Annotator(build_net(DEMO_ENCODER, "annotate", labels.n_outputs).eval(), KmerTokenizer(6), labels,
                            window=window, batch_size=batch, progress=False)
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        t0 = time.perf_counter()
        result = ann.annotate(fasta)
        seconds = time.perf_counter() - t0
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        n_tokens = int(result.probs["bench"].shape[0])
        queue.put({
            "length_bp": length_bp, "n_tokens": n_tokens, "classes": len(result.classes), "window": window,
            "batch_size": batch, "seconds": seconds, "mbp_per_s": length_bp / 1e6 / seconds,
            "peak_rss_mb": rss1 / 2**20, "rss_growth_mb": (rss1 - rss0) / 2**20,
            "per_record_arrays_mb": n_tokens * (2 + 4 * len(result.classes) * 3) / 2**20,
            "segments": len(result.segments), "numpy": np.__version__,
        })


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", required=True, help="where to write the results")
    parser.add_argument("--mbp", type=float, nargs="+", default=[0.25, 1.0, 4.0], help="record lengths in Mbp")
    parser.add_argument("--checkpoint", help="annotate with this checkpoint (default: untrained demo-shaped net)")
    parser.add_argument("--window", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args(argv)
    ctx = mp.get_context("spawn")
    rows = []
    for mbp in args.mbp:
        queue = ctx.Queue()
        proc = ctx.Process(target=_one, args=(int(mbp * 1e6), args.checkpoint, args.window, args.batch_size, queue))
        proc.start()
        rows.append(queue.get())
        proc.join()
    print(f"{'Mbp':>6} {'tokens':>9} {'s':>8} {'Mbp/s':>8} {'peak RSS MB':>12} {'growth MB':>10} {'arrays MB':>10}")
    for r in rows:
        print(f"{r['length_bp'] / 1e6:>6.2f} {r['n_tokens']:>9,} {r['seconds']:>8.1f} {r['mbp_per_s']:>8.4f} "
              f"{r['peak_rss_mb']:>12.0f} {r['rss_growth_mb']:>10.0f} {r['per_record_arrays_mb']:>10.1f}")
    from genolong.atomic import atomic_write_text

    import torch

    meta = {"torch": torch.__version__, "threads": torch.get_num_threads(), "checkpoint": args.checkpoint,
            "command": " ".join(sys.argv)}
    atomic_write_text(args.json, json.dumps({"meta": meta, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
