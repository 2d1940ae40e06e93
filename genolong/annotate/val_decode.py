"""Decode a checkpoint's training stores and score the `val` regions' protein-coding calls.

`genolong fit-genes` and `genolong fit-starts` both choose their decoder weight this way: the
network runs once over every record of every store (as `genolong annotate` runs it), then the
decoder runs once per candidate setting of their hook, and the calls inside the val regions are
scored against the store's own genes.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from genolong.errors import GenolongError


class Span:
    """A (seqid, start, end) with the attributes `data.split.within_regions`' predicates read."""

    __slots__ = ("seqid", "start", "end")

    def __init__(self, seqid, start, end):
        self.seqid, self.start, self.end = seqid, start, end


def store_genome_path(store) -> str:
    """The genome FASTA/GenBank a token store was prepared from (its meta.json), which must exist here."""
    path = store.meta.get("inputs", {}).get("genome", {}).get("path")
    if not path or not Path(path).is_file():
        raise GenolongError(f"{store.path}: meta.json names input genome {path!r}, which is not a file here; "
                            f"run the fit where the store was prepared, or prepare it again")
    return path


class ValRegions:
    """The checkpoint's structure probabilities over each store's records (computed once) and the val
    regions' reference CDS; `score(**hooks)` decodes every record with `decode_genome`'s hooks
    (`orf_score`, `start_score`) and returns the val regions' protein-coding F1, precision, recall and
    exact start. A context manager: it holds the stores' genomes open."""

    def __init__(self, checkpoint, stores, what: str, log=None):
        from genolong.annotate.annotator import Annotator
        from genolong.annotate.orf_decode import DecodeConfig
        from genolong.data.genome import open_genome
        from genolong.data.split import within_regions
        from genolong.evaluate.metrics import Interval

        annotator = Annotator.from_checkpoint(checkpoint, progress=False)
        if annotator.structure_labels is None:
            raise GenolongError(f"{checkpoint}: no structure head, so no gene models {what}")
        self.k, self.stride = annotator.tokenizer.k, annotator.tokenizer.stride
        self.names = list(annotator.structure_labels.classes)
        cols = slice(annotator.n_function, annotator.n_classes)
        self._decoded = []  # (genome, records, cfg, val predicate, reference intervals, store index)
        try:
            for i, store in enumerate(stores):
                genome = open_genome(store_genome_path(store))
                t0 = time.perf_counter()
                records = []
                self._decoded.append((genome, records))
                for seqid in store.seqids:
                    probs = annotator.record_probs(np.asarray(store.tokens(seqid)))
                    records.append((seqid, lambda a, b, s=seqid, g=genome: g.fetch(s, a, b),
                                    int(genome.lengths[seqid]), probs.columns(cols)))
                inside = within_regions([(r.seqid, r.start, r.end) for r in store.regions("val")])
                ref = [Interval(f"{i}:{g.seqid}", g.start, g.end, g.strand, "protein_coding") for g in store.genes()
                       if g.biotype == "protein_coding" and inside(g)]
                self._decoded[-1] = (genome, records, DecodeConfig(table=store.transl_table or 11), inside, ref, i)
                if log:
                    log(f"{store.path}: network over {len(records)} record(s) in {time.perf_counter() - t0:.1f} s")
        except BaseException:
            self.close()
            raise

    def score(self, **hooks) -> dict:
        from genolong.annotate.orf_decode import decode_genome
        from genolong.evaluate.metrics import Interval, coding_metrics

        calls, refs = [], []
        for genome, records, cfg, inside, ref, i in self._decoded:
            genes = decode_genome(records, self.names, self.k, self.stride, cfg, **hooks)
            calls += [Interval(f"{i}:{g.seqid}", g.start, g.end, g.strand, g.biotype)
                      for s in genes for g in genes[s] if g.biotype == "protein_coding" and inside(g)]
            refs += ref
        scored = coding_metrics(calls, refs)  # no call at all leaves precision and exact start undefined: 0
        return {key: scored[key] or 0.0 for key in ("f1", "precision", "recall", "exact_start")}

    def close(self) -> None:
        for genome, *_ in self._decoded:
            genome.close()
        self._decoded = []

    def __enter__(self) -> "ValRegions":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
