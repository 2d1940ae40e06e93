"""Homology search (genolong/annotate/homology.py): speed on one core and what the hits transfer.

mycoides: the labelled proteins of GM12, mm5713 and B237 (data/*.gbff.gz, whole genomes) are
indexed; Afade's reference proteins (data/mycoides_Afade.gff3.gz on its .fna.gz, genetic code 4)
are the queries. Reported: search CPU seconds (`time.process_time`, one thread) for Afade's
proteins twice over (about the two searches of an annotation run) against the whole index and
against a 1,300-protein random subset (about a train split); the exhaustive search's best hit
kept by the prefilter; GO Fmax (genolong/evaluate/metrics.py `cafa_fmax`, unpropagated terms)
of `term_scores` on GM12's 20 most common GO terms and on every GO term.
With `--ecoli DIR` (ecoli_O157H7_Sakai, ecoli_IAI39 and ecoli_UMN026 .gbk.gz in DIR): Sakai +
IAI39 indexed, UMN026's proteins searched; macro-F1 of the best hit's `product` class over
UMN026's labelled proteins (a protein without a hit counts as wrong; and over those with a hit).

    python benchmarks/homology.py --json PATH [--candidates 64 100] [--ecoli DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from genolong.annotate.homology import (HomologyIndex, _coding_bases, best_hit, proteins_from_genome,  # noqa: E402
                                        term_scores, translate_cds)
from genolong.data.annotation import Gene, read_annotation  # noqa: E402
from genolong.data.genome import open_genome  # noqa: E402
from genolong.data.labels import OTHER_PRODUCT, PRODUCT_CLASSES, go_terms, product_class  # noqa: E402
from genolong.evaluate.metrics import cafa_fmax  # noqa: E402


def reference(genome_path, annotation_path, table):
    with open_genome(genome_path) as genome:
        genes = [g for g in read_annotation(annotation_path, genome) if g.biotype == "protein_coding"]
        pairs = [(g, _coding_bases(genome, g)) for g in genes]
    return [g for g, b in pairs if b], [translate_cds(b, table) for _, b in pairs if b]


def timed(index, queries, **kw):
    start = time.process_time()
    hits = index.search(queries, **kw)
    return hits, round(time.process_time() - start, 1)


def mycoides(candidates_list) -> dict:
    data = REPO / "data"
    index = HomologyIndex(sum((proteins_from_genome(data / f"mycoides_{g}.gbff.gz") for g in ("GM12", "mm5713", "B237")), []))
    genes, queries = reference(data / "mycoides_Afade.fna.gz", data / "mycoides_Afade.gff3.gz", 4)
    with open_genome(data / "mycoides_GM12.gbff.gz") as genome:
        counts = Counter(t for g in read_annotation(data / "mycoides_GM12.gbff.gz", genome) for t in go_terms(g))
    top20 = [t for t, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:20]]
    every = sorted({t for g in genes for t in go_terms(g)} | {t for p in index.proteins for t in p.terms})
    subset = HomologyIndex(random.Random(0).sample(index.proteins, 1300))
    exhaustive, seconds_exhaustive = timed(index, queries, candidates=0)
    out = {"n_index": len(index.proteins), "n_queries": len(queries), "exhaustive_cpu_s_1x": seconds_exhaustive, "runs": []}
    for candidates in candidates_list:
        hits, _ = timed(index, queries, candidates=candidates)
        with_hit = [i for i, h in enumerate(exhaustive) if h]
        row = {"candidates": candidates,
               "cpu_s_2x_queries_full_index": timed(index, queries * 2, candidates=candidates)[1],
               "cpu_s_2x_queries_1300_index": timed(subset, queries * 2, candidates=candidates)[1],
               "best_hit_as_exhaustive": round(float(np.mean([bool(hits[i]) and hits[i][0].target == exhaustive[i][0].target
                                                              for i in with_hit])), 4)}
        for name, terms in (("top20_gm12", top20), ("all_terms", every)):
            y = np.array([[t in go_terms(g) for t in terms] for g in genes])
            f = cafa_fmax(y, term_scores(hits, index, terms))
            row[f"fmax_{name}"] = round(f["fmax"], 4)
            row[f"n_genes_{name}"] = f["n_genes"]
        out["runs"].append(row)
        print(row, file=sys.stderr)
    return out


def ecoli(folder: Path, candidates: int) -> dict:
    from sklearn.metrics import f1_score

    index = HomologyIndex(proteins_from_genome(folder / "ecoli_O157H7_Sakai.gbk.gz")
                          + proteins_from_genome(folder / "ecoli_IAI39.gbk.gz"))
    path = folder / "ecoli_UMN026.gbk.gz"
    genes, queries = reference(path, path, 11)
    hits, seconds = timed(index, queries, candidates=candidates)

    def label(product: str) -> str:
        return product_class(Gene("", 0, 1, "+", "", "", "protein_coding", ((0, 1, "+"),), {"product": [product]}))

    truth = [product_class(g) for g in genes]
    keep = [i for i, c in enumerate(truth) if c]
    pred = [label(index.proteins[b.target].product) if (b := best_hit(hits[i])) else "" for i in keep]
    classes = [name for name, _ in PRODUCT_CLASSES] + [OTHER_PRODUCT]
    found = [j for j, i in enumerate(keep) if hits[i]]
    return {"n_index": len(index.proteins), "n_queries": len(queries), "candidates": candidates, "cpu_s": seconds,
            "n_scored": len(keep), "n_scored_with_hit": len(found),
            # a labelled query without a hit counts as wrong in the first, is left out of the second
            "macro_f1_best_hit": round(f1_score([truth[i] for i in keep], pred, labels=classes, average="macro"), 4),
            "macro_f1_best_hit_with_hit": round(f1_score([truth[keep[j]] for j in found], [pred[j] for j in found],
                                                         labels=classes, average="macro"), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", required=True)
    parser.add_argument("--candidates", type=int, nargs="+", default=[64, 100])
    parser.add_argument("--ecoli", type=Path, default=None)
    args = parser.parse_args()
    result = {"mycoides": mycoides(args.candidates)}
    if args.ecoli:
        result["ecoli"] = ecoli(args.ecoli, args.candidates[0])
    Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
