"""How many self-training rounds the decoder's start and coding models get (`DecodeConfig.start_rounds`),
chosen on training genomes with the network-free decoder (`evaluate/no_network.py`), the part of gene
calling that the rounds change.

    python benchmarks/decoder_rounds.py data/mycoides_mm5713.gbff.gz:4 data/mycoides_B237.gbff.gz:4 \\
        ../shared/data/ecoli_IAI39.gbk.gz:11 ../shared/data/ecoli_O157H7_Sakai.gbk.gz:11 \\
        --json benchmarks/decoder_rounds.json

Each argument is GENOME:GENETIC_CODE (a GenBank file: its CDS are the reference). Prints one row per
genome and round count, and the mean over genomes; writes every figure as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path

from genolong.annotate.orf_decode import DecodeConfig
from genolong.data.annotation import read_annotation
from genolong.data.genome import open_genome
from genolong.data.tokenizer import KmerTokenizer
from genolong.evaluate import metrics as M
from genolong.evaluate import no_network

FIGURES = ("precision", "recall", "f1", "exact_start")


def measure(path: str, table: int, rounds: list[int]) -> list[dict]:
    genome = open_genome(path)
    reference = [M.Interval(g.seqid, g.start, g.end, g.strand, g.biotype) for g in read_annotation(path, genome)]
    reference = [r for r in reference if r.biotype == "protein_coding"]
    seqids = list(genome.lengths)
    rows = []
    for n in rounds:
        calls = no_network.call_genes(genome, seqids, table, KmerTokenizer(3), DecodeConfig(table=table, start_rounds=n))
        scores = M.coding_metrics(calls, reference)
        rows.append({"genome": Path(path).name, "rounds": n, **{f: scores[f] for f in FIGURES}})
        print(" | ".join([rows[-1]["genome"], str(n)] + [f"{scores[f]:.4f}" for f in FIGURES]), flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("genomes", nargs="+", help="GENOME:GENETIC_CODE")
    ap.add_argument("--rounds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    print("genome | rounds | " + " | ".join(FIGURES))
    rows = []
    for spec in args.genomes:
        path, _, table = spec.rpartition(":")
        rows += measure(path, int(table), args.rounds)
    means = {n: {f: statistics.mean(r[f] for r in rows if r["rounds"] == n) for f in FIGURES} for n in args.rounds}
    for n, m in means.items():
        print(" | ".join(["mean", str(n)] + [f"{m[f]:.4f}" for f in FIGURES]))
    if args.json:
        tmp = Path(args.json).with_suffix(".tmp")
        tmp.write_text(json.dumps({"what": "network-free decoder by start_rounds on training genomes",
                                   "command": "python benchmarks/decoder_rounds.py " + " ".join(args.genomes),
                                   "rows": rows, "mean": {str(n): m for n, m in means.items()}}, indent=1) + "\n")
        os.replace(tmp, args.json)


if __name__ == "__main__":
    main()
