"""Pseudogene thresholds (genolong/annotate/pseudogenes.py), chosen on the training genomes only.

For each training genome: the network-free decoder's calls (evaluate/no_network.py), translated
and searched against the OTHER training genomes of its clade (every labelled protein, as the
index keeps them); then, for each setting of the grid, every flagged call is dropped and the
protein-coding F1 (evaluate/metrics.py `coding_metrics`) is taken against the genome's own
annotation, whose pseudogenes are not protein-coding genes. The setting with the best mean
gain over the genomes is the default. Flagged calls are counted as matched genes (lost),
fragments inside an annotated pseudogene, and other false calls.

    python benchmarks/pseudogenes.py --data DIR [--json PATH]

DIR holds mycoides_{GM12,mm5713,B237}.gbff.gz and ecoli_{O157H7_Sakai,IAI39}.gbk.gz; about
8 CPU minutes on one thread (the E. coli searches).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from dataclasses import asdict, replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from genolong.annotate.function import translate_gene  # noqa: E402
from genolong.annotate.homology import HomologyIndex, proteins_from_genome  # noqa: E402
from genolong.annotate.pseudogenes import PseudogeneConfig, flag, upstream_codons  # noqa: E402
from genolong.data.annotation import read_annotation  # noqa: E402
from genolong.data.genome import open_genome  # noqa: E402
from genolong.data.structure import transl_table_of  # noqa: E402
from genolong.data.tokenizer import KmerTokenizer  # noqa: E402
from genolong.evaluate import metrics as M, no_network  # noqa: E402

CLADES = {"mycoides": ["mycoides_GM12.gbff.gz", "mycoides_mm5713.gbff.gz", "mycoides_B237.gbff.gz"],
          "ecoli": ["ecoli_O157H7_Sakai.gbk.gz", "ecoli_IAI39.gbk.gz"]}
GRID = {"min_identity": [0.7, 0.8, 0.9, 0.95], "max_coverage": [0.6, 0.7, 0.8, 0.85, 0.9, 0.95],
        "min_query_coverage": [0.5, 0.7, 0.9]}


def prepare(data: Path, name: str, others: list[str]) -> dict:
    """One genome's calls, their labels, hits against the other genomes, lengths and upstream codons."""
    index = HomologyIndex([p for o in others for p in proteins_from_genome(data / o)])
    genes = read_annotation(data / name)
    table = transl_table_of(genes, name) or 11
    with open_genome(data / name) as genome:
        calls = no_network.call_genes(genome, list(genome.ids), table, KmerTokenizer(6))
        proteins = [translate_gene(genome, c, table) for c in calls]
        upstream = [upstream_codons(genome, c, table) for c in calls]
    coding = [M.Interval(g.seqid, g.start, g.end, g.strand, "protein_coding") for g in genes
              if g.biotype == "protein_coding"]
    pseudo = [g for g in genes if g.biotype == "pseudogene"]
    matched = {i for i, _ in M.match_segments(calls, coding)}

    def label(i, c):
        if i in matched:
            return "gene"
        inside = any(c.seqid == p.seqid and c.strand == p.strand
                     and min(c.end, p.end) - max(c.start, p.start) >= 0.5 * (c.end - c.start) for p in pseudo)
        return "pseudogene" if inside else "other"

    return {"genome": name, "index": index, "calls": calls, "coding": coding, "hits": index.search(proteins),
            "lengths": [len(p) for p in proteins], "upstream": upstream,
            "labels": [label(i, c) for i, c in enumerate(calls)]}


def score(d: dict, cfg: PseudogeneConfig | None, upstream: bool = True) -> dict:
    notes = [None] * len(d["calls"]) if cfg is None else \
        flag(d["calls"], d["hits"], d["lengths"], d["index"], cfg, d["upstream"] if upstream else None)
    kept = [c for c, n in zip(d["calls"], notes) if n is None]
    m = M.coding_metrics(kept, d["coding"])
    flagged = [lab for lab, n in zip(d["labels"], notes) if n is not None]
    return {"f1": m["f1"], "precision": m["precision"], "recall": m["recall"],
            "flagged": {k: flagged.count(k) for k in ("gene", "pseudogene", "other")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    genomes = []
    for names in CLADES.values():
        for name in names:
            genomes.append(prepare(args.data, name, [o for o in names if o != name]))
            print(f"{name}: {len(genomes[-1]['calls'])} calls", file=sys.stderr, flush=True)
    base = [score(d, None) for d in genomes]
    rows = []
    for upstream in (False, True):
        for values in itertools.product(*GRID.values()):
            cfg = replace(PseudogeneConfig(), **dict(zip(GRID, values)))
            res = [score(d, cfg, upstream) for d in genomes]
            gain = sum(r["f1"] - b["f1"] for r, b in zip(res, base)) / len(genomes)
            rows.append({"gain": gain, "upstream": upstream, "config": asdict(cfg), "genomes": res})
    rows.sort(key=lambda r: -r["gain"])
    default = {"config": asdict(PseudogeneConfig()), "genomes": [score(d, PseudogeneConfig()) for d in genomes]}
    default["gain"] = sum(r["f1"] - b["f1"] for r, b in zip(default["genomes"], base)) / len(genomes)
    for r in rows[:5] + [{**default, "upstream": "default"}]:
        cfg = r["config"]
        print(f"gain {r['gain']:+.4f} upstream={r['upstream']} identity {cfg['min_identity']} coverage "
              f"{cfg['max_coverage']} query {cfg['min_query_coverage']}: " + " | ".join(
                  f"{d['genome'].split('.')[0]} {b['f1']:.4f}->{g['f1']:.4f} flagged {g['flagged']}"
                  for d, b, g in zip(genomes, base, r["genomes"])))
    if args.json:
        args.json.write_text(json.dumps({"genomes": [d["genome"] for d in genomes], "baseline": base,
                                         "best": rows[:20], "default": default}, indent=1))


if __name__ == "__main__":
    main()
