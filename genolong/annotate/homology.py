"""Homology evidence: a saved index of labelled proteins, searched by Smith-Waterman.

The index holds the protein-coding genes of training genomes that carry a label (GO terms, or a
named `/product`); `HomologyIndex.search` aligns query proteins against it and `term_scores` /
`label_scores` turn the hits into DeepGOPlus-style scores (bitscore-weighted votes).

Search, per query:
1. prefilter: the `CANDIDATES` targets sharing the most 4-mers in the Murphy 10-letter reduced
   alphabet (shared count / sqrt(the target's 4-mers); one sparse product for all queries). For
   Afade's proteins against the three mycoides training genomes, 64 candidates keep the
   exhaustive search's best hit for 96.8% of the queries with a hit (99.3% where it scores
   >= 50 bits; the misses are weak hits), at a fifth of the exhaustive search's time.
2. exact Smith-Waterman scores on the candidates (pyopal, SIMD), BLOSUM62 with BLASTP's gap
   costs 11 + 1 per residue, E-values from Karlin-Altschul statistics over the whole index;
3. a full alignment (pyopal "full" mode) of the hits kept, for identity and coverage.
pyswrd's SWORD search was measured too: with its default candidates it aligns nearly every
pair (102 CPU s for 1,956 x 2,225 proteins on one thread, against 13 s here; benchmarks/homology.py),
and in pyswrd 0.3.1 a smaller `max_candidates` keeps the wrong candidates (the exhaustive best
hit survives for 2% of the queries).

The saved file is gzip JSON (no pickle) with a sha256 sidecar `PATH.sha256`.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import math
import os
import re
import sys
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from genolong.atomic import atomic_open
from genolong.data.annotation import Gene, read_annotation
from genolong.data.genome import check_readable, open_genome
from genolong.data.labels import go_terms, is_named_product
from genolong.data.split import within_regions
from genolong.errors import GenolongError

FORMAT = "genolong-homology-index"
VERSION = 1
MATRIX = "BLOSUM62"
GAP_OPEN, GAP_EXTEND = 11, 1  # BLASTP's: a gap of n residues costs GAP_OPEN + n * GAP_EXTEND
LAMBDA, K = 0.267, 0.041  # NCBI's Karlin-Altschul parameters for BLOSUM62 with gaps 11/1
CANDIDATES = 64  # targets per query that the prefilter passes to Smith-Waterman
MIN_QUERY_LENGTH = 10  # shorter queries cannot reach a useful E-value; they get no hits
_ALPHABET = "ARNDCQEGHILKMFPSTWYVBZX"  # BLOSUM62's letters; anything else aligns as X
_NOT_AMINO = re.compile(f"[^{_ALPHABET}]")
_MURPHY10 = ("LVIM", "C", "A", "G", "ST", "P", "FYW", "EDNQ", "KR", "H")  # Murphy et al. 2000
_KMER = 4


@dataclass(frozen=True)
class IndexedProtein:
    genome: str  # the genome file's stem, e.g. "mycoides_GM12"
    locus: str  # locus_tag, else gene_id
    product: str  # /product as written ('' if none)
    terms: tuple[str, ...]  # GO ids as annotated (unpropagated, sorted)
    sequence: str  # translated cds-style: start -> M, no final stop, internal stops and ambiguous codons X


@dataclass(frozen=True)
class Hit:
    target: int  # index into HomologyIndex.proteins
    identity: float  # identical aligned residues / alignment columns (gaps included)
    query_coverage: float  # aligned query span / query length
    bitscore: float
    evalue: float
    # the aligned spans, 0-based half-open in residues (pseudogene fragments cover part of a
    # target: annotate/pseudogenes.py); the target's length is len(index.proteins[target].sequence)
    query_start: int = 0
    query_end: int = 0
    target_start: int = 0
    target_end: int = 0


# ---- proteins from genomes ---------------------------------------------------------------------
def translate_cds(bases: str, table: int, codon_start: int = 1) -> str:
    """A coding sequence (on its own strand) as protein, cds-style: a start codon first becomes M
    (only for a complete 5' end, codon_start 1), one final stop is dropped, internal stops and
    codons with non-ACGT bases become X."""
    from Bio.Data import CodonTable
    from Bio.Seq import Seq

    nt = re.sub("[^ACGT]", "N", bases.upper()[codon_start - 1:])  # gaps or '*' in a FASTA are unknown bases
    nt = nt[: len(nt) - len(nt) % 3]
    aa = list(str(Seq(nt).translate(table=table)))
    for m in re.finditer("N", nt):
        aa[m.start() // 3] = "X"
    if aa and codon_start == 1 and nt[:3] in CodonTable.unambiguous_dna_by_id[table].start_codons:
        aa[0] = "M"
    if aa and aa[-1] == "*":
        aa.pop()
    return "".join(aa).replace("*", "X")


def _coding_bases(genome, gene: Gene) -> str | None:
    """The gene's parts joined along its strand (None for mixed-strand genes)."""
    if gene.strand not in "+-" or any(st != gene.strand for _, _, st in gene.parts):
        return None
    from Bio.Seq import reverse_complement

    from genolong.data.genome import fetch_circular

    # a gene across the origin of a circular record ends past the record's end: read round it
    bases = "".join(fetch_circular(genome, gene.seqid, s, e).decode("ascii") for s, e, _ in gene.parts)
    return bases if gene.strand == "+" else reverse_complement(bases)


def is_labelled(product: str, terms: Iterable[str]) -> bool:
    """A protein with GO terms or a named product: what the index keeps."""
    return bool(tuple(terms)) or is_named_product(product)


def _genome_name(path: Path) -> str:
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    return name.rsplit(".", 1)[0] if "." in name else name


def proteins_from_genome(genome_path, annotation_path=None, regions=None, name=None,
                         transl_table: int | None = None) -> list[IndexedProtein]:
    """The labelled protein-coding genes of a genome (GO terms, or a product that is not
    hypothetical/empty), wholly inside `regions` ((seqid, start, end) rows) when given.

    Each gene is translated under its own `/transl_table`, else `transl_table`, else the
    annotation's most common one, else 11 (genolong/data/structure.py)."""
    from genolong.data.structure import DEFAULT_TRANSL_TABLE, check_transl_table, transl_table_of

    genome_path = check_readable(genome_path, "genome file")
    annotation_path = check_readable(annotation_path or genome_path, "annotation file")
    name = name or _genome_name(genome_path)
    inside = within_regions(regions) if regions is not None else (lambda g: True)
    with open_genome(genome_path) as genome:
        genes = read_annotation(annotation_path, genome)
        default = (check_transl_table(transl_table, "transl_table") if transl_table is not None
                   else transl_table_of(genes, str(annotation_path)) or DEFAULT_TRANSL_TABLE)
        out = []
        for g in genes:
            if g.biotype != "protein_coding" or not inside(g):
                continue
            product = (g.attributes.get("product") or [""])[0]
            terms = tuple(sorted(go_terms(g)))
            if not is_labelled(product, terms):
                continue
            bases = _coding_bases(genome, g)
            if bases is None:
                continue
            where = f"{annotation_path}: gene {g.gene_id}"
            table = check_transl_table((g.attributes.get("transl_table") or [default])[0], f"{where}: /transl_table")
            codon_start = (g.attributes.get("codon_start") or ["1"])[0]
            codon_start = int(codon_start) if codon_start.strip() in ("1", "2", "3") else codon_start
            if codon_start not in (1, 2, 3):
                raise GenolongError(f"{where}: /codon_start {codon_start!r}: expected 1, 2 or 3")
            locus = (g.attributes.get("locus_tag") or [g.gene_id])[0]
            out.append(IndexedProtein(name, locus, product, terms, translate_cds(bases, table, codon_start)))
    return out


def proteins_from_stores(store_dirs, split: str = "train") -> list[IndexedProtein]:
    """The labelled proteins of each token store's `split` regions, read from the genome and
    annotation files its meta.json names (which must still be there, unchanged)."""
    from genolong.data.prepare import sha256_file
    from genolong.data.store import TokenStore

    proteins = []
    for store_dir in [store_dirs] if isinstance(store_dirs, (str, os.PathLike)) else store_dirs:
        store = TokenStore(store_dir)
        inputs = store.meta.get("inputs") or {}
        paths = {}
        for key in ("genome", "annotation"):
            entry = inputs.get(key) or {}
            path = Path(entry.get("path", ""))
            if not entry.get("path") or not path.is_file():
                raise GenolongError(f"{store.path / 'meta.json'}: {key} file {str(path)!r} is missing "
                                    f"(moved or deleted since `genolong prepare`)")
            if entry.get("sha256") and sha256_file(path) != entry["sha256"]:
                raise GenolongError(f"{path}: changed since `genolong prepare` wrote {store.path} (sha256 differs)")
            paths[key] = path
        regions = [(r.seqid, r.start, r.end) for r in store.regions(split)]
        proteins += proteins_from_genome(paths["genome"], paths["annotation"], regions,
                                         transl_table=store.transl_table)
    return proteins


# ---- search ------------------------------------------------------------------------------------
def clean_protein(sequence: str) -> str:
    """Upper case, no final stop, every letter outside BLOSUM62's alphabet as X."""
    seq = sequence.strip().upper()
    return _NOT_AMINO.sub("X", seq[:-1] if seq.endswith("*") else seq)


_REDUCED = np.full(256, -1, dtype=np.int64)
for _code, _group in enumerate(_MURPHY10):
    for _letter in _group:
        _REDUCED[ord(_letter)] = _code


def _kmer_matrix(sequences: Sequence[str]):
    """(n, 10^4) binary CSR: which reduced-alphabet 4-mers (none spanning an X) each sequence has."""
    import scipy.sparse as sp

    rows, cols = [], []
    for i, seq in enumerate(sequences):
        codes = _REDUCED[np.frombuffer(seq.encode("ascii"), dtype=np.uint8)]
        n = len(codes) - _KMER + 1
        if n <= 0:
            continue
        kmer = np.zeros(n, dtype=np.int64)
        valid = np.ones(n, dtype=bool)
        for j in range(_KMER):
            kmer = kmer * len(_MURPHY10) + codes[j:n + j]
            valid &= codes[j:n + j] >= 0
        kmer = np.unique(kmer[valid])
        rows.append(np.full(len(kmer), i, dtype=np.int64))
        cols.append(kmer)
    if not rows:
        return sp.csr_matrix((len(sequences), len(_MURPHY10) ** _KMER), dtype=np.float32)
    r, c = np.concatenate(rows), np.concatenate(cols)
    return sp.csr_matrix((np.ones(len(r), dtype=np.float32), (r, c)), shape=(len(sequences), len(_MURPHY10) ** _KMER))


def bitscore(raw: np.ndarray | float) -> np.ndarray | float:
    return (LAMBDA * np.asarray(raw, dtype=np.float64) - math.log(K)) / math.log(2)


class HomologyIndex:
    """Labelled proteins to search; `save`/`load` keep them in one checksummed file."""

    def __init__(self, proteins: Iterable[IndexedProtein]):
        self.proteins: list[IndexedProtein] = list(proteins)
        self.sha256: str = ""
        self._database = None  # pyopal database, k-mer matrix and residue count, made on first search
        self._kmers = None
        self._residues = 1

    def __len__(self) -> int:
        return len(self.proteins)

    # -- file ---------------------------------------------------------------------------------
    def _payload(self) -> bytes:
        doc = {"format": FORMAT, "version": VERSION,
               "proteins": [{"genome": p.genome, "locus": p.locus, "product": p.product,
                             "terms": list(p.terms), "sequence": p.sequence} for p in self.proteins]}
        # mtime 0 and no file name: the same proteins always give the same bytes and checksum
        return gzip.compress(json.dumps(doc, separators=(",", ":")).encode("utf-8"), mtime=0)

    def save(self, path) -> str:
        """Write the index to `path` and its checksum to `path`.sha256; returns the sha256."""
        path = Path(path)
        data = self._payload()
        self.sha256 = hashlib.sha256(data).hexdigest()
        with atomic_open(path, "wb") as fh:
            fh.write(data)
        with atomic_open(f"{path}.sha256", "w", encoding="utf-8") as fh:
            fh.write(f"{self.sha256}  {path.name}\n")
        return self.sha256

    @classmethod
    def load(cls, path) -> "HomologyIndex":
        path = check_readable(path, "homology index")
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        sidecar = Path(f"{path}.sha256")
        if sidecar.is_file():
            expected = sidecar.read_text(encoding="utf-8", errors="replace").split()
            if not expected or expected[0].lower() != digest:
                raise GenolongError(f"{path}: sha256 {digest} does not match {sidecar.name} "
                                    f"({expected[0] if expected else 'empty'}); the file is corrupt or was replaced")
        try:
            doc = json.loads(gzip.decompress(data).decode("utf-8"))
        except (OSError, EOFError, zlib.error, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise GenolongError(f"{path}: not a readable homology index (truncated or corrupt: {exc})") from None
        found = doc.get("format") if isinstance(doc, dict) else None
        if found != FORMAT:
            raise GenolongError(f"{path}: not a genolong homology index (format {found!r}, expected {FORMAT!r})")
        if doc.get("version") != VERSION:
            raise GenolongError(f"{path}: homology index version {doc.get('version')!r}, this genolong reads {VERSION}")
        try:
            proteins = [IndexedProtein(str(p["genome"]), str(p["locus"]), str(p["product"]),
                                       tuple(str(t) for t in p["terms"]), str(p["sequence"]))
                        for p in doc["proteins"]]
        except (KeyError, TypeError) as exc:
            raise GenolongError(f"{path}: malformed protein entry ({exc!r})") from None
        index = cls(proteins)
        index.sha256 = digest
        return index

    # -- search -------------------------------------------------------------------------------
    def _prepared(self):
        if self._database is None:
            import pyopal

            sequences = [clean_protein(p.sequence) for p in self.proteins]
            self._database = pyopal.Database(sequences)
            kmers = _kmer_matrix(sequences)
            self._kmers = (kmers.T.tocsr(), 1.0 / np.sqrt(np.asarray(kmers.sum(axis=1)).ravel() + 1.0))
            self._residues = max(sum(len(s) for s in sequences), 1)
        return self._database, self._kmers

    def candidates(self, queries: Sequence[str], n: int = CANDIDATES) -> list[np.ndarray]:
        """Per query, the indices of the `n` targets that share the most reduced 4-mers with it
        (count / sqrt(the target's 4-mers)); targets sharing none are never candidates."""
        _, (kmers_t, norm) = self._prepared()
        out = []
        for lo in range(0, len(queries), 512):  # bounds the dense (queries x targets) block
            shared = (_kmer_matrix(queries[lo:lo + 512]) @ kmers_t).toarray() * norm[None, :]
            for row in shared:
                hit = np.flatnonzero(row)
                if len(hit) > n:
                    hit = hit[np.argpartition(-row[hit], n - 1)[:n]]
                out.append(np.sort(hit))
        return out

    def search(self, queries: Sequence[str], evalue: float = 1e-3, max_hits: int = 25, threads: int = 1,
               progress: bool = False, candidates: int = CANDIDATES) -> list[list[Hit]]:
        """Per query, its hits with E-value <= `evalue`, best bitscore first, at most `max_hits`;
        [] for no hit and for queries shorter than MIN_QUERY_LENGTH. `candidates` 0 aligns
        every target (exhaustive)."""
        import pyopal

        queries = [clean_protein(q) for q in queries]
        if not self.proteins:
            return [[] for _ in queries]
        database, _ = self._prepared()
        if candidates > 0:
            cands = self.candidates(queries, candidates)
        else:  # every target but empty ones (pyopal's full mode crashes on an empty sequence)
            everything = np.array([i for i, p in enumerate(self.proteins) if clean_protein(p.sequence)], dtype=np.int64)
            cands = [everything] * len(queries)
        local = threading.local()

        def one(i: int) -> list[Hit]:
            query = queries[i]
            if len(query) < MIN_QUERY_LENGTH or len(cands[i]) == 0:
                return []
            if not hasattr(local, "aligner"):  # one aligner (and its buffers) per thread
                # Opal charges a gap of n residues open + (n - 1) * extend
                local.aligner = pyopal.Aligner(MATRIX, gap_open=GAP_OPEN + GAP_EXTEND, gap_extend=GAP_EXTEND)
            sub = database.extract(cands[i].tolist())
            scores = np.array([r.score for r in local.aligner.align(query, sub, mode="score", overflow="simple")])
            bits = bitscore(scores)
            evalues = len(query) * self._residues * np.exp2(-bits)
            keep = np.flatnonzero(evalues <= evalue)
            keep = keep[np.lexsort((cands[i][keep], -scores[keep]))][:max_hits]
            if len(keep) == 0:
                return []
            full = local.aligner.align(query, database.extract(cands[i][keep].tolist()), mode="full")
            hits = []
            for k, r in zip(keep, full):
                ali = r.alignment
                hits.append(Hit(int(cands[i][k]), ali.count("M") / max(len(ali), 1), float(r.coverage("query")),
                                float(bits[k]), float(evalues[k]), int(r.query_start), int(r.query_end) + 1,
                                int(r.target_start), int(r.target_end) + 1))  # pyopal's ends are inclusive
            return hits

        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        bar = Progress(TextColumn("homology search"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                       console=Console(stderr=True), disable=not progress)
        with bar:
            task = bar.add_task("search", total=len(queries))
            if threads <= 1:
                results = []
                for i in range(len(queries)):
                    results.append(one(i))
                    bar.advance(task)
                return results
            from multiprocessing.pool import ThreadPool  # pyopal releases the GIL while aligning

            with ThreadPool(threads) as pool:
                results = []
                for hits in pool.imap(one, range(len(queries)), chunksize=16):
                    results.append(hits)
                    bar.advance(task)
                return results


# ---- scores ------------------------------------------------------------------------------------
def best_hit(hits: Sequence[Hit]) -> Hit | None:
    return max(hits, key=lambda h: (h.bitscore, -h.target), default=None)


def _vote(hits: Sequence[Sequence[Hit]], index: HomologyIndex, columns: Sequence[str],
          labels_of: Callable[[IndexedProtein], Iterable[str]]) -> np.ndarray:
    column = {c: j for j, c in enumerate(columns)}
    cache: dict[int, list[int]] = {}
    out = np.zeros((len(hits), len(columns)), dtype=np.float64)
    for i, query_hits in enumerate(hits):
        total = sum(h.bitscore for h in query_hits)
        if total <= 0:
            continue
        for h in query_hits:
            if h.target not in cache:
                cache[h.target] = sorted({column[c] for c in labels_of(index.proteins[h.target]) if c in column})
            out[i, cache[h.target]] += h.bitscore
        out[i] /= total
    return out


def term_scores(hits: Sequence[Sequence[Hit]], index: HomologyIndex, terms: Sequence[str],
                terms_of: Callable[[IndexedProtein], Iterable[str]] | None = None) -> np.ndarray:
    """(n_queries, len(terms)) DeepGOPlus-style scores: the bitscore of the hits whose protein
    carries the term over the bitscore of all hits; 0 for a query without hits. `terms_of(protein)`
    gives a protein's terms (default: as annotated; pass a propagating one for the GO graph)."""
    return _vote(hits, index, terms, terms_of or (lambda p: p.terms))


def label_scores(hits: Sequence[Sequence[Hit]], index: HomologyIndex, classes: Sequence[str],
                 label_of: Callable[[IndexedProtein], str]) -> np.ndarray:
    """As `term_scores` for one label per protein (`label_of(protein)`, '' for none)."""
    return _vote(hits, index, classes, lambda p: (label_of(p),))


# ---- building --------------------------------------------------------------------------------
def build_index(store_dirs, path, split: str = "train") -> HomologyIndex:
    """The index of the stores' `split` proteins, saved to `path` (sha256 in `index.sha256`)."""
    index = HomologyIndex(proteins_from_stores(store_dirs, split))
    if not index.proteins:
        names = [store_dirs] if isinstance(store_dirs, (str, os.PathLike)) else store_dirs
        raise GenolongError(f"{', '.join(map(str, names))}: no labelled protein-coding gene in the {split} split")
    index.save(path)
    return index


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from genolong.data.split import SPLITS

    parser.add_argument("--store", nargs="+", required=True, help="token stores written by `genolong prepare`")
    parser.add_argument("--out", required=True, help="homology index file (gzip JSON, with OUT.sha256)")
    parser.add_argument("--split", default="train", choices=SPLITS, help="genes to index (default train)")


def run(args: argparse.Namespace) -> int:
    index = build_index(args.store, args.out, args.split)
    genomes = sorted({p.genome for p in index.proteins})
    print(f"homology: {len(index.proteins)} labelled proteins of {', '.join(genomes)} -> {args.out} "
          f"(sha256 {index.sha256[:12]})", file=sys.stderr)
    return 0
