"""Gene-model outputs the way Prokka and Bakta write them: GFF3, GenBank and protein FASTA.

GFF3 (1-based closed): one `gene` per call (`gene_biotype`, the decoder's score in column 6)
with one child, `CDS` (phase 0: calls start at their start codon), `tRNA`, `rRNA`, `tmRNA` or
`ncRNA`, linked by `ID`/`Parent`. The child carries the function. An RNA gene from a feature
source (`annotate/rna_genes.py`: ARAGORN, barrnap) carries its `product` (`tRNA-Ala(tgc)`,
`16S ribosomal RNA`, `transfer-messenger RNA`) and `inference`
(`COORDINATES:profile:aragorn:1.2.41`); one of the network's own RNA segments, its type as
product and its pooled `function_score`. With a per-gene function head (`annotate/function.py`):
`product` (the best homolog's name, else `hypothetical protein`), `inference` in the INSDC form (`similar to AA sequence:<genome>:<locus>` or
`ab initio prediction:genolong:<version>`), `Ontology_term` (propagated GO terms above the
recipe's threshold, most specific first; GFF3 specification), `function_score` and, for class
vocabularies, `function_class`. Without one: the token head's pooled GO terms above
`--go-threshold` and its class. A CDS also carries its `transl_table`. GenBank (Biopython): `gene`
+ `CDS` (with `/product`, `/inference`, GO ids in `/db_xref`, `/translation`, `/transl_table`,
`/codon_start`) or RNA features, locus tags shared. Pseudogene fragments (`annotate/pseudogenes.py`,
biotype `pseudogene`) are written as RefSeq writes pseudogenes: a `pseudogene` row
(`gene_biotype=pseudogene;pseudo=true`) whose child carries the function, `pseudo=true` and a
`Note` (`frameshifted`, `partial`); RefSeq's child is a `CDS`, which `gt gff3validator
-typecheck so` refuses under a pseudogene, so here it is SO's `pseudogenic_CDS`. GenBank: `gene`
and `CDS` with `/pseudo` and `/note`, no `/translation`; no protein in the FASTA. Protein FASTA: one translation per CDS, its
header the gene ID, the product and the location. Translations are Biopython's, `cds=True` (start
codon read as Met, the stop dropped), so they equal what a reader computes from the coordinates.

Circular records (`annotate/circular.py`) are written as RefSeq writes them: GFF3 gives each a
`region` row with `Is_circular=true`, and a gene across the origin ends past the record's length
(end = position + length, as the GFF3 specification allows on a circular landmark); GenBank
writes `circular` on the LOCUS line and such a gene as `join(s..L,1..e)` (`complement(join(...))`
on the minus strand); its protein is read across the origin.
"""

from __future__ import annotations

import os
from typing import Iterable, Sequence

from genolong.annotate.genes import GeneCall
from genolong.annotate.writers import SOURCE, escape_attr, escape_seqid
from genolong.atomic import atomic_open

CHILD_TYPE = {"protein_coding": "CDS", "tRNA": "tRNA", "rRNA": "rRNA", "tmRNA": "tmRNA", "ncRNA": "ncRNA",
              "pseudogene": "pseudogenic_CDS"}
CODING = ("protein_coding", "pseudogene")  # biotypes whose product is a protein's (a pseudogene's: the broken one's)
UNKNOWN_PRODUCT = "hypothetical protein"


GO_THRESHOLD = 0.5  # default: a term goes into the annotation when its pooled probability reaches this


def go_terms(gene: GeneCall, kind: str, labels: dict, threshold: float = GO_THRESHOLD) -> list[str]:
    """The GO terms of a protein-coding call (multilabel vocabularies): those whose pooled
    probability reaches `threshold`. genes.tsv keeps every probability for ranking."""
    if gene.function is not None:
        return [t for t, _ in gene.function.go]
    if kind != "multilabel" or gene.biotype not in CODING:
        return []
    terms = labels["classes"][1:]
    return [t for t, p in zip(terms, gene.probs[1:]) if p >= threshold and t.startswith("GO:")]


def product(gene: GeneCall, kind: str, labels: dict, threshold: float = GO_THRESHOLD) -> str:
    """The product name: an RNA's from its feature source (`tRNA-Ala(tgc)`), else its type; a
    CDS's function class, or the names of its GO terms."""
    if gene.biotype not in CODING:
        return gene.product or gene.biotype
    if gene.function is not None:
        return gene.function.product
    if kind != "multilabel":  # a function class (e.g. the `product` scheme's "ribosomal protein")
        if gene.label == "other":
            return "protein of another function class"
        return UNKNOWN_PRODUCT if gene.label in ("intergenic", "genic") else gene.label
    names = [labels.get("descriptions", {}).get(t) for t in go_terms(gene, kind, labels, threshold)]
    names = [n for n in names if n]
    return f"protein with GO function: {'; '.join(names)}" if names else UNKNOWN_PRODUCT


def cds_sequence(genome, gene: GeneCall):
    """The called CDS as a Biopython Seq, on the gene's strand."""
    from Bio.Seq import Seq

    from genolong.data.genome import fetch_circular

    seq = Seq(fetch_circular(genome, gene.seqid, gene.start, gene.end).decode("ascii").upper())
    return seq if gene.strand == "+" else seq.reverse_complement()


def translate(genome, gene: GeneCall, table: int) -> str:
    """The protein of a called CDS, as Prokka writes it: the first codon read as the start (M when it
    is one of the code's starts), the final stop dropped, and any codon that is not an amino acid
    (an IUPAC code that can only read as a stop, like TAR; a gap; a `*`) as X. Biopython's
    `cds=True` raises on those instead, and the model calls such genes on its own evidence."""
    return translate_bases(str(cds_sequence(genome, gene)), table)


def translate_bases(bases: str, table: int) -> str:
    """`translate` of a coding sequence already on its own strand."""
    import re

    from Bio.Data.CodonTable import unambiguous_dna_by_id
    from Bio.Seq import Seq

    bases = re.sub(r"[^ACGTRYSWKMBDHVN]", "N", bases.upper())
    bases = bases[: len(bases) // 3 * 3]
    protein = str(Seq(bases).translate(table=table))
    if protein.endswith("*"):
        protein = protein[:-1]
    if bases[:3] in unambiguous_dna_by_id[table].start_codons:
        protein = "M" + protein[1:]
    return protein.replace("*", "X")


def gene_gff3_lines(genes: Iterable[GeneCall], lengths: dict[str, int], kind: str, labels: dict,
                    table: int | None, go_threshold: float = GO_THRESHOLD,
                    circular: Iterable[str] = ()) -> Iterable[str]:
    yield "##gff-version 3\n"
    for seqid, length in lengths.items():
        yield f"##sequence-region {escape_seqid(seqid)} 1 {length}\n"
    for seqid, length in lengths.items():
        if seqid in circular:  # the landmark a gene may run past the end of (GFF3 specification)
            yield "\t".join([escape_seqid(seqid), SOURCE, "region", "1", str(length), ".", "+", ".",
                             f"ID={escape_attr(seqid)};Is_circular=true"]) + "\n"
    for g in genes:
        gid = escape_attr(g.gene_id)
        score = "." if g.gene_score is None else f"{g.gene_score:.4f}"
        common = [escape_seqid(g.seqid), SOURCE]
        span = [str(g.start + 1), str(g.end), score, g.strand]
        pseudo = g.biotype == "pseudogene"
        gene_attrs = f"ID={gid};locus_tag={gid};gene_biotype={g.biotype}" + (";pseudo=true" if pseudo else "")
        yield "\t".join(common + ["pseudogene" if pseudo else "gene"] + span + [".", gene_attrs]) + "\n"
        child = CHILD_TYPE.get(g.biotype, "ncRNA")
        attrs = [f"ID={gid}.{child.lower()}", f"Parent={gid}", f"locus_tag={gid}",
                 f"product={escape_attr(product(g, kind, labels, go_threshold))}"]
        if pseudo:
            attrs += ["pseudo=true"] + ([f"Note={escape_attr(g.note)}"] if getattr(g, "note", None) else [])
        if g.function is not None:
            attrs.append(f"inference={escape_attr(g.function.inference)}")
            attrs.append(f"function_score={g.function.score:.4f}")
            if g.function.function_class:
                attrs.append(f"function_class={escape_attr(g.function.function_class)}")
        elif g.inference is not None:  # an RNA gene of a feature source: its caller, no network score
            attrs.append(f"inference={escape_attr(g.inference)}")
        else:
            attrs.append(f"function_score={g.score:.4f}")
        terms = go_terms(g, kind, labels, go_threshold)
        if terms:
            attrs.append("Ontology_term=" + ",".join(escape_attr(t) for t in terms))
        if child in ("CDS", "pseudogenic_CDS") and table is not None:
            attrs.append(f"transl_table={table}")
        phase = "0" if child in ("CDS", "pseudogenic_CDS") else "."
        yield "\t".join(common + [child] + span + [phase, ";".join(attrs)]) + "\n"


def write_gene_gff3(path: str | os.PathLike, genes: Sequence[GeneCall], lengths: dict[str, int], kind: str,
                    labels: dict, table: int | None, go_threshold: float = GO_THRESHOLD,
                    circular: Iterable[str] = ()) -> None:
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.writelines(gene_gff3_lines(genes, lengths, kind, labels, table, go_threshold, circular))


def location(g: GeneCall, length: int):
    """The Biopython location of a call: a `join` at the origin when it runs past the record's end."""
    from Bio.SeqFeature import CompoundLocation, FeatureLocation

    strand = 1 if g.strand == "+" else -1
    if g.end <= length:
        return FeatureLocation(g.start, g.end, strand=strand)
    pieces = [FeatureLocation(g.start, length, strand=strand), FeatureLocation(0, g.end - length, strand=strand)]
    return CompoundLocation(pieces if strand > 0 else pieces[::-1])  # listed along the gene


def genbank_records(genome, lengths: dict[str, int], genes: Sequence[GeneCall], kind: str, labels: dict,
                    table: int, go_threshold: float = GO_THRESHOLD, circular: Iterable[str] = ()):
    """One Biopython SeqRecord per record, with gene and CDS / RNA features."""
    from Bio.Seq import Seq
    from Bio.SeqFeature import SeqFeature
    from Bio.SeqRecord import SeqRecord

    by_seqid: dict[str, list[GeneCall]] = {}
    for g in genes:
        by_seqid.setdefault(g.seqid, []).append(g)
    for seqid, length in lengths.items():
        annotations = {"molecule_type": "DNA", **({"topology": "circular"} if seqid in circular else {})}
        record = SeqRecord(Seq(genome.fetch(seqid).decode("ascii")), id=seqid, name=seqid[:16],
                           description=f"{seqid} annotated by genolong", annotations=annotations)
        for g in by_seqid.get(seqid, []):
            loc = location(g, length)
            pseudo = {"pseudo": [None]} if g.biotype == "pseudogene" else {}  # INSDC's valueless /pseudo
            record.features.append(SeqFeature(loc, type="gene", qualifiers={"locus_tag": [g.gene_id], **pseudo}))
            quals = {"locus_tag": [g.gene_id], "product": [product(g, kind, labels, go_threshold)], **pseudo}
            if pseudo and getattr(g, "note", None):
                quals["note"] = [g.note]
            if g.function is not None:
                quals["inference"] = [g.function.inference]
                if g.function.function_class:
                    quals.setdefault("note", []).append(f"genolong function class: {g.function.function_class}")
            elif g.inference is not None:
                quals["inference"] = [g.inference]
            terms = go_terms(g, kind, labels, go_threshold)
            if terms:
                quals["db_xref"] = terms
            if g.biotype == "protein_coding":
                quals.update(codon_start=["1"], transl_table=[str(table)], translation=[translate(genome, g, table)])
            elif pseudo:  # a pseudogene has no protein
                quals.update(codon_start=["1"], transl_table=[str(table)])
            child = "CDS" if pseudo else CHILD_TYPE.get(g.biotype, "ncRNA")
            record.features.append(SeqFeature(loc, type=child, qualifiers=quals))
        yield record


def write_genbank(path: str | os.PathLike, genome, lengths: dict[str, int], genes: Sequence[GeneCall], kind: str,
                  labels: dict, table: int, go_threshold: float = GO_THRESHOLD, circular: Iterable[str] = ()) -> None:
    from Bio import SeqIO

    with atomic_open(path, "w", encoding="utf-8") as fh:
        SeqIO.write(genbank_records(genome, lengths, genes, kind, labels, table, go_threshold, circular), fh,
                    "genbank")


def write_faa(path: str | os.PathLike, genome, genes: Sequence[GeneCall], table: int) -> None:
    """Protein FASTA: `>gene_id product [location=seqid:start-end(strand)]` (1-based, the end past the
    record's length for a gene across the origin, as in the GFF3), 60 residues a line."""
    with atomic_open(path, "w", encoding="utf-8") as fh:
        for g in genes:
            if g.biotype != "protein_coding":
                continue
            protein = translate(genome, g, table)
            name = g.function.product if g.function is not None else UNKNOWN_PRODUCT
            fh.write(f">{g.gene_id} {name} [location={g.seqid}:{g.start + 1}-{g.end}({g.strand})]\n")
            fh.writelines(protein[i : i + 60] + "\n" for i in range(0, len(protein), 60))
