"""The token store on disk: its writer (`StoreWriter`, used by `genolong prepare`) and its reader
(`TokenStore`). This module is the one owner of the layout below.

```
DIR/meta.json      {"format": 1, "tokenizer": {...}, "labels": {...}, "records": {seqid: {"length",
                    "n_tokens", "file"}}, "inputs": {"genome": {path, sha256}, "annotation": ...},
                    "split": {"spec", "leak": {...}, "sizes": {split: n_tokens}}}
DIR/labels.json    LabelVocab.to_dict()
DIR/genes.tsv      the gene table with each gene's labels
DIR/split.tsv      seqid start end tok_start tok_end split
DIR/tokens/<file>.npy   (n_tokens,) uint16
DIR/targets/<file>.npy  (n_tokens,) uint8 or (n_tokens, n_outputs) uint8
DIR/structure/<file>.npy  (n_tokens,) uint8 index into meta["structure"] (genolong.data.structure)
```
meta.json also holds `"structure"` (that vocabulary) and `"transl_table"` (NCBI genetic code);
stores written before them have neither (`structure_labels` None, `transl_table` 11).
`file` is a file-name-safe stem of the record id (ids may hold `/`, `|`, ...), unique per store.
meta.json is written last, so a directory without it is not a store; the writer builds the store
in a hidden sibling folder and renames it into place, so a failed run leaves nothing.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from functools import cached_property
from pathlib import Path

import numpy as np

from genolong.data.annotation import Gene, read_genes_tsv
from genolong.atomic import temp_prefix
from genolong.errors import GenolongError
from genolong.data.labels import LabelVocab
from genolong.data.split import SPLITS, Region
from genolong.data.tokenizer import KmerTokenizer

FORMAT = 1
SPLIT_COLUMNS = ("seqid", "start", "end", "tok_start", "tok_end", "split")


def file_stem(seqid: str, taken: set[str]) -> str:
    """A file-name-safe, case-insensitively unique stem for a record id."""
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", seqid).strip(".") or "record"
    base, n = stem, 1
    while stem.lower() in taken:
        n += 1
        stem = f"{base}_{n}"
    taken.add(stem.lower())
    return stem


class TokenStore:
    """Read-only view of a token store; arrays are memory-mapped."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        meta_path = self.path / "meta.json"
        if not self.path.is_dir():
            raise GenolongError(f"{self.path}: token store directory does not exist")
        if not meta_path.is_file():
            raise GenolongError(f"{self.path}: not a token store (no meta.json; was `genolong prepare` interrupted?)")
        try:
            self.meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise GenolongError(f"{meta_path}: unreadable store metadata: {exc}") from None
        if self.meta.get("format") != FORMAT:
            raise GenolongError(f"{meta_path}: store format {self.meta.get('format')!r}, this genolong reads format {FORMAT}")
        self.tokenizer = KmerTokenizer.from_dict(self.meta["tokenizer"])
        self.labels = LabelVocab.from_dict(self.meta["labels"])
        structure = self.meta.get("structure")
        self.structure_labels = LabelVocab.from_dict(structure) if structure else None
        self.transl_table = int(self.meta.get("transl_table", 11))
        self.records: dict[str, dict] = self.meta["records"]
        self.seqids: list[str] = list(self.records)

    def __repr__(self) -> str:
        return f"TokenStore({str(self.path)!r}, {len(self.seqids)} records, {self.labels.scheme})"

    def _record(self, seqid: str) -> dict:
        if seqid not in self.records:
            raise GenolongError(f"{self.path}: record {seqid!r} is not in this store")
        return self.records[seqid]

    def _load(self, folder: str, seqid: str) -> np.ndarray:
        path = self.path / folder / f"{self._record(seqid)['file']}.npy"
        try:
            return np.load(path, mmap_mode="r")
        except (OSError, ValueError) as exc:
            raise GenolongError(f"{path}: cannot read store array: {exc}") from None

    def tokens(self, seqid: str) -> np.ndarray:
        """(n_tokens,) uint16, memory-mapped."""
        return self._load("tokens", seqid)

    def targets(self, seqid: str) -> np.ndarray:
        """(n_tokens,) or (n_tokens, n_outputs) uint8, memory-mapped."""
        return self._load("targets", seqid)

    def structure(self, seqid: str) -> np.ndarray:
        """(n_tokens,) uint8 structure class per token, memory-mapped."""
        if self.structure_labels is None:
            raise GenolongError(f"{self.path}: this store has no structure targets; re-run `genolong prepare`")
        return self._load("structure", seqid)

    @cached_property
    def _split_rows(self) -> list[tuple[str, Region]]:
        path = self.path / "split.tsv"
        if not path.is_file():
            raise GenolongError(f"{path}: split table missing")
        rows = []
        with open(path, encoding="utf-8") as fh:
            reader = csv.reader(fh, delimiter="\t")
            header = next(reader, None)
            if tuple(header or ()) != SPLIT_COLUMNS:
                raise GenolongError(f"{path}: line 1: expected columns {' '.join(SPLIT_COLUMNS)}")
            for lineno, row in enumerate(reader, 2):
                try:
                    seqid, s, e, ts, te, split = row
                    rows.append((split, Region(seqid, int(ts), int(te), int(s), int(e))))
                except ValueError:
                    raise GenolongError(f"{path}: line {lineno}: malformed row") from None
        return rows

    def regions(self, split: str) -> list[Region]:
        if split not in SPLITS:
            raise GenolongError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
        return [r for s, r in self._split_rows if s == split]

    def genes(self) -> list[Gene]:
        return read_genes_tsv(self.path / "genes.tsv")


def check_compatible(where, tokenizer=None, labels=None, expect_tokenizer=None, expect_labels=None,
                     have: str = "checkpoint", want: str = "requested") -> None:
    """GenolongError when a tokenizer / label vocabulary (objects or their `to_dict()`) differs
    from the expected one. The one check behind annotate's `--store`, evaluation's `--baseline`
    and fine-tuning from a pretrained checkpoint."""
    def as_dict(value):
        return value if isinstance(value, dict) else value.to_dict()

    if tokenizer is not None and expect_tokenizer is not None:
        a, b = as_dict(tokenizer), as_dict(expect_tokenizer)
        if a.get("vocab_hash") != b.get("vocab_hash"):
            raise GenolongError(f"{where}: {have} tokenizer (k={a.get('k')}, stride={a.get('stride')}) does not "
                                f"match the {want} one (k={b.get('k')}, stride={b.get('stride')})")
    if labels is not None and expect_labels is not None:
        a, b = as_dict(labels), as_dict(expect_labels)
        if (a.get("scheme"), a.get("kind"), list(a.get("classes", []))) != (
                b.get("scheme"), b.get("kind"), list(b.get("classes", []))):
            raise GenolongError(
                f"{where}: {have} labels (scheme {a.get('scheme')!r}, {len(a.get('classes', []))} classes) do not "
                f"match the {want} ones (scheme {b.get('scheme')!r}, {len(b.get('classes', []))} classes)")


class StoreWriter:
    """Builds a token store in a hidden sibling of `out`; `commit(meta)` renames it into place.

    Use as a context manager: leaving the block without `commit` (an error) removes the work
    folder, and any store already at `out` is left as it was.
    """

    def __init__(self, out: str | os.PathLike):
        from genolong.atomic import clean_stale, temp_prefix

        self.out = Path(out)
        check_replaceable(self.out)  # before the work, not after it
        self.out.parent.mkdir(parents=True, exist_ok=True)
        clean_stale(self.out)
        self.work = Path(tempfile.mkdtemp(prefix=temp_prefix(self.out), suffix=".tmp", dir=self.out.parent))
        self.work.chmod(0o755)  # mkdtemp makes it private; the store is an ordinary output folder
        self.records: dict[str, dict] = {}
        self._taken: set[str] = set()

    def __enter__(self) -> "StoreWriter":
        return self

    def __exit__(self, *exc) -> None:
        if self.work.exists():
            shutil.rmtree(self.work, ignore_errors=True)

    def add_record(self, seqid: str, length: int, n_tokens: int,
                   arrays: dict[str, tuple[np.dtype, tuple[int, ...], Callable[[np.ndarray], None]]]) -> None:
        """One record: for each folder (`tokens`, `targets`, ...) a dtype, the per-token shape and a
        function that fills the (n_tokens, *shape) memory-mapped array in place."""
        from genolong.atomic import atomic_path

        stem = file_stem(seqid, self._taken)
        for folder, (dtype, shape, fill) in arrays.items():
            with atomic_path(self.work / folder / f"{stem}.npy") as tmp:
                if n_tokens:
                    arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=(n_tokens, *shape))
                    fill(arr)
                    arr.flush()
                    del arr
                else:
                    with open(tmp, "wb") as fh:  # np.save given a path would add ".npy" to its name
                        np.save(fh, np.zeros((0, *shape), dtype=dtype))
        self.records[seqid] = {"length": length, "n_tokens": n_tokens, "file": stem}

    def write_genes(self, genes, labels_by_gene: dict[str, list[str]], vocab: LabelVocab) -> None:
        from genolong.atomic import atomic_open
        from genolong.data.annotation import write_genes_tsv

        write_genes_tsv(genes, self.work / "genes.tsv", labels_by_gene)
        with atomic_open(self.work / "labels.json", "w", encoding="utf-8") as fh:
            json.dump(vocab.to_dict(), fh, indent=1)

    def write_split(self, rows) -> None:
        """`rows`: objects with `.region` (a `Region`) and `.split`."""
        from genolong.atomic import atomic_open

        with atomic_open(self.work / "split.tsv", "w", encoding="utf-8") as fh:
            fh.write("\t".join(SPLIT_COLUMNS) + "\n")
            for sr in rows:
                r = sr.region
                fh.write(f"{r.seqid}\t{r.start}\t{r.end}\t{r.tok_start}\t{r.tok_end}\t{sr.split}\n")

    def commit(self, meta: dict) -> dict:
        """Write meta.json (format and records filled in) last, then swap the store into place."""
        from genolong.atomic import atomic_open

        meta = {"format": FORMAT, **meta, "records": self.records}
        with atomic_open(self.work / "meta.json", "w", encoding="utf-8") as fh:
            json.dump(meta, fh, indent=1)
        _swap_into_place(self.work, self.out)
        return meta


# everything a store folder may hold (a new file of the store belongs here): a folder with
# anything else is not (only) a store, and `prepare --out` will not replace it
STORE_ENTRIES = {"meta.json", "labels.json", "genes.tsv", "split.tsv", "tokens", "targets", "structure"}


def check_replaceable(out: Path) -> None:
    """`out` may be replaced only when it is absent, empty, or provably a token store: nothing but
    store entries, and a meta.json that is one. A folder that merely holds a meta.json may hold
    the user's other files too."""
    if out.exists() and not out.is_dir():
        raise GenolongError(f"{out}: exists and is not a directory")
    if not out.exists() or not any(out.iterdir()):
        return
    refuse = f"{out}: exists, is not empty and is not a token store; refusing to replace it"
    others = sorted(p.name for p in out.iterdir() if p.name not in STORE_ENTRIES)
    if others:
        raise GenolongError(f"{refuse} (it holds {others[0]})")
    try:
        meta = json.loads((out / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise GenolongError(f"{refuse} (no readable meta.json)") from None
    if not isinstance(meta, dict) or not {"format", "tokenizer", "labels", "records"} <= set(meta):
        raise GenolongError(f"{refuse} (its meta.json is not a store's)")


def _swap_into_place(work: Path, out: Path) -> None:
    check_replaceable(out)
    old = None
    if out.exists():
        old = out.with_name(f"{temp_prefix(out)}old.tmp")
        os.replace(out, old)
    os.replace(work, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
