"""Annotation throughput (Mbp/s) and memory against record length.

Each record length runs in a fresh process (peak RSS, ru_maxrss, is per process): the default
genome's sequence tiled up to that length, written as FASTA, annotated with a checkpoint (or,
without `--checkpoint`, an untrained network: `--net demo`, the demo experiment's shape with a
function head; `--net tiny`, a 1-layer d=16 net with function and structure heads, which runs
the ORF decoder and writes gene models; `--net conv`, the same two heads on an embedding and
one convolution (RNA columns biased down: RNA is rare, as in a trained model), cheap enough on
CPU for records of 100 Mbp). The network only ever sees batch x window tokens
and the stitched probabilities go to a temporary file as windows finish, so what grows with
the record is its tokens (2 bytes per token) and the gene calls. `peak RSS` is measured after
`annotate()`; `peak RSS write` after writing every output too (a GenBank file holds its
record's sequence, so that one does grow with the record). The FASTA is written in blocks before
anything is measured, so the process never holds the whole record itself.

    python benchmarks/annotate.py --json PATH [--mbp 0.25 1 4] [--checkpoint CKPT | --net tiny] [--window 512]

`--versus-prodigal` instead times whole processes on real genomes, side by side: `genolong
annotate --checkpoint CKPT --threads N` (interpreter start, checkpoint load, every output written)
and a pyrodigal meta process (reading the genome, calling genes, writing a GFF3), each its own
child, with its wall time and peak RSS (`os.wait4`), and the ratio of their Mbp/s:

    python benchmarks/annotate.py --versus-prodigal --checkpoint CKPT --threads 2 --genomes afade umn026 \
        [--genome-file umn026=PATH] [--transl-table 11] --json PATH

Where the time of one such process goes, stage by stage: `benchmarks/stage_timer.py`; the
network's arithmetic floor against this machine's matrix-product rate: `benchmarks/forward_floor.py`.
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing as mp
import os
import resource
import subprocess
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


TINY_ENCODER = {"vocab_size": 4101, "d_model": 16, "n_heads": 2, "n_layers": 1, "d_ff": 32,
                "attention": "full", "reversible": False}


class ConvNet:
    """Embedding + one convolution with function and structure columns: a TokenNet-shaped network
    so cheap that the benchmark measures the annotation machinery, not the encoder."""

    def __new__(cls, vocab_size: int, n_outputs: int):
        import torch
        from torch import nn

        class _Conv(nn.Module):
            def __init__(self):
                super().__init__()
                torch.manual_seed(0)
                self.embed = nn.Embedding(vocab_size, 8)
                self.conv = nn.Conv1d(8, n_outputs, 5, padding=2)
                with torch.no_grad():  # RNA classes rare, as a trained model has them (< 1% of tokens)
                    self.conv.bias[n_outputs - 6 :] -= 8.0

            def forward(self, tokens, padding_mask=None):
                return self.conv(self.embed(tokens).transpose(1, 2)).transpose(1, 2)  # (B, L, C)

        return _Conv()


def _untrained(net: str, window: int, batch: int):
    from genolong.annotate import Annotator
    from genolong.data.labels import LabelVocab
    from genolong.data.structure import structure_vocab
    from genolong.data.tokenizer import KmerTokenizer
    from genolong.models.net import build_net

    labels = LabelVocab("go", "multilabel", ["genic"] + [f"GO:{i:07d}" for i in range(20)])
    if net == "demo":
        return Annotator(build_net(DEMO_ENCODER, "annotate", labels.n_outputs).eval(), KmerTokenizer(6), labels,
                         window=window, batch_size=batch, progress=False)
    structure = structure_vocab()
    if net == "conv":
        model = ConvNet(4101, labels.n_outputs + structure.n_outputs).eval()
    else:
        model = build_net(TINY_ENCODER, "annotate", labels.n_outputs, structure.n_outputs).eval()
    return Annotator(model, KmerTokenizer(6), labels, window=window, batch_size=batch, progress=False,
                     structure_labels=structure, transl_table=4)


def _write_tiled_fasta(path: Path, length_bp: int, width: int = 80) -> None:
    """One record of `length_bp`: the default genome repeated, in lines of `width`, written block
    by block so the benchmark process never holds the record (ru_maxrss is a high-water mark)."""
    seq = _genome_sequence()
    seq = seq[: len(seq) - len(seq) % width]
    block = b"".join(seq[i : i + width] + b"\n" for i in range(0, len(seq), width))
    with open(path, "wb") as fh:
        fh.write(b">bench\n")
        for _ in range(length_bp // len(seq)):
            fh.write(block)
        rest = seq[: length_bp % len(seq)]
        fh.write(b"".join(rest[i : i + width] + b"\n" for i in range(0, len(rest), width)))


def _one(length_bp: int, checkpoint: str | None, net: str, window: int, batch: int, write: bool, queue) -> None:
    import numpy as np

    from genolong.annotate import Annotator

    with tempfile.TemporaryDirectory() as tmp:
        fasta = Path(tmp) / "bench.fa"
        _write_tiled_fasta(fasta, length_bp)
        if checkpoint:
            ann = Annotator.from_checkpoint(checkpoint, window=window, batch_size=batch, progress=False)
        else:
            ann = _untrained(net, window, batch)
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        t0 = time.perf_counter()
        result = ann.annotate(fasta)
        seconds = time.perf_counter() - t0
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        t1 = time.perf_counter()
        if write:
            result.write(Path(tmp) / "out")
        write_seconds = time.perf_counter() - t1 if write else None
        rss2 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 if write else None
        n_tokens = int(result.probs["bench"].shape[0])
        queue.put({
            "length_bp": length_bp, "n_tokens": n_tokens, "classes": ann.n_classes, "window": window,
            "batch_size": batch, "seconds": seconds, "mbp_per_s": length_bp / 1e6 / seconds,
            "write_seconds": write_seconds, "peak_rss_mb": rss1 / 2**20, "rss_growth_mb": (rss1 - rss0) / 2**20,
            "peak_rss_write_mb": None if rss2 is None else rss2 / 2**20, "tokens_mb": n_tokens * 2 / 2**20,
            "genes": len(result.predicted), "gene_models": result.gene_models, "numpy": np.__version__,
        })


GENOMES = {"afade": REPO / "data" / "mycoides_Afade.fna.gz", "umn026": REPO / "data" / "ecoli_UMN026.gbk.gz"}


def _genome_paths(overrides: list[str]) -> dict[str, Path]:
    """GENOMES with `name=PATH` overrides (UMN026 is not in the repository)."""
    paths = dict(GENOMES)
    for item in overrides:
        name, _, path = item.partition("=")
        if name not in GENOMES or not path:
            sys.exit(f"--genome-file {item}: expected NAME=PATH with NAME one of {', '.join(sorted(GENOMES))}")
        paths[name] = Path(path)
    return paths

PYRODIGAL = """
import sys, pyrodigal
from genolong.data.genome import open_genome
finder = pyrodigal.GeneFinder(meta=True)
with open_genome(sys.argv[1]) as genome, open(sys.argv[2], "w") as out:
    for seqid in genome.ids:
        genes = finder.find_genes(genome.fetch(seqid).upper())
        genes.write_gff(out, sequence_id=seqid)
"""


def _child(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of one child process; it must succeed."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status):
        sys.exit(f"annotate benchmark: `{' '.join(cmd)}` failed:\n{err.decode(errors='replace')[-2000:]}")
    return seconds, usage.ru_maxrss / 1024


def versus_prodigal(args) -> int:
    from genolong.atomic import atomic_write_text
    from genolong.data.genome import open_genome

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        genomes = _genome_paths(args.genome_file)
        for name in args.genomes:
            path = genomes[name]
            with open_genome(path) as genome:
                bp = sum(genome.lengths.values())
            cmd = [sys.executable, "-m", "genolong", "annotate", "--checkpoint", args.checkpoint, "--genome", str(path),
                   "--out", f"{tmp}/{name}", "--no-progress", "--batch-size", str(args.batch_size)]
            cmd += ["--threads", str(args.threads)] if args.threads else []
            cmd += ["--transl-table", str(args.transl_table)] if args.transl_table else []
            g_s, g_rss = _child(cmd)
            p_s, p_rss = _child([sys.executable, "-c", PYRODIGAL, str(path), f"{tmp}/{name}.prodigal.gff"])
            rows.append({"genome": name, "file": path.name, "bp": bp, "genolong_s": g_s, "genolong_mbp_s": bp / 1e6 / g_s,
                         "genolong_peak_rss_mb": g_rss, "pyrodigal_s": p_s, "pyrodigal_mbp_s": bp / 1e6 / p_s,
                         "pyrodigal_peak_rss_mb": p_rss, "genolong_vs_pyrodigal": p_s / g_s})
    print(f"{'genome':>8} {'Mbp':>6} {'genolong s':>11} {'Mbp/s':>7} {'RSS MB':>7} {'pyrodigal s':>12} {'Mbp/s':>7} "
          f"{'RSS MB':>7} {'speed ratio':>12}")
    for r in rows:
        print(f"{r['genome']:>8} {r['bp'] / 1e6:>6.2f} {r['genolong_s']:>11.1f} {r['genolong_mbp_s']:>7.3f} "
              f"{r['genolong_peak_rss_mb']:>7.0f} {r['pyrodigal_s']:>12.1f} {r['pyrodigal_mbp_s']:>7.3f} "
              f"{r['pyrodigal_peak_rss_mb']:>7.0f} {r['genolong_vs_pyrodigal']:>12.3f}")
    meta = {"checkpoint": Path(args.checkpoint).name, "threads": args.threads, "cpus": os.cpu_count(),
            "load_average": os.getloadavg(), "command": " ".join(Path(a).name if "/" in a else a for a in sys.argv)}
    atomic_write_text(args.json, json.dumps({"meta": meta, "rows": rows}, indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", required=True, help="where to write the results")
    parser.add_argument("--mbp", type=float, nargs="+", default=[0.25, 1.0, 4.0], help="record lengths in Mbp")
    parser.add_argument("--checkpoint", help="annotate with this checkpoint (default: an untrained --net)")
    parser.add_argument("--net", choices=["demo", "tiny", "conv"], default="demo",
                        help="untrained network without --checkpoint: demo-shaped function head, tiny two-head "
                             "transformer, or a two-head convolution (measures the machinery, not the encoder)")
    parser.add_argument("--window", type=int, default=512)
    parser.add_argument("--no-write", action="store_true", help="measure annotate() only, write no outputs")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--versus-prodigal", action="store_true",
                        help="time whole `genolong annotate` and pyrodigal meta processes on --genomes")
    parser.add_argument("--genomes", nargs="+", choices=sorted(GENOMES), default=["afade"])
    parser.add_argument("--genome-file", nargs="+", default=[], metavar="NAME=PATH",
                        help="where a --genomes entry is (e.g. umn026=../shared/data/ecoli_UMN026.gbk.gz)")
    parser.add_argument("--threads", type=int, default=None, help="genolong annotate --threads (default: its own)")
    parser.add_argument("--transl-table", type=int, default=None, help="genolong annotate --transl-table")
    args = parser.parse_args(argv)
    if args.versus_prodigal:
        if not args.checkpoint:
            parser.error("--versus-prodigal needs --checkpoint")
        return versus_prodigal(args)
    ctx = mp.get_context("spawn")
    rows = []
    for mbp in args.mbp:
        queue = ctx.Queue()
        proc = ctx.Process(target=_one, args=(int(mbp * 1e6), args.checkpoint, args.net, args.window,
                                                   args.batch_size, not args.no_write, queue))
        proc.start()
        rows.append(queue.get())
        proc.join()
    print(f"{'Mbp':>6} {'tokens':>11} {'s':>8} {'Mbp/s':>8} {'peak RSS MB':>12} {'growth MB':>10} "
          f"{'tokens MB':>10} {'RSS write MB':>13}")
    for r in rows:
        print(f"{r['length_bp'] / 1e6:>6.2f} {r['n_tokens']:>11,} {r['seconds']:>8.1f} {r['mbp_per_s']:>8.4f} "
              f"{r['peak_rss_mb']:>12.0f} {r['rss_growth_mb']:>10.0f} {r['tokens_mb']:>10.1f} "
              f"{r['peak_rss_write_mb'] or float('nan'):>13.0f}")
    from genolong.atomic import atomic_write_text

    import torch

    meta = {"torch": torch.__version__, "threads": torch.get_num_threads(), "checkpoint": args.checkpoint,
            "net": None if args.checkpoint else args.net,
            "command": " ".join(sys.argv)}
    atomic_write_text(args.json, json.dumps({"meta": meta, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
