"""RNA genes on unseen genomes: the RNA-caller network (`genolong fit-rna`) beside its anchors,
pyaragorn (tRNA, tmRNA) and pybarrnap (rRNA), scored as `genolong evaluate` scores them (per RNA
type, same strand, >= 50% reciprocal overlap), plus product accuracy of the matched calls (tRNA:
the amino acid; rRNA: 5S / 16S / 23S) and the seconds each caller takes.

    python benchmarks/rna_caller.py --caller rna_caller.pt \
        --genome data/mycoides_Afade.fna.gz,data/mycoides_Afade.gff3.gz,4 \
        --genome data/ecoli_UMN026.gbk.gz,,11 --out benchmarks/rna_caller.json
"""

from __future__ import annotations

import argparse
import json
import os
import time

from genolong.annotate.rna_caller import RNACaller
from genolong.annotate.rna_genes import aragorn_genes, barrnap_genes
from genolong.data.annotation import read_annotation
from genolong.data.genome import open_genome
from genolong.data.trna import product_amino_acid
from genolong.evaluate.metrics import Interval, match_segments, rna_metrics

RRNA = ("16S", "23S", "5S")


def _subunit(product: str) -> str | None:
    return next((k for k in RRNA if k in product), None)


def product_accuracy(calls, ref) -> dict:
    """Among calls matched to a reference RNA gene of their biotype: the share naming the same
    amino acid (tRNA, reference genes naming a standard one) or the same subunit (rRNA)."""
    out = {}
    for kind, name in (("tRNA", product_amino_acid), ("rRNA", _subunit)):
        pred = [c for c in calls if c.biotype == kind]
        refs = [r for r in ref if r.biotype == kind]
        pairs = match_segments([Interval(c.seqid, c.start, c.end, c.strand, kind) for c in pred],
                               [Interval(r.seqid, r.start, r.end, r.strand, kind) for r in refs])
        scored = [(name(pred[i].product), name(" ".join(refs[j].attributes.get("product", [])))) for i, j in pairs]
        scored = [(p, r) for p, r in scored if r is not None and r != "OTHER"]
        same = sum(1 for p, r in scored if p is not None and p.lower() == r.lower())
        out[kind] = {"accuracy": same / len(scored) if scored else None, "n": len(scored)}
    return out


def measure(caller: RNACaller, genome_path: str, annotation: str | None, table: int) -> dict:
    ref = [g for g in read_annotation(annotation or genome_path) if g.biotype in ("tRNA", "tmRNA", "rRNA")]
    ref_iv = [Interval(g.seqid, g.start, g.end, g.strand, g.biotype) for g in ref]
    rows = {}
    with open_genome(genome_path) as genome:
        ids = list(genome.ids)
        bp = sum(genome.lengths[s] for s in ids)
        for name, run in (("network", lambda: caller.call(genome, ids, table)),
                          ("pyaragorn", lambda: aragorn_genes(genome, ids, table)),
                          ("pybarrnap", lambda: barrnap_genes(genome, ids, 1))):
            t = time.perf_counter()
            calls = run()
            seconds = time.perf_counter() - t
            iv = [Interval(c.seqid, c.start, c.end, c.strand, c.biotype) for c in calls]
            kinds = {"network": ("tRNA", "tmRNA", "rRNA"), "pyaragorn": ("tRNA", "tmRNA"), "pybarrnap": ("rRNA",)}[name]
            rows[name] = {"seconds": round(seconds, 2), "rna": rna_metrics(iv, ref_iv, kinds=kinds),
                          "product": product_accuracy(calls, ref)}
    return {"genome": genome_path, "bp": bp, "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--caller", required=True)
    parser.add_argument("--genome", action="append", required=True, help="GENOME,ANNOTATION,TABLE")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    caller = RNACaller.load(args.caller)
    results = []
    for spec in args.genome:
        genome, annotation, table = spec.split(",")
        results.append(measure(caller, genome, annotation or None, int(table)))
        print(json.dumps(results[-1], indent=1))
    with open(args.out, "w") as fh:
        json.dump({"caller": os.path.basename(args.caller), "threads": 1, "results": results}, fh, indent=1)
        fh.write("\n")


if __name__ == "__main__":
    main()
