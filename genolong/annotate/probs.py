"""`PREFIX.probs.npz`: the per-token class probabilities that `genolong evaluate` scores.

One float16 array (n_tokens, C) per record, under `probs_<i>` in record order, plus `meta`, a
JSON string with the record ids and lengths, the label vocabulary (`LabelVocab.to_dict()`) and
the tokenizer (`KmerTokenizer.to_dict()`), and `md5`: each record's sequence checksum
(`sequence_md5`), which `genolong evaluate` compares with the genome it is given. Two-head predictions add `structure_<i>` (n_tokens,
C_structure) and, in `meta`, `structure` (that vocabulary) and `transl_table`. Plain arrays
only: loading never unpickles. Arrays are written in slices of rows, so a record held on disk
(`spill.SpillArray`, or a memory map) is never loaded whole.
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
    structure: dict[str, np.ndarray] | None = None  # seqid -> (n_tokens, C_structure), two-head only
    structure_labels: dict | None = None
    transl_table: int | None = None
    md5: dict[str, str] | None = None  # seqid -> sequence_md5 of the annotated record (None: older files)

    @property
    def classes(self) -> list[str]:
        return list(self.labels["classes"])

    @property
    def kind(self) -> str:
        return self.labels["kind"]


ROWS_PER_SLICE = 1 << 16
MD5_SLICE = 1 << 22  # bp hashed at a time: a chromosome is never read whole


def sequence_md5(genome, seqid: str) -> str:
    """The md5 of a record's upper-cased sequence (soft-masking does not change it)."""
    import hashlib

    digest = hashlib.md5()
    length = genome.lengths[seqid]
    for a in range(0, length, MD5_SLICE):
        digest.update(genome.fetch(seqid, a, min(a + MD5_SLICE, length)).upper())
    return digest.hexdigest()


def _write_npy(zf: zipfile.ZipFile, name: str, array, dtype=np.float16) -> None:
    """One .npy member written slice by slice (`array` needs only `.shape` and row slicing)."""
    n, c = array.shape
    with zf.open(f"{name}.npy", "w", force_zip64=True) as fh:
        np.lib.format.write_array_header_2_0(fh, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                                                  "fortran_order": False, "shape": (int(n), int(c))})
        for a in range(0, n, ROWS_PER_SLICE):
            fh.write(np.ascontiguousarray(np.asarray(array[a : a + ROWS_PER_SLICE]), dtype=dtype).tobytes())


def save_probs(path: str | os.PathLike, probs: TokenProbs) -> None:
    meta = {"format": FORMAT, "seqids": probs.seqids, "lengths": probs.lengths,
            "labels": probs.labels, "tokenizer": probs.tokenizer}
    if probs.structure is not None:
        meta.update(structure=probs.structure_labels, transl_table=probs.transl_table)
    if probs.md5 is not None:
        meta["md5"] = probs.md5
    with atomic_open(path, "wb") as fh, zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("meta.npy", "w") as member:
            np.lib.format.write_array(member, np.array(json.dumps(meta)), allow_pickle=False)
        for i, s in enumerate(probs.seqids):
            _write_npy(zf, f"probs_{i}", probs.probs[s])
            if probs.structure is not None:
                _write_npy(zf, f"structure_{i}", probs.structure[s])


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
            structure = {s: data[f"structure_{i}"] for i, s in enumerate(seqids)} if meta.get("structure") else None
    except GenolongError:
        raise
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError, EOFError) as exc:
        raise GenolongError(f"{path}: not a genolong probabilities file ({type(exc).__name__}: {exc})") from None
    n_classes = len(meta["labels"]["classes"])
    for s, p in probs.items():
        if p.ndim != 2 or p.shape[1] != n_classes:
            raise GenolongError(f"{path}: record {s}: probabilities have shape {p.shape}, expected (n, {n_classes})")
    return TokenProbs(seqids, {s: int(meta["lengths"][s]) for s in seqids}, probs, meta["labels"], meta["tokenizer"],
                      structure, meta.get("structure"), meta.get("transl_table"), meta.get("md5"))
