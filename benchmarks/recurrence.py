"""Segment recurrence (Transformer-XL memory) against tiled windows: quality on Afade, and
annotation throughput / peak RSS against record length.

quality: one recipe (the demo's GO recipe on GM12, k=3, with full attention, which LSH cannot
  carry memory for) trained twice with the same budget - the same steps, batch and tokens per
  sample: tiled (data.window=W) and recurrent (data.window=W/2, data.segments_per_sample=2,
  model.memory=W/2). The tiled model annotates Afade in windows of W (both strands), the
  recurrent one as a stream of W/2-token segments (both strands), and also tiled, to tell the
  model from the mode. Each is scored with `genolong.evaluate` against Afade's reference.
speed: each (mode, record length) in a fresh process (ru_maxrss is per process): the GM12
  sequence repeated to that length, annotated with the checkpoint of that mode.

    python benchmarks/recurrence.py quality --work .bench/recurrence --steps 1000 --json benchmarks/recurrence_quality.json
    python benchmarks/recurrence.py quality --seed 1 ... --json benchmarks/recurrence_quality_seed1.json
    python benchmarks/recurrence.py speed --work .bench/recurrence --mbp 0.25 1 4 --json benchmarks/recurrence_speed.json
    python benchmarks/recurrence.py table benchmarks/recurrence_quality.json benchmarks/recurrence_speed.json
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
DATA = REPO / "data"
WINDOW = 512


def recipe(work: Path, steps: int, recurrent: bool, seed: int = 0) -> list[str]:
    """The demo recipe with full attention; the recurrent twin splits each sample in two segments."""
    common = [
        "experiment=demo", f"paths.store_root={work / 'stores'}", "torch_threads=1", f"seed={seed}",
        "model.attention=full", "model.reversible=false", "model.n_layers=2", "model.ff_chunks=1",
        f"trainer.max_steps={steps}", "trainer.enable_progress_bar=false", "logger=csv",
    ]
    if not recurrent:
        return [*common, f"data.window={WINDOW}"]
    return [*common, f"data.window={WINDOW // 2}", "data.segments_per_sample=2", f"model.memory={WINDOW // 2}"]


def quality(args) -> int:
    from genolong.annotate import Annotator
    from genolong.atomic import atomic_write_text
    from genolong.evaluate.evaluation import evaluate
    from genolong.training.train import compose_config, train

    work = Path(args.work)
    tag = "" if args.seed == 0 else f"_seed{args.seed}"
    runs, rows = {}, []
    for name, recurrent in (("tiled", False), ("recurrent", True)):
        overrides = recipe(work, args.steps, recurrent, args.seed)
        t0 = time.perf_counter()
        result = train(compose_config(overrides, output_dir=work / f"runs{tag}" / name))
        runs[name] = {"overrides": overrides, "train_seconds": time.perf_counter() - t0,
                      "best_score": result["best_score"], "final": result["final"], "prior": result["prior"],
                      "checkpoint": result["last_checkpoint"]}
    genome, reference = DATA / "mycoides_Afade.fna.gz", DATA / "mycoides_Afade.gff3.gz"
    for model, mode in (("tiled", "tiled"), ("recurrent", "stream"), ("recurrent", "tiled")):
        stream = mode == "stream"
        window = WINDOW // 2 if stream else WINDOW
        annotator = Annotator.from_checkpoint(runs[model]["checkpoint"], window=window, stream=stream,
                                              rc_average=True, progress=False, device="cpu")
        result = annotator.annotate(genome, reference=reference)
        prefix = work / f"afade{tag}" / f"{model}_{mode}"
        prefix.parent.mkdir(parents=True, exist_ok=True)
        result.write(prefix)
        scores = evaluate(prefix, reference, work / f"eval{tag}" / f"{model}_{mode}", prodigal="off", plots=False)
        token, gene = scores["model"]["token"], scores["model"]["gene"]
        rows.append({"model": model, "mode": mode, "window": window, "annotate_seconds": result.seconds,
                     "token_micro_auprc": token["micro_auprc"], "token_macro_auprc": token["macro_auprc"],
                     "genic_f1": token["genic_f1"], "gene_fmax": gene["fmax"],
                     "gene_term_micro_auprc": gene["micro_auprc"], "gene_term_macro_auprc": gene["macro_auprc"],
                     "prior_token_micro_auprc": scores["baselines"]["term_prior"]["token"]["micro_auprc"],
                     "prior_gene_fmax": scores["baselines"]["term_prior"]["gene"]["fmax"]})
        print(json.dumps(rows[-1]), flush=True)
    meta = _meta(args)
    atomic_write_text(args.json, json.dumps({"meta": meta, "runs": runs, "rows": rows}, indent=1))
    print(quality_table(rows, runs))
    return 0


def _genome_sequence() -> bytes:
    from Bio import SeqIO

    with gzip.open(DATA / "mycoides_GM12.gbff.gz", "rt") as fh:
        return bytes(next(SeqIO.parse(fh, "genbank")).seq)


def _one(length_bp: int, checkpoint: str, stream: bool, queue) -> None:
    import torch

    from genolong.annotate import Annotator

    torch.set_num_threads(1)
    seq = _genome_sequence()
    record = (seq * (length_bp // len(seq) + 1))[:length_bp]
    with tempfile.TemporaryDirectory() as tmp:
        fasta = Path(tmp) / "bench.fa"
        fasta.write_bytes(b">bench\n" + record + b"\n")
        window = WINDOW // 2 if stream else WINDOW
        annotator = Annotator.from_checkpoint(checkpoint, window=window, stream=stream, rc_average=True,
                                              progress=False, device="cpu")
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        t0 = time.perf_counter()
        result = annotator.annotate(fasta)
        seconds = time.perf_counter() - t0
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        queue.put({"mode": "stream" if stream else "tiled", "length_bp": length_bp, "window": window,
                   "n_tokens": int(result.probs["bench"].shape[0]), "seconds": seconds,
                   "mbp_per_s": length_bp / 1e6 / seconds, "peak_rss_mb": rss1 / 2**20,
                   "rss_growth_mb": (rss1 - rss0) / 2**20})


def speed(args) -> int:
    from genolong.atomic import atomic_write_text

    work = Path(args.work)
    checkpoints = {False: work / "runs" / "tiled" / "checkpoints" / "last.ckpt",
                   True: work / "runs" / "recurrent" / "checkpoints" / "last.ckpt"}
    ctx = mp.get_context("spawn")
    rows = []
    for mbp in args.mbp:
        for stream in (False, True):
            queue = ctx.Queue()
            proc = ctx.Process(target=_one, args=(int(mbp * 1e6), str(checkpoints[stream]), stream, queue))
            proc.start()
            rows.append(queue.get())
            proc.join()
            print(json.dumps(rows[-1]), flush=True)
    atomic_write_text(args.json, json.dumps({"meta": _meta(args), "rows": rows}, indent=1))
    print(speed_table(rows))
    return 0


def _meta(args) -> dict:
    import os

    import torch

    return {"torch": torch.__version__, "threads": 1, "load_average": os.getloadavg(),
            "date": time.strftime("%Y-%m-%d %H:%M"), "command": " ".join(["python", *sys.argv])}


def _f(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def quality_table(rows: list[dict], runs: dict) -> str:
    lines = ["| model (training) | annotation | token micro-AUPRC | token macro-AUPRC | genic F1 | gene Fmax "
             "| gene term micro-AUPRC | annotate s |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['mode']} ({r['window']}) | {_f(r['token_micro_auprc'])} | "
                     f"{_f(r['token_macro_auprc'])} | {_f(r['genic_f1'])} | {_f(r['gene_fmax'])} | "
                     f"{_f(r['gene_term_micro_auprc'])} | {r['annotate_seconds']:.0f} |")
    r = rows[0]
    lines.append(f"| term prior (from the reference) | | {_f(r['prior_token_micro_auprc'])} | | | "
                 f"{_f(r['prior_gene_fmax'])} | | |")
    lines.append("")
    for name, run in runs.items():
        lines.append(f"- {name}: trained {run['train_seconds']:.0f} s, validation best {_f(run['best_score'])}, "
                     f"final val/auprc_micro {_f(run['final'].get('val/auprc_micro'))}")
    return "\n".join(lines)


def speed_table(rows: list[dict]) -> str:
    lines = ["| record Mbp | mode | tokens | s | Mbp/s | peak RSS MB | RSS growth MB |",
             "|---:|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['length_bp'] / 1e6:.2f} | {r['mode']} ({r['window']}) | {r['n_tokens']:,} | "
                     f"{r['seconds']:.1f} | {r['mbp_per_s']:.3f} | {r['peak_rss_mb']:.0f} | {r['rss_growth_mb']:.0f} |")
    return "\n".join(lines)


def table(args) -> int:
    for path in args.json_files:
        data = json.loads(Path(path).read_text())
        print(quality_table(data["rows"], data["runs"]) if "runs" in data else speed_table(data["rows"]))
        print()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    q = sub.add_parser("quality")
    q.add_argument("--work", default=".bench/recurrence")
    q.add_argument("--steps", type=int, default=1000)
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--json", required=True)
    s = sub.add_parser("speed")
    s.add_argument("--work", default=".bench/recurrence")
    s.add_argument("--mbp", type=float, nargs="+", default=[0.25, 1.0, 4.0])
    s.add_argument("--json", required=True)
    t = sub.add_parser("table")
    t.add_argument("json_files", nargs="+")
    args = parser.parse_args(argv)
    return {"quality": quality, "speed": speed, "table": table}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
