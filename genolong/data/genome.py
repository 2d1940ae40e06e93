"""Genome sequence readers: FASTA (plain, gzip, bgzip) and GenBank behind one interface.

`open_genome(path)` sniffs the content (not the extension) and returns a `Genome` with
`ids`, `lengths` and `fetch(seqid, start, end) -> bytes` (case as in the file).

- FASTA goes through pyfaidx for random access without loading whole chromosomes. A bgzip file
  is indexed in place; a plain gzip file cannot be, so it is decompressed once into a private
  temporary file that `close()` removes. When the FASTA's folder is read-only, the `.fai` index
  is written to a temporary folder instead.
- GenBank goes through biopython; its records (sequence and features) are parsed once and kept,
  so `annotation.read_annotation` can reuse them via `Genome.genbank_records`.
- `Genome.circular`: the records the file itself says are circular (a GenBank LOCUS line's
  topology; FASTA says nothing). `fetch_circular` reads a range across the origin of one.

Every user mistake (missing or unreadable path, empty file, not FASTA/GenBank, empty record,
duplicate ids, GenBank without sequence, malformed FASTA lines) raises GenolongError.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from genolong.errors import GenolongError

_BGZF_MAGIC = b"\x1f\x8b\x08\x04"
_GZIP_MAGIC = b"\x1f\x8b"
# Every IUPAC nucleotide code, gap and soft-masked lowercase; anything else in a FASTA
# sequence line (e.g. a binary file that happens to start with '>') is an error.
_FASTA_SEQ_OK = re.compile(rb"^[ACGTURYKMSWBDHVNacgturykmswbdhvn.*\-]*$")


def check_readable(path: str | os.PathLike, what: str = "file") -> Path:
    """Resolve `path` or raise a one-line GenolongError naming it."""
    p = Path(path)
    if not p.exists():
        raise GenolongError(f"{p}: {what} does not exist")
    if p.is_dir():
        raise GenolongError(f"{p}: is a directory, expected a {what}")
    if not os.access(p, os.R_OK):
        raise GenolongError(f"{p}: {what} is not readable (permission denied)")
    return p


def _open_text(path: Path):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == _GZIP_MAGIC:
        return gzip.open(path, "rt", encoding="utf-8", errors="replace", newline=None)
    return open(path, "rt", encoding="utf-8", errors="replace", newline=None)


def sniff_format(path: str | os.PathLike) -> str:
    """'fasta', 'genbank', 'gff3', 'gtf' or raise: decided by content, gzip or not."""
    p = check_readable(path)
    try:
        with _open_text(p) as fh:
            head = fh.read(65536)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise GenolongError(f"{p}: cannot read: {exc}") from None
    if "\x00" in head:
        raise GenolongError(f"{p}: binary content, not a FASTA, GenBank, GFF3 or GTF file")
    stripped = head.lstrip()
    if not stripped:
        raise GenolongError(f"{p}: file is empty")
    if stripped.startswith(">"):
        return "fasta"
    if stripped.startswith("LOCUS"):
        return "genbank"
    for line in stripped.splitlines():
        if line.startswith("##gff-version"):
            return "gff3"
        if not line or line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) == 9:
            return "gtf" if re.match(r'\s*[\w.]+ "', cols[8]) else "gff3"
        break
    raise GenolongError(f"{p}: not a FASTA, GenBank, GFF3 or GTF file (first line: {stripped.splitlines()[0][:40]!r})")


class Genome:
    """Base interface; use `open_genome`."""

    path: Path
    format: str
    ids: list[str]
    lengths: dict[str, int]
    circular: frozenset[str] = frozenset()  # records the file marks circular

    def fetch(self, seqid: str, start: int = 0, end: int | None = None) -> bytes:
        raise GenolongError(f"{self.path}: fetch is not available on {type(self).__name__}")

    def _check_range(self, seqid: str, start: int, end: int | None) -> tuple[int, int]:
        if seqid not in self.lengths:
            raise GenolongError(f"{self.path}: record {seqid!r} not found (records: {', '.join(self.ids[:5])}{'...' if len(self.ids) > 5 else ''})")
        length = self.lengths[seqid]
        end = length if end is None else end
        if not 0 <= start <= end <= length:
            raise GenolongError(f"{self.path}: {seqid}: range {start}-{end} outside the record (length {length})")
        return start, end

    @property
    def genbank_records(self) -> list | None:
        return None

    def close(self) -> None:
        pass

    def __enter__(self) -> "Genome":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, {len(self.ids)} records)"


class GenBankGenome(Genome):
    format = "genbank"

    def __init__(self, path: Path):
        from Bio import SeqIO
        from Bio.Seq import UndefinedSequenceError

        self.path = path
        self._seqs: dict[str, bytes] = {}
        self._records = []
        self.ids, self.lengths = [], {}
        circular = set()
        try:
            with _open_text(path) as fh:
                for rec in SeqIO.parse(fh, "genbank"):
                    try:
                        seq = bytes(rec.seq)
                    except UndefinedSequenceError:
                        raise GenolongError(f"{path}: record {rec.id}: GenBank record has no sequence (no ORIGIN data)") from None
                    self._add(rec.id, seq)
                    self._records.append(rec)
                    if rec.annotations.get("topology") == "circular":
                        circular.add(rec.id)
        except GenolongError:
            raise
        except Exception as exc:  # biopython raises ValueError/ParserFailureError variants
            if "Premature end of features table" in str(exc):
                raise GenolongError(f"{path}: GenBank record has no sequence (features end without ORIGIN data)") from None
            raise GenolongError(f"{path}: malformed GenBank: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
        if not self.ids:
            raise GenolongError(f"{path}: no GenBank records found")
        self.circular = frozenset(circular)

    def _add(self, seqid: str, seq: bytes) -> None:
        if seqid in self._seqs:
            raise GenolongError(f"{self.path}: record {seqid}: duplicate record id")
        if not seq:
            raise GenolongError(f"{self.path}: record {seqid}: empty sequence")
        self._seqs[seqid] = seq
        self.ids.append(seqid)
        self.lengths[seqid] = len(seq)

    @property
    def genbank_records(self) -> list:
        return self._records

    def fetch(self, seqid: str, start: int = 0, end: int | None = None) -> bytes:
        start, end = self._check_range(seqid, start, end)
        return self._seqs[seqid][start:end]


class FastaGenome(Genome):
    format = "fasta"

    def __init__(self, path: Path):
        import pyfaidx

        self.path = path
        self._tmpdir: str | None = None
        with open(path, "rb") as fh:
            magic = fh.read(4)
        source = path
        if magic[:2] == _GZIP_MAGIC and magic != _BGZF_MAGIC:
            source = self._decompress(path)
        self._validate(source)
        index = Path(f"{source}.fai")
        if not os.access(source.parent, os.W_OK) and not index.exists():
            index = Path(self._tmp()) / (source.name + ".fai")
        try:
            self._fa = self._open_indexed(source, index)
            if not self._index_agrees():
                # a .fai of another file (an older copy restored with its dates, `tar x`): pyfaidx
                # only rebuilds one older than the FASTA, so build a fresh one beside, in a
                # temporary folder, and leave the user's file as it is
                self._fa.close()
                print(f"genolong: {index}: index does not match {path} (stale); using a fresh one",
                      file=sys.stderr)
                self._fa = self._open_indexed(source, Path(self._tmp()) / (source.name + ".fai"))
        except pyfaidx.FastaIndexingError as exc:
            raise GenolongError(f"{path}: malformed FASTA: {str(exc).splitlines()[0]}") from None
        except ValueError as exc:
            msg = str(exc)
            if "Duplicate key" in msg:
                dup = re.search(r'Duplicate key "([^"]*)"', msg)
                raise GenolongError(f"{path}: record {dup.group(1) if dup else '?'}: duplicate record id") from None
            raise GenolongError(f"{path}: malformed FASTA: {msg.splitlines()[0]}") from None
        self.ids = list(self._fa.keys())
        self.lengths = {k: len(self._fa[k]) for k in self.ids}
        for k in self.ids:
            if self.lengths[k] == 0:
                raise GenolongError(f"{path}: record {k}: empty sequence")

    @staticmethod
    def _open_indexed(source: Path, index: Path):
        import pyfaidx

        return pyfaidx.Fasta(str(source), indexname=str(index), as_raw=True, sequence_always_upper=False,
                             read_long_names=False, rebuild=True, build_index=True)

    def _index_agrees(self) -> bool:
        index = self._fa.faidx.index
        if list(index) != list(self._layout):
            return False
        for seqid, (length, offset, first_line) in self._layout.items():
            entry = index[seqid]
            if entry.rlen != length or (offset is not None and (entry.offset, entry.lenc) != (offset, first_line)):
                return False
        return True

    def _tmp(self) -> str:
        if self._tmpdir is None:
            self._tmpdir = tempfile.mkdtemp(prefix="genolong-fasta-")
        return self._tmpdir

    def _decompress(self, path: Path) -> Path:
        out = Path(self._tmp()) / (path.name.removesuffix(".gz") or "genome.fa")
        try:
            with gzip.open(path, "rb") as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 22)
        except (OSError, EOFError) as exc:
            raise GenolongError(f"{path}: cannot decompress: {exc}") from None
        return out

    def _validate(self, source: Path) -> None:
        """One streaming pass for the mistakes pyfaidx accepts silently: a header-less first
        line, duplicate ids, non-sequence characters. Line numbers refer to the file."""
        seen: set[str] = set()
        with open(source, "rb") as fh:
            opener = gzip.open if fh.read(2) == _GZIP_MAGIC else open
        current, n_seq = None, 0
        # what a fresh .fai holds for each record: [length, offset of its first base (plain files
        # only), bases in its first line]; an existing index is checked against it
        self._layout: dict[str, list] = {}
        plain = opener is open
        pos = 0
        with opener(source, "rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                line = raw.rstrip(b"\r\n")
                if line.startswith(b">"):
                    if current is not None and n_seq == 0:
                        raise GenolongError(f"{self.path}: record {current}: empty sequence")
                    current = line[1:].split(None, 1)[0].decode("utf-8", "replace") if line[1:].strip() else ""
                    if not current:
                        raise GenolongError(f"{self.path}: line {lineno}: FASTA header without a record id")
                    if current in seen:
                        raise GenolongError(f"{self.path}: record {current}: duplicate record id (line {lineno})")
                    seen.add(current)
                    n_seq = 0
                    self._layout[current] = [0, pos + len(raw) if plain else None, None]
                elif current is None:
                    if line.strip():
                        raise GenolongError(f"{self.path}: line {lineno}: sequence before the first '>' header")
                else:
                    if not _FASTA_SEQ_OK.match(line):
                        raise GenolongError(f"{self.path}: record {current}: line {lineno}: invalid characters in sequence")
                    if b"U" in line or b"u" in line:
                        # every tokenizer and gene model here reads DNA: U would only ever be unknown
                        raise GenolongError(f"{self.path}: record {current}: an RNA sequence (U, line {lineno}); "
                                            "genolong reads DNA: write T for U")
                    n_seq += len(line)
                    layout = self._layout[current]
                    layout[0] = n_seq
                    if layout[2] is None and line:
                        layout[2] = len(line)
                pos += len(raw)
        if current is None:
            raise GenolongError(f"{self.path}: no FASTA records found")
        if n_seq == 0:
            raise GenolongError(f"{self.path}: record {current}: empty sequence")

    def fetch(self, seqid: str, start: int = 0, end: int | None = None) -> bytes:
        start, end = self._check_range(seqid, start, end)
        if start == end:
            return b""
        return self._fa.faidx.fetch(seqid, start + 1, end).encode("ascii")

    def close(self) -> None:
        fa = getattr(self, "_fa", None)
        if fa is not None:
            fa.close()
            self._fa = None
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __del__(self):
        if getattr(self, "_tmpdir", None):
            shutil.rmtree(self._tmpdir, ignore_errors=True)


def fetch_circular(genome: Genome, seqid: str, start: int, end: int) -> bytes:
    """Bases [start, end) of a record read around its circle: positions count modulo the record's
    length, so a range past its end (a gene across the origin, [start, end) with end > length) or
    before its start continues from the other end, as many times round as the range asks. A range
    inside the record is `fetch` itself."""
    length = genome.lengths[seqid]
    if 0 <= start <= end <= length:
        return genome.fetch(seqid, start, end)
    pieces, pos = [], start
    while pos < end:
        a = pos % length
        b = min(length, a + (end - pos))
        pieces.append(genome.fetch(seqid, a, b))
        pos += b - a
    return b"".join(pieces)


def open_genome(path: str | os.PathLike) -> Genome:
    """Open a FASTA (plain/gzip/bgzip) or GenBank file, chosen by content."""
    p = check_readable(path, "genome file")
    fmt = sniff_format(p)
    if fmt == "fasta":
        return FastaGenome(p)
    if fmt == "genbank":
        return GenBankGenome(p)
    raise GenolongError(f"{p}: is a {fmt.upper()} annotation, expected a FASTA or GenBank genome")
