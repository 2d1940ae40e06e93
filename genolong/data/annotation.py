"""Annotation readers: GFF3, GTF or GenBank -> one gene table (`list[Gene]`).

A gene is the unit that carries a function label. Its `parts` are the segments that are
actually labelled, so introns and the 30 kbp between the halves of a trans-spliced gene stay
unlabelled; `start`/`end` only give the overall span.

How genes are assembled:
- **GenBank**: features are grouped by `/locus_tag` (else by `/gene` name among overlapping
  features). Parts come from the RNA features (tRNA, rRNA, mRNA, ...) if any, else the CDS, else
  `exon` features, else the `gene` feature itself. Trans-spliced joins keep each part's strand.
- **GFF3**: every row is attached to its root through `Parent` chains (multi-parent and
  multi-row IDs included); roots of gene-like types (`*gene`, RNA/transcript types, parent-less
  CDS/exon) become genes, anything else (`region`, repeats, ...) is ignored. Parts come from the
  exons, else the CDS rows, else the RNA/transcript rows, else the gene row.
- **GTF**: rows are grouped by `gene_id`, parts as for GFF3.
- Biotype: an explicit `gene_biotype` / `biotype` / `gene_type` attribute wins; then a
  pseudogene flag or type; then the child types (CDS/mRNA -> protein_coding, tRNA, rRNA, ...).
- `attributes` merges the gene's and all its children's attributes/qualifiers (GO terms sit on
  the CDS, not the gene), keeping values in file order without repeats.
- Circular records (GenBank LOCUS topology `circular`; GFF3 a row, the `region`, with
  `Is_circular=true`): a gene across the origin is one gene whose coordinates run past the
  record's end, as the GFF3 specification writes it (end = position + the record's length): its
  start lies in [0, length) and its end beyond length. GenBank `join(s..L,1..e)` and GFF3 rows
  split at the origin become that one span (`unwrap_origin`). Only a circular record may hold one
  (`check_ends`); `record_parts` cuts such a gene back into pieces inside the record.

GFF attribute columns are split with gffutils' dialect-aware parser (GTF `key "value";`, GFF3
`key=v1,v2;`, percent-escapes, stray commas); the hierarchy is resolved here in one pass over the
file with dicts, which is linear time (gffutils' sqlite database costs minutes on a human GFF).
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from genolong.atomic import atomic_open
from genolong.errors import GenolongError
from genolong.data.genome import Genome, _open_text, check_readable, sniff_format

RNA_TYPES = {
    "mRNA", "tRNA", "rRNA", "ncRNA", "tmRNA", "misc_RNA", "snRNA", "snoRNA", "lnc_RNA", "lncRNA",
    "miRNA", "scRNA", "antisense_RNA", "RNase_P_RNA", "RNase_MRP_RNA", "SRP_RNA", "guide_RNA",
    "telomerase_RNA", "Y_RNA", "vault_RNA", "precursor_RNA", "primary_transcript", "transcript",
    "pre_miRNA", "piRNA", "scaRNA", "nc_primary_transcript", "pseudogenic_transcript",
}
_CODING_TYPES = {"CDS", "mRNA"}
_GENBANK_TYPES = RNA_TYPES | {"gene", "CDS", "exon"}
_BIOTYPE_KEYS = ("gene_biotype", "biotype", "gene_type")
_VALID_STRANDS = {"+", "-", ".", "?"}
_BIOTYPE_SOURCES = RNA_TYPES | {"protein_coding", "pseudogene", "lincRNA", "processed_transcript"}


@dataclass(frozen=True)
class Gene:
    seqid: str
    start: int  # 0-based half-open span of all parts
    end: int
    strand: str  # "+", "-" or "." (mixed, e.g. trans-spliced)
    gene_id: str
    name: str
    biotype: str
    parts: tuple[tuple[int, int, str], ...]  # (start, end, strand), sorted
    attributes: dict[str, list[str]] = field(default_factory=dict, compare=False, hash=False)

    @property
    def length(self) -> int:
        """Base pairs covered by the parts (not the span)."""
        return sum(e - s for s, e, _ in self.parts)


# ---- shared assembly --------------------------------------------------------------------------
def _merge_parts(parts) -> tuple[tuple[int, int, str], ...]:
    """Sort and merge overlapping/abutting same-strand parts."""
    out: list[list] = []
    for s, e, st in sorted(parts):
        if out and out[-1][2] == st and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e, st])
    return tuple((s, e, st) for s, e, st in out)


def _merge_attrs(dicts) -> dict[str, list[str]]:
    merged: dict[str, list[str]] = {}
    for d in dicts:
        for key, values in d.items():
            bucket = merged.setdefault(key, [])
            for v in values:
                if v not in bucket:
                    bucket.append(v)
    return merged


def _biotype(attrs: dict[str, list[str]], types: set[str], pseudo: bool) -> str:
    for key in _BIOTYPE_KEYS:
        if attrs.get(key):
            return attrs[key][0]
    if pseudo or "pseudogene" in types or "pseudogenic_transcript" in types:
        return "pseudogene"
    if types & _CODING_TYPES:
        return "protein_coding"
    for t in ("tRNA", "rRNA", "tmRNA", "ncRNA", "snRNA", "snoRNA", "miRNA", "lnc_RNA", "misc_RNA"):
        if t in types:
            return t
    rna = sorted(types & RNA_TYPES)
    return rna[0] if rna else "gene"


def unwrap_origin(parts, length: int) -> tuple[tuple[int, int, str], ...]:
    """Sorted parts of a gene on a circular record of `length` bp, with those after the origin
    moved past the record's end when the gene crosses it (it has a part starting at 0 and one
    ending at `length` on one strand); the parts before the largest gap between them are the ones
    after the origin. Anything else is returned as it is."""
    parts = _merge_parts(parts)
    at_zero = {st for s, _, st in parts if s == 0}
    at_end = {st for _, e, st in parts if e == length}
    if len(parts) < 2 or not at_zero & at_end:
        return parts
    gaps = [parts[i + 1][0] - parts[i][1] for i in range(len(parts) - 1)]
    last = gaps.index(max(gaps))  # parts[: last + 1] follow the origin
    return _merge_parts([(s + length, e + length, st) if i <= last else (s, e, st)
                         for i, (s, e, st) in enumerate(parts)])


def record_parts(parts, length: int) -> list[tuple[int, int, str]]:
    """`parts` as pieces inside a record of `length` bp: a part past the end (a gene across the
    origin of a circular record) is cut at the origin and its rest counted from 0."""
    out = []
    for s, e, st in parts:
        if e <= length:
            out.append((s, e, st))
        else:
            if s < length:
                out.append((s, length, st))
            out.append((max(s, length) - length, e - length, st))
    return out


def _strand(parts) -> str:
    strands = {st for _, _, st in parts}
    return strands.pop() if len(strands) == 1 else "."


def _unique_ids(genes: list[Gene]) -> list[Gene]:
    seen: dict[str, int] = {}
    out = []
    for g in genes:
        n = seen.get(g.gene_id, 0)
        seen[g.gene_id] = n + 1
        if n:
            g = Gene(g.seqid, g.start, g.end, g.strand, f"{g.gene_id}_{n + 1}", g.name, g.biotype, g.parts, g.attributes)
        out.append(g)
    return out


# ---- GenBank ----------------------------------------------------------------------------------
def _bio_parts(location) -> list[tuple[int, int, str]]:
    out = []
    for p in location.parts:
        strand = {1: "+", -1: "-"}.get(p.strand, ".")
        out.append((int(p.start), int(p.end), strand))
    return out


def _genbank_genes(records, path: Path) -> list[Gene]:
    genes: list[Gene] = []
    for rec in records:
        circle = len(rec.seq) if rec.annotations.get("topology") == "circular" else None
        groups: dict = {}
        order: list = []
        by_name: dict[str, list] = defaultdict(list)
        for feat in rec.features:
            if feat.type not in _GENBANK_TYPES or feat.location is None:
                continue
            q = feat.qualifiers
            span = (int(feat.location.start), int(feat.location.end))
            if q.get("locus_tag"):
                key = ("locus", q["locus_tag"][0])
            elif q.get("gene"):
                key = None
                for cand, cspan in by_name[q["gene"][0]]:
                    if cspan[0] < span[1] and span[0] < cspan[1]:
                        key = cand
                        break
                if key is None:
                    key = ("name", q["gene"][0], len(order))
                    by_name[q["gene"][0]].append((key, span))
            else:
                key = ("anon", len(order))
            if key not in groups:
                groups[key] = []
                order.append(key)
            groups[key].append(feat)
        for key in order:
            gene = _genbank_gene(rec.id, groups[key], circle)
            if gene is not None:
                genes.append(gene)
    return _unique_ids(genes)


def _genbank_gene(seqid: str, feats, circle: int | None = None) -> Gene | None:
    types = {f.type for f in feats}
    rna = [f for f in feats if f.type in RNA_TYPES]
    cds = [f for f in feats if f.type == "CDS"]
    exons = [f for f in feats if f.type == "exon"]
    source = rna or cds or exons or [f for f in feats if f.type == "gene"]
    if not source:
        return None
    parts = _merge_parts(p for f in source for p in _bio_parts(f.location))
    if circle is not None:
        parts = unwrap_origin(parts, circle)
    attrs = _merge_attrs([{k: [str(x) for x in v] for k, v in f.qualifiers.items()} for f in feats])
    pseudo = "pseudo" in attrs or "pseudogene" in attrs
    if "ncRNA" in types and attrs.get("ncRNA_class") and not pseudo:
        attrs.setdefault("gene_biotype", [attrs["ncRNA_class"][0]])  # as NCBI's GFF3 gene_biotype
    name = attrs.get("gene", [""])[0]
    gene_id = attrs.get("locus_tag", [name or f"{seqid}:{parts[0][0]}-{parts[-1][1]}"])[0]
    start = min(s for s, _, _ in parts)
    end = max(e for _, e, _ in parts)
    return Gene(seqid, start, end, _strand(parts), gene_id, name, _biotype(attrs, types, pseudo), parts, attrs)


# ---- GFF3 / GTF -------------------------------------------------------------------------------
@dataclass
class _Row:
    lineno: int
    seqid: str
    source: str
    type: str
    start: int  # 0-based
    end: int
    strand: str
    attrs: dict[str, list[str]]


def _gff_attr_parser(fmt: str):
    from gffutils import constants, parser

    dialect = dict(constants.dialect)
    if fmt == "gtf":
        dialect.update({"fmt": "gtf", "field separator": "; ", "keyval separator": " ", "quoted GFF2 values": True, "trailing semicolon": True})

    def parse(text: str) -> dict[str, list[str]]:
        attrs, _ = parser._split_keyvals(text, dialect=dialect)
        out = {}
        for k, v in attrs.items():
            vals = [x for x in (v if isinstance(v, list) else [v]) if x not in ("", None)]
            out[k] = vals
        return out

    return parse


def _read_gff_rows(path: Path, fmt: str) -> list[_Row]:
    parse_attrs = _gff_attr_parser(fmt)
    rows: list[_Row] = []
    with _open_text(path) as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.rstrip("\r\n")
            if line.startswith("##FASTA") or line.startswith(">"):
                break
            if not line.strip() or line.startswith("#"):
                continue
            cols = line.split("\t")
            if len(cols) != 9:
                raise GenolongError(f"{path}: line {lineno}: expected 9 tab-separated columns, found {len(cols)}")
            seqid, fsource, ftype, s, e, _, strand, _, attr_text = cols
            try:
                start, end = int(s), int(e)
            except ValueError:
                raise GenolongError(f"{path}: line {lineno}: start/end must be integers, got {s!r}, {e!r}") from None
            if start < 1:
                raise GenolongError(f"{path}: line {lineno}: start {start} < 1 (GFF coordinates are 1-based)")
            if start > end:
                raise GenolongError(f"{path}: line {lineno}: start {start} > end {end}")
            if strand not in _VALID_STRANDS:
                raise GenolongError(f"{path}: line {lineno}: bad strand {strand!r} (expected +, - or .)")
            try:
                attrs = parse_attrs(attr_text) if attr_text.strip() not in ("", ".") else {}
            except Exception as exc:  # gffutils raises assorted errors on garbage attributes
                raise GenolongError(f"{path}: line {lineno}: cannot parse attributes: {exc}") from None
            rows.append(_Row(lineno, seqid, fsource, ftype, start - 1, end, "." if strand == "?" else strand, attrs))
    return rows


def _is_gene_root(ftype: str) -> bool:
    return ftype.endswith("gene") or ftype in RNA_TYPES or ftype in ("CDS", "exon")


def _group_gff3(rows: list[_Row]) -> list[list[_Row]]:
    by_id: dict[str, list[_Row]] = defaultdict(list)
    for r in rows:
        for i in r.attrs.get("ID", []):
            by_id[i].append(r)

    root_cache: dict[str, str] = {}

    def root_of(fid: str, depth: int = 0) -> str:
        if fid in root_cache:
            return root_cache[fid]
        parents = [p for p in by_id[fid][0].attrs.get("Parent", []) if p in by_id] if by_id.get(fid) else []
        root = fid if not parents or depth > 50 else root_of(parents[0], depth + 1)
        root_cache[fid] = root
        return root

    groups: dict[object, list[_Row]] = {}
    for idx, r in enumerate(rows):
        parents = [p for p in r.attrs.get("Parent", []) if p in by_id]
        ids = r.attrs.get("ID", [])
        if parents:
            key = root_of(parents[0])
        elif ids:
            key = root_of(ids[0])
        else:
            key = ("row", idx)
        groups.setdefault(key, []).append(r)
    out = []
    for members in groups.values():
        roots = [m for m in members if not [p for p in m.attrs.get("Parent", []) if p in by_id]]
        root_type = roots[0].type if roots else members[0].type
        if _is_gene_root(root_type):
            out.append(members)
    return out


def _group_gtf(rows: list[_Row], path: Path) -> list[list[_Row]]:
    groups: dict[str, list[_Row]] = {}
    for r in rows:
        gid = r.attrs.get("gene_id")
        if not gid:
            raise GenolongError(f"{path}: line {r.lineno}: GTF row without a gene_id attribute")
        groups.setdefault(gid[0], []).append(r)
    return list(groups.values())


def _gff_gene(members: list[_Row], fmt: str, path: Path, circle: int | None = None) -> tuple[Gene, int]:
    seqids = {m.seqid for m in members}
    first = members[0]
    if len(seqids) > 1:
        raise GenolongError(f"{path}: line {first.lineno}: gene spans several sequences ({', '.join(sorted(seqids))})")
    types = {m.type for m in members}
    pick = (
        [m for m in members if m.type == "exon"]
        or [m for m in members if m.type == "CDS"]
        or [m for m in members if m.type in RNA_TYPES]
        or members
    )
    parts = _merge_parts((m.start, m.end, m.strand) for m in pick)
    if circle is not None:
        parts = unwrap_origin(parts, circle)
    gene_rows = [m for m in members if m.type.endswith("gene")] or [first]
    attrs = _merge_attrs([m.attrs for m in gene_rows] + [m.attrs for m in members])
    if fmt == "gtf":
        gene_id = attrs["gene_id"][0]
    else:
        gene_id = (attrs.get("locus_tag") or attrs.get("gene_id") or attrs.get("ID") or [f"{first.seqid}:{parts[0][0]}-{parts[-1][1]}"])[0]
    # `Name` of a GFF3 gene often repeats its ID or locus tag, and on a CDS it is a protein
    # accession; only an explicit gene symbol, or a gene row's distinct Name, is a name.
    root_attrs = _merge_attrs([m.attrs for m in gene_rows])
    candidates = attrs.get("gene", []) + attrs.get("gene_name", [])
    candidates += [v for v in root_attrs.get("Name", []) if v not in (gene_id, *root_attrs.get("ID", []))]
    name = candidates[0] if candidates else ""
    if fmt == "gtf" and not any(attrs.get(k) for k in _BIOTYPE_KEYS) and first.source in _BIOTYPE_SOURCES:
        attrs["gene_biotype"] = [first.source]  # old Ensembl GTFs keep the biotype in column 2
    pseudo = "pseudo" in attrs or attrs.get("pseudo") == ["true"]
    start = min(s for s, _, _ in parts)
    end = max(e for _, e, _ in parts)
    gene = Gene(first.seqid, start, end, _strand(parts), gene_id, name, _biotype(attrs, types, pseudo), parts, attrs)
    return gene, first.lineno


def _circular_rows(rows: list[_Row]) -> dict[str, int | None]:
    """seqid -> length (None if unknown) of every record a row (the `region`) marks `Is_circular=true`."""
    out: dict[str, int | None] = {}
    for r in rows:
        if [v.lower() for v in r.attrs.get("Is_circular", [])] == ["true"]:
            out[r.seqid] = r.end if r.start == 0 else out.get(r.seqid)
    return out


def _gff_genes(path: Path, fmt: str) -> tuple[list[Gene], dict[str, int], frozenset[str]]:
    rows = _read_gff_rows(path, fmt)
    groups = _group_gtf(rows, path) if fmt == "gtf" else _group_gff3(rows)
    circular = _circular_rows(rows)
    genes, lines = [], []
    for members in groups:
        gene, lineno = _gff_gene(members, fmt, path, circular.get(members[0].seqid))
        genes.append(gene)
        lines.append(lineno)
    order = sorted(range(len(genes)), key=lambda i: lines[i])
    genes = _unique_ids([genes[i] for i in order])
    return genes, {g.gene_id: lines[i] for g, i in zip(genes, order)}, frozenset(circular)


# ---- entry points -----------------------------------------------------------------------------
def _read(p: Path, genome: Genome | None) -> tuple[list[Gene], dict[str, int], frozenset[str]]:
    """(genes, gene_id -> line for GFF/GTF, the records the file marks circular)."""
    fmt = sniff_format(p)
    if fmt == "genbank":
        if genome is not None and genome.genbank_records is not None and Path(genome.path).resolve() == p.resolve():
            records = genome.genbank_records
        else:
            from genolong.data.genome import GenBankGenome

            records = GenBankGenome(p).genbank_records
        circular = frozenset(r.id for r in records if r.annotations.get("topology") == "circular")
        return _genbank_genes(records, p), {}, circular
    if fmt in ("gff3", "gtf"):
        return _gff_genes(p, fmt)
    raise GenolongError(f"{p}: is a FASTA genome, expected a GFF3, GTF or GenBank annotation")


def read_annotation(path: str | os.PathLike, genome: Genome | None = None) -> list[Gene]:
    """Gene table of a GFF3, GTF or GenBank file, checked against `genome` when given."""
    return read_annotation_topology(path, genome)[0]


def read_annotation_topology(path: str | os.PathLike, genome: Genome | None = None) -> tuple[list[Gene], frozenset[str]]:
    """`read_annotation`, and the records the file marks circular (GenBank topology, GFF3
    `Is_circular=true`); with `genome`, the genome's own marks count too."""
    p = check_readable(path, "annotation file")
    genes, lines, circular = _read(p, genome)
    if genome is not None:
        circular = circular | genome.circular
        check_against_genome(genes, genome, p, lines, circular)
    return genes, circular


def check_ends(genes: list[Gene], lengths: dict[str, int], path, circular=frozenset()) -> None:
    """Genes on the records of `lengths` must end within them, or, on a record in `circular`,
    start within it and span at most its length (a gene across the origin); genes on other
    records are left to the caller (annotating a subset of a reference's records is allowed)."""
    for g in genes:
        length = lengths.get(g.seqid)
        if length is not None:
            _check_end(g, length, g.seqid in circular, f"{path}: gene {g.gene_id}")


def _check_end(g: Gene, length: int, circular: bool, where: str) -> None:
    if g.end <= length:
        return
    if not circular:
        # a span that fits could be a gene across the origin: say what would allow it
        hint = "; a gene across the origin needs the record marked circular" if g.end - g.start <= length else ""
        raise GenolongError(f"{where} ends at {g.end}, past the end of record {g.seqid} (length {length}){hint}")
    if g.start >= length or g.end - g.start > length:
        raise GenolongError(f"{where} runs {g.start + 1}..{g.end}: a gene across the origin of circular record "
                            f"{g.seqid} must start inside it and be at most its length ({length} bp)")


def check_against_genome(genes: list[Gene], genome: Genome, path: Path, lines: dict[str, int] | None = None,
                         circular=frozenset()) -> None:
    lines = lines or {}
    for g in genes:
        where = f"line {lines[g.gene_id]}" if g.gene_id in lines else f"gene {g.gene_id}"
        if g.seqid not in genome.lengths:
            raise GenolongError(f"{path}: {where}: seqid {g.seqid!r} is not in the genome {genome.path} (records: {', '.join(genome.ids[:5])})")
        _check_end(g, genome.lengths[g.seqid], g.seqid in circular, f"{path}: {where}: gene {g.gene_id}")


# ---- genes.tsv --------------------------------------------------------------------------------
GENES_TSV_COLUMNS = ("seqid", "start", "end", "strand", "gene_id", "name", "biotype", "parts", "labels")
_UNSAFE = re.compile(r"[\t\r\n]")


def _clean(text: str) -> str:
    return _UNSAFE.sub(" ", text)


def write_genes_tsv(genes: list[Gene], path: str | os.PathLike, labels: dict[str, list[str]] | list[list[str]] | None = None) -> None:
    """One row per gene; `labels` maps gene_id (or gives per-gene lists in order) to labels."""
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write("\t".join(GENES_TSV_COLUMNS) + "\n")
        for i, g in enumerate(genes):
            if labels is None:
                lab = []
            elif isinstance(labels, dict):
                lab = labels.get(g.gene_id, [])
            else:
                lab = labels[i]
            parts = ",".join(f"{s}-{e}:{st}" for s, e, st in g.parts)
            row = (g.seqid, str(g.start), str(g.end), g.strand, g.gene_id, g.name, g.biotype, parts, ";".join(lab))
            fh.write("\t".join(_clean(x) for x in row) + "\n")


def read_genes_tsv(path: str | os.PathLike) -> list[Gene]:
    """Genes from `write_genes_tsv`; labels land in `attributes["labels"]`."""
    p = check_readable(path, "genes table")
    genes = []
    with open(p, encoding="utf-8") as fh:
        header = fh.readline().rstrip("\r\n").split("\t")
        if tuple(header) != GENES_TSV_COLUMNS:
            raise GenolongError(f"{p}: line 1: expected columns {' '.join(GENES_TSV_COLUMNS)}")
        for lineno, line in enumerate(fh, 2):
            cols = line.rstrip("\r\n").split("\t")
            if len(cols) != len(GENES_TSV_COLUMNS):
                raise GenolongError(f"{p}: line {lineno}: expected {len(GENES_TSV_COLUMNS)} columns, found {len(cols)}")
            seqid, s, e, strand, gid, name, biotype, parts_text, lab = cols
            try:
                parts = []
                for chunk in parts_text.split(","):
                    span, st = chunk.rsplit(":", 1)
                    a, b = span.split("-")
                    parts.append((int(a), int(b), st))
                gene = Gene(seqid, int(s), int(e), strand, gid, name, biotype, tuple(parts), {"labels": lab.split(";") if lab else []})
            except ValueError:
                raise GenolongError(f"{p}: line {lineno}: malformed row") from None
            genes.append(gene)
    return genes
