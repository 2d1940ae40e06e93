"""Gene-function label schemes and per-token targets.

Schemes (chosen by name):
- `biotype`: the gene's biotype (protein_coding, tRNA, rRNA, ...).
- `attribute:<key>`: the first value of any GFF attribute / GenBank qualifier (e.g. `product`).
- `pattern:<tsv>`: TSV with columns `pattern<TAB>label` (`#` comments); each Python regex is
  full-matched against the gene name, first match wins; unnamed or unmatched genes fall back to
  their biotype (folded onto a table class of the same name ignoring case, so an unnamed tRNA
  joins `trna`).
- `tsv:<path>`: TSV `gene_id<TAB>label[;label...]` (several rows per gene allowed); multilabel
  when any gene has more than one label, else single-label.
- `product`: keyword classes of the `/product` name of protein-coding genes (ribosomal protein,
  tRNA synthetase, transporter, regulator/transcription, ...; `other` when no keyword matches);
  "hypothetical protein" / "uncharacterized protein" is of unknown function (no label), and RNA
  genes are left to the structure targets (no label). The class list is fixed, so every genome's
  store shares it.
- `go`: multi-label GO terms from `Ontology_term`, `go_*`, `GO_*` and `db_xref` (several per
  value allowed, as `GO:0005524 - ATP binding`, `ATP binding|0005524||IEA` or bare ids); the
  `top_terms` most frequent terms (by gene count, ties by id) are kept, after a `genic` channel.

Targets (one row per token; a token's position is its centre base `i*stride + k//2`):
- single-label: uint8 class index, 0 = `intergenic`; `UNKNOWN` (255) where the covering gene has
  no label under the scheme (e.g. no such attribute), so losses can ignore it.
- multilabel: (n_tokens, n_outputs) uint8; column 0 the genic bit; term columns 1 where a
  covering gene has the term, else 0 if every covering gene has known function, else `UNKNOWN`.
  A gene with no term at all is of unknown function, not negative: its tokens are genic, with
  every term column `UNKNOWN`. A gene with terms, none of them kept, gives 0s.

Overlapping genes (a token centre inside parts of several genes): single-label schemes give the
token to the gene that starts last (the inner one for nested genes; ties: later in the table);
multilabel schemes take the union of the covering genes' terms, as above.
Only gene `parts` are labelled: introns and the gap of a trans-spliced gene stay intergenic.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genolong.data.annotation import Gene, record_parts
from genolong.errors import GenolongError
from genolong.data.genome import check_readable
from genolong.data.tokenizer import KmerTokenizer

# Target encoding, the one place it is defined. In a store, UNKNOWN marks an entry without a
# label (a gene of unknown function); in a batch, single-label UNKNOWN and padding become
# IGNORE_INDEX, which torch's cross-entropy and torchmetrics skip. Multilabel batches keep UNKNOWN
# (the masked BCE and the metrics' ignore_index read it).
UNKNOWN = 255
IGNORE_INDEX = -100
INTERGENIC = "intergenic"
GENIC = "genic"
MAX_SINGLE_CLASSES = 255  # class ids must stay below UNKNOWN in a uint8

_GO_ID = re.compile(r"GO:(\d{7})")
_GO_NAMED = re.compile(r"GO:(\d{7})\s*-\s*([^\[;|]+?)\s*(?:\[|$)")
_NCBI_GO = re.compile(r"^\s*([^|]+)\|(\d{7})\|")
# a stranded class name: `CDS:+`, `CDS(+)`, `CDS[-]`, `tRNA_-`, `photosystem (-)`
_STRAND_SUFFIX = re.compile(r"^(?P<label>.+?)[\s:|/_]*[(\[]?(?P<strand>[+-])[)\]]?$")


def split_strand(class_name: str) -> tuple[str, str]:
    """`'CDS:+'` / `'tRNA(-)'` / `'CDS[+]'` -> (label, strand); any other name -> (name, '.')."""
    m = _STRAND_SUFFIX.match(class_name)
    if m is None or len(class_name) < 2:
        return class_name, "."
    return m.group("label"), m.group("strand")


@dataclass
class LabelVocab:
    scheme: str
    kind: str  # "single" or "multilabel"
    classes: list[str]
    descriptions: dict[str, str] = field(default_factory=dict)

    @property
    def n_outputs(self) -> int:
        return len(self.classes)

    def strand_swap(self) -> np.ndarray | None:
        """Class index -> index of the same class on the other strand; None when no class is stranded.

        A class is stranded when `split_strand` finds a strand in its name and the class of the
        same label on the other strand exists (`CDS:+` / `CDS:-`, `photosystem(+)` / `photosystem(-)`).
        """
        index = {split_strand(name): i for i, name in enumerate(self.classes)}
        swap = np.arange(len(self.classes))
        for (label, strand), i in index.items():
            twin = (label, {"+": "-", "-": "+"}.get(strand, "."))
            if strand != "." and twin in index:
                swap[i] = index[twin]
        return swap if np.any(swap != np.arange(len(self.classes))) else None

    def to_dict(self) -> dict:
        return {"scheme": self.scheme, "kind": self.kind, "classes": list(self.classes), "descriptions": dict(self.descriptions)}

    @classmethod
    def from_dict(cls, d: dict) -> "LabelVocab":
        if d.get("kind") not in ("single", "multilabel"):
            raise GenolongError(f"label vocabulary: kind must be 'single' or 'multilabel', got {d.get('kind')!r}")
        return cls(scheme=d["scheme"], kind=d["kind"], classes=list(d["classes"]), descriptions=dict(d.get("descriptions", {})))


def joint_strand_swap(labels, structure_labels=None) -> np.ndarray | None:
    """The class swap of a two-head network's joint logits (function columns, then structure
    columns): each vocabulary's `strand_swap()`, the structure one offset by the function width
    (identity where a vocabulary is unstranded). Vocabularies may be `LabelVocab`s or their dicts;
    None when no class at all is stranded."""
    def vocab(v):
        return v if isinstance(v, LabelVocab) else LabelVocab.from_dict(v)

    function = vocab(labels)
    swap = function.strand_swap()
    if not structure_labels:
        return swap
    structure = vocab(structure_labels)
    first = np.arange(function.n_outputs) if swap is None else swap
    second = structure.strand_swap()
    second = np.arange(structure.n_outputs) if second is None else second
    joint = np.concatenate([first, function.n_outputs + second])
    return joint if np.any(joint != np.arange(joint.size)) else None


@dataclass
class GeneLabels:
    """A scheme applied to a gene table: the vocabulary plus each gene's labels.

    `by_gene[gene_id]` is the gene's label list; a gene missing from it has unknown function.
    """

    vocab: LabelVocab
    by_gene: dict[str, list[str]]

    @property
    def n_labelled(self) -> int:
        return sum(1 for v in self.by_gene.values() if v)


# ---- schemes ----------------------------------------------------------------------------------
def go_terms(gene: Gene) -> dict[str, str]:
    """GO id -> term name ('' if the file gives none) for every GO term of a gene."""
    terms: dict[str, str] = {}
    for key, values in gene.attributes.items():
        lk = key.lower()
        if not (lk == "ontology_term" or lk.startswith("go_") or lk == "db_xref" or lk == "dbxref"):
            continue
        for v in values:
            for m in _GO_NAMED.finditer(v):
                terms[f"GO:{m.group(1)}"] = m.group(2).strip()
            for m in _GO_ID.finditer(v):
                terms.setdefault(f"GO:{m.group(1)}", "")
            if lk.startswith("go_"):
                for item in v.split(","):
                    m = _NCBI_GO.match(item)
                    if m:
                        terms[f"GO:{m.group(2)}"] = m.group(1).strip()
    return terms


def _go(genes: list[Gene], top_terms: int) -> GeneLabels:
    per_gene = {g.gene_id: go_terms(g) for g in genes}
    counts = Counter(t for terms in per_gene.values() for t in terms)
    names: dict[str, str] = {}
    for terms in per_gene.values():
        for t, n in terms.items():
            if n and not names.get(t):
                names[t] = n
    kept = [t for t, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top_terms]]
    # A gene with GO terms but none kept is known-negative ([]); a gene without any is absent.
    by_gene = {gid: [t for t in kept if t in terms] for gid, terms in per_gene.items() if terms}
    vocab = LabelVocab("go", "multilabel", [GENIC] + kept, {t: names.get(t, "") for t in kept})
    vocab.descriptions[GENIC] = "covered by a gene part"
    return GeneLabels(vocab, by_gene)


def _single(scheme: str, genes: list[Gene], label_of) -> GeneLabels:
    by_gene = {}
    for g in genes:
        lab = label_of(g)
        if lab:
            by_gene[g.gene_id] = [lab]
    classes = [INTERGENIC] + sorted({v[0] for v in by_gene.values()} - {INTERGENIC})
    if len(classes) > MAX_SINGLE_CLASSES:
        raise GenolongError(f"label scheme {scheme}: {len(classes)} classes, at most {MAX_SINGLE_CLASSES} fit a uint8 target")
    return GeneLabels(LabelVocab(scheme, "single", classes), by_gene)


def _read_patterns(path: Path) -> list[tuple[re.Pattern, str]]:
    p = check_readable(path, "pattern table")
    out = []
    with open(p, encoding="utf-8", newline=None) as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.rstrip("\r\n")
            if not line.strip() or line.startswith("#"):
                continue
            cols = line.split("\t")
            if len(cols) != 2:
                raise GenolongError(f"{p}: line {lineno}: expected 'pattern<TAB>label', found {len(cols)} columns")
            if cols == ["pattern", "label"]:
                continue
            try:
                out.append((re.compile(cols[0]), cols[1].strip()))
            except re.error as exc:
                raise GenolongError(f"{p}: line {lineno}: bad regex {cols[0]!r}: {exc}") from None
    if not out:
        raise GenolongError(f"{p}: no patterns found")
    return out


def _read_label_tsv(path: Path) -> dict[str, list[str]]:
    p = check_readable(path, "label table")
    table: dict[str, list[str]] = {}
    with open(p, encoding="utf-8", newline=None) as fh:
        for lineno, row in enumerate(csv.reader(fh, delimiter="\t"), 1):
            if not row or not row[0].strip() or row[0].startswith("#"):
                continue
            if len(row) < 2:
                raise GenolongError(f"{p}: line {lineno}: expected 'gene_id<TAB>label[;label...]'")
            if lineno == 1 and row[0] == "gene_id":
                continue
            labs = table.setdefault(row[0].strip(), [])
            for lab in re.split(r"[;,]", row[1]):
                lab = lab.strip()
                if lab and lab not in labs:
                    labs.append(lab)
    return table


def _tsv(scheme: str, path: Path, genes: list[Gene]) -> GeneLabels:
    table = _read_label_tsv(path)
    by_gene = {g.gene_id: table[g.gene_id] for g in genes if table.get(g.gene_id)}
    if any(len(v) > 1 for v in by_gene.values()):
        classes = [GENIC] + sorted({lab for v in by_gene.values() for lab in v})
        return GeneLabels(LabelVocab(scheme, "multilabel", classes), by_gene)
    return _single(scheme, genes, lambda g: by_gene.get(g.gene_id, [""])[0])


# `product` scheme: (class, regex searched in the lower-cased product name); first match wins
PRODUCT_CLASSES = (
    ("ribosomal protein", r"ribosom\w* (protein|subunit)|\b[35]0s .*protein"),
    ("tRNA synthetase", r"trna (synthetase|ligase)|--trna ligase"),
    ("translation factor", r"translation|elongation factor|initiation factor|release factor"),
    ("RNA polymerase", r"rna polymerase"),
    ("DNA replication/repair", r"dna (polymerase|helicase|gyrase|topoisomerase|primase|ligase|repair)|"
                               r"helicase|topoisomerase|recombinase|reca\b|excinuclease|holliday"),
    ("mobile element", r"transposase|integrase|\bis\d|phage|insertion (element|sequence)"),
    ("transporter", r"transport|permease|porin|efflux|symporter|antiporter|\babc\b|channel|pts "),
    ("regulator/transcription", r"regulat|transcription|repressor|activator|sigma factor|"
                                r"two-component|sensor"),
    ("membrane/lipoprotein", r"lipoprotein|membrane protein"),
    ("enzyme", r"ase\b|ases\b"),
)
UNKNOWN_PRODUCT = re.compile(r"^\s*(hypothetical|uncharacteri[sz]ed|putative uncharacteri[sz]ed) protein\b|^\s*$")
OTHER_PRODUCT = "other"


def product_class(gene: Gene) -> str:
    """The `product` scheme class of a gene ('' = unknown function or not protein-coding)."""
    if gene.biotype != "protein_coding":
        return ""
    return product_class_name((gene.attributes.get("product") or [""])[0])


def is_named_product(product: str) -> bool:
    """False for an empty or unknown-function product ('hypothetical protein', 'uncharacterized protein')."""
    return not UNKNOWN_PRODUCT.search(product.lower())


def product_class_name(product: str) -> str:
    """The `product` scheme class of a product name ('' = unknown function)."""
    product = product.lower()
    if UNKNOWN_PRODUCT.search(product):
        return ""
    for name, pattern in PRODUCT_CLASSES:
        if re.search(pattern, product):
            return name
    return OTHER_PRODUCT


def _product(genes: list[Gene]) -> GeneLabels:
    by_gene = {g.gene_id: [c] for g in genes if (c := product_class(g))}
    classes = [INTERGENIC] + [name for name, _ in PRODUCT_CLASSES] + [OTHER_PRODUCT]
    return GeneLabels(LabelVocab("product", "single", classes), by_gene)


def restrict_to_vocab(result: GeneLabels, vocab: LabelVocab, source: str) -> GeneLabels:
    """Re-express a scheme's labels in a given vocabulary of the same scheme (a shared vocabulary
    across genomes): labels outside it are dropped; a gene whose labels all fall outside it keeps
    an empty list (known, negative) for multilabel schemes and loses its label for single ones."""
    if vocab.scheme != result.vocab.scheme or vocab.kind != result.vocab.kind:
        raise GenolongError(f"{source}: shared vocabulary is scheme {vocab.scheme!r} ({vocab.kind}), "
                            f"this genome's labels are {result.vocab.scheme!r} ({result.vocab.kind})")
    keep = set(vocab.classes)
    by_gene = {gid: [lab for lab in labs if lab in keep] for gid, labs in result.by_gene.items()}
    if vocab.kind == "single":
        by_gene = {gid: labs for gid, labs in by_gene.items() if labs}
    return GeneLabels(LabelVocab(vocab.scheme, vocab.kind, list(vocab.classes), dict(vocab.descriptions)), by_gene)


SCHEMES = ("go", "product", "biotype", "attribute:<key>", "pattern:<tsv>", "tsv:<path>")


def build_labels(genes: list[Gene], scheme: str, top_terms: int = 20, source: str = "annotation",
                 vocab: LabelVocab | None = None) -> GeneLabels:
    """Apply a label scheme to a gene table; GenolongError if unknown or if nothing is labelled.

    `vocab`: a vocabulary to share (e.g. another genome's store's `labels.json`); the result uses
    its classes, and a genome none of whose genes it labels is allowed (its function targets are
    all unknown, so only structure trains on it).
    """
    if scheme == "product":
        result = _product(genes)
    elif scheme == "go":
        if top_terms < 1:
            raise GenolongError(f"label scheme go: --top-terms must be >= 1, got {top_terms}")
        result = _go(genes, top_terms)
    elif scheme == "biotype":
        result = _single(scheme, genes, lambda g: g.biotype)
    elif scheme.startswith("attribute:") and scheme[len("attribute:"):]:
        key = scheme[len("attribute:"):]
        result = _single(scheme, genes, lambda g: (g.attributes.get(key) or [""])[0].strip())
    elif scheme.startswith("pattern:") and scheme[len("pattern:"):]:
        patterns = _read_patterns(Path(scheme[len("pattern:"):]))
        # An unnamed tRNA falls back to its biotype; folding case joins it to the table's own
        # "trna" class instead of creating a second "tRNA" class for the same function.
        table_labels = {lab.lower(): lab for _, lab in patterns}

        def label_of(g: Gene) -> str:
            for rx, lab in patterns:
                if g.name and rx.fullmatch(g.name):
                    return lab
            return table_labels.get(g.biotype.lower(), g.biotype)

        result = _single(scheme, genes, label_of)
    elif scheme.startswith("tsv:") and scheme[len("tsv:"):]:
        result = _tsv(scheme, Path(scheme[len("tsv:"):]), genes)
    else:
        raise GenolongError(f"unknown label scheme {scheme!r}; expected one of: {', '.join(SCHEMES)}")
    if vocab is not None:
        return restrict_to_vocab(result, vocab, source)
    if result.n_labelled == 0:
        raise GenolongError(f"{source}: label scheme {scheme!r} labels none of the {len(genes)} genes")
    return result


# ---- targets ----------------------------------------------------------------------------------
def loss_targets(source: np.ndarray, multilabel: bool, length: int | None = None) -> np.ndarray:
    """Store targets of one window as a batch row, padded to `length` tokens: single-label int64
    with UNKNOWN and padding as IGNORE_INDEX, multilabel uint8 with padding UNKNOWN."""
    n = source.shape[0]
    length = n if length is None else length
    if multilabel:
        out = np.full((length, *source.shape[1:]), UNKNOWN, dtype=np.uint8)  # (L, C)
        out[:n] = source
        return out
    out = np.full(length, IGNORE_INDEX, dtype=np.int64)  # (L,)
    # int64 first: in uint8 arithmetic IGNORE_INDEX would wrap round to 156
    out[:n] = np.where(source == UNKNOWN, IGNORE_INDEX, source.astype(np.int64))
    return out


def class_prior(targets, kind: str, n_outputs: int) -> np.ndarray:
    """The per-output base rate over arrays of store targets (an iterable of (n,) or (n, C)): class
    shares (single-label), or the genic rate and each term's rate among tokens of known function
    (multilabel). UNKNOWN entries are left out. This is the term / class prior of every baseline."""
    positives, totals = np.zeros(n_outputs), np.zeros(n_outputs)
    for t in targets:
        t = np.asarray(t)
        if kind == "single":
            known = t[t != UNKNOWN]
            positives += np.bincount(known, minlength=n_outputs)[:n_outputs]
            totals += known.size
        else:
            ok = t != UNKNOWN
            positives += (ok & (t == 1)).sum(axis=0)
            totals += ok.sum(axis=0)
    return positives / np.maximum(totals, 1)


def fill_targets(out: np.ndarray, genes: list[Gene], labels: GeneLabels, tok: KmerTokenizer,
                 length: int | None = None) -> np.ndarray:
    """Paint one record's targets into `out` (zeroed here): shape (n,) or (n, n_outputs).

    `genes` must all lie on that record; `length`, the record's bp, lets a gene across the origin
    of a circular record (its end past `length`) paint its part after the origin too. Loops over
    gene parts, never over bases.
    """
    vocab = labels.vocab
    n = out.shape[0]
    out[...] = 0
    if vocab.kind == "single":
        index = {c: i for i, c in enumerate(vocab.classes)}
        for g in sorted(genes, key=lambda g: g.start):
            labs = labels.by_gene.get(g.gene_id)
            value = index[labs[0]] if labs else UNKNOWN
            for s, e, _ in (g.parts if length is None else record_parts(g.parts, length)):
                a, b = tok.centre_range(s, e, n)
                out[a:b] = value
        return out
    col = {c: i for i, c in enumerate(vocab.classes)}
    unknown = np.zeros(n, dtype=bool)
    for g in genes:
        labs = labels.by_gene.get(g.gene_id)
        cols = [col[t] for t in (labs or []) if t in col]
        for s, e, _ in (g.parts if length is None else record_parts(g.parts, length)):
            a, b = tok.centre_range(s, e, n)
            if a == b:
                continue
            out[a:b, 0] = 1
            if labs is None:
                unknown[a:b] = True
            for j in cols:
                out[a:b, j] = 1
    if vocab.n_outputs > 1 and unknown.any():
        idx = np.flatnonzero(unknown)
        terms = out[idx, 1:]
        terms[terms == 0] = UNKNOWN
        out[idx, 1:] = terms
    return out
