"""The network-free decoder: what the gene calls are worth without the network.

The ORF baseline's genes (`orf_baseline.py`) are the first pass; `orf_decode.decode_genome` then
self-trains the same start and coding models on them and decodes again, as `genolong annotate`
does, but over structure probabilities that carry no evidence (`orf_decode.no_evidence`: every
token's log-ratios exactly 0). Whatever a model's row gains over this one, its network earned.
"""

from __future__ import annotations

from genolong.annotate.orf_decode import DecodeConfig, GeneModel, decode_genome, no_evidence
from genolong.data.structure import STRUCTURE_CLASSES
from genolong.evaluate import orf_baseline
from genolong.errors import GenolongError
from genolong.evaluate.metrics import Interval

SYSTEM = "no network"


def records(genome, seqids: list[str], tokenizer) -> list[tuple]:
    """(seqid, fetch, length_bp, probs) per record, as `decode_genome` reads them, with
    `no_evidence` probabilities on the tokenizer's grid."""
    out = []
    for seqid in seqids:
        length = genome.lengths[seqid]
        out.append((seqid, lambda a, b, s=seqid: genome.fetch(s, a, b), length,
                    no_evidence(tokenizer.n_tokens(length), list(STRUCTURE_CLASSES))))
    return out


def call_genes(genome, seqids: list[str], table: int, tokenizer,
               cfg: DecodeConfig | None = None) -> list[Interval]:
    """The network-free decoder's genes on every record of a Genome, in coordinate order."""
    cfg = cfg or DecodeConfig(table=table)
    first = {seqid: [GeneModel(c.seqid, c.start, c.end, c.strand, "protein_coding", 0.0)
                     for c in orf_baseline.orf_calls(genome.fetch(seqid), seqid, table)] for seqid in seqids}
    genes = decode_genome(records(genome, seqids, tokenizer), list(STRUCTURE_CLASSES), tokenizer.k,
                          tokenizer.stride, cfg, first_pass=first)
    return [Interval(g.seqid, g.start, g.end, g.strand, g.biotype) for seqid in seqids for g in genes[seqid]]


def rule(cfg: DecodeConfig) -> str:
    return (f"ORF baseline's genes as the first pass, then the self-trained start and coding models "
            f"({cfg.start_rounds} rounds), network evidence 0, genetic code {cfg.table}")


def pseudogene_pass(genome, calls: list[Interval], table: int, pred) -> tuple[list[Interval], str]:
    """The model run's pseudogene pass (annotate/pseudogenes.py), when it had one, on these calls:
    the same index (PREFIX.function.npz names it and its sha256) and thresholds, flagged calls
    turned biotype `pseudogene`. A pass that only one row had would make the gap between them the
    pass's, not the network's. Returns the calls and a phrase for the rule."""
    import dataclasses
    import json
    import zipfile
    from pathlib import Path

    import numpy as np

    from genolong.annotate import pseudogenes

    path = Path(f"{pred}.function.npz")
    if not path.is_file():
        return calls, "no pseudogene pass (the model's run had none)"
    try:
        with np.load(path, allow_pickle=False) as z:
            rec = json.loads(str(z["meta"])).get("pseudogenes")
    except (OSError, ValueError, KeyError, AttributeError, zipfile.BadZipFile) as exc:
        raise GenolongError(f"{path}: not a readable genolong function file: {exc}") from None
    if not rec:
        return calls, "no pseudogene pass (the model's run had none)"
    index, cfg = pseudogenes.load_record(rec, str(path))
    notes = pseudogenes.flag_calls(genome, calls, table, index, cfg=cfg)
    out = [c if n is None else dataclasses.replace(c, biotype="pseudogene") for c, n in zip(calls, notes)]
    return out, f"the model run's pseudogene pass ({sum(n is not None for n in notes)} of {len(calls)} calls flagged)"
