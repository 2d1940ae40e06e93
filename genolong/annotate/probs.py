"""`PREFIX.probs.npz`: the per-token class probabilities that `genolong evaluate` scores.

One float16 array (n_tokens, C) per record, under `probs_<i>` in record order, plus `meta`, a
JSON string with the record ids and lengths, the label vocabulary (`LabelVocab.to_dict()`) and
the tokenizer (`KmerTokenizer.to_dict()`). Plain arrays only: loading never unpickles.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass

import numpy as np

from genolong.atomic import atomic_open
from genolong.errors import GenolongError

FORMAT = 1


@dataclass
class TokenProbs:
    seqids: list[str]
    lengths: dict[str, int]
    probs: dict[str, np.ndarray]  # seqid -> (n_tokens, C) float16
    labels: dict  # LabelVocab.to_dict()
    tokenizer: dict  # KmerTokenizer.to_dict()

    @property
    def classes(self) -> list[str]:
        return list(self.labels["classes"])

    @property
    def kind(self) -> str:
        return self.labels["kind"]


def save_probs(path: str | os.PathLike, probs: TokenProbs) -> None:
    meta = {"format": FORMAT, "seqids": probs.seqids, "lengths": probs.lengths,
            "labels": probs.labels, "tokenizer": probs.tokenizer}
    arrays = {f"probs_{i}": np.asarray(probs.probs[s], dtype=np.float16) for i, s in enumerate(probs.seqids)}
    with atomic_open(path, "wb") as fh:
        np.savez_compressed(fh, meta=np.array(json.dumps(meta)), **arrays)


def load_probs(path: str | os.PathLike) -> TokenProbs:
    if not os.path.exists(path):
        raise GenolongError(f"{path}: no such file (run `genolong annotate` first)")
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta.get("format") != FORMAT:
                raise GenolongError(f"{path}: unsupported probabilities format {meta.get('format')!r}")
            seqids = list(meta["seqids"])
            probs = {s: data[f"probs_{i}"] for i, s in enumerate(seqids)}
    except GenolongError:
        raise
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError, EOFError) as exc:
        raise GenolongError(f"{path}: not a genolong probabilities file ({type(exc).__name__}: {exc})") from None
    n_classes = len(meta["labels"]["classes"])
    for s, p in probs.items():
        if p.ndim != 2 or p.shape[1] != n_classes:
            raise GenolongError(f"{path}: record {s}: probabilities have shape {p.shape}, expected (n, {n_classes})")
    return TokenProbs(seqids, {s: int(meta["lengths"][s]) for s in seqids}, probs, meta["labels"], meta["tokenizer"])
