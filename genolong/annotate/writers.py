"""GFF3, BED9 and TSV writers for predicted segments and gene calls; every file is atomic.

Coordinates are 0-based half-open in Python and converted here: GFF3 is 1-based closed, BED is
0-based half-open. A gene across the origin of a circular record (its end past the record's
length, `annotate/circular.py`) is two BED lines, one each side of the origin, with the same name:
BED has no circular convention, and genome browsers and `bedToBigBed` refuse an end past the
chromosome's size. Multilabel function labels (";"-joined GO terms) become comma-separated
GFF3 attribute values, each escaped.
"""

from __future__ import annotations

import os
from typing import Iterable, Sequence
from urllib.parse import quote

from genolong.annotate.decode import Segment
from genolong.annotate.genes import GeneCall
from genolong.atomic import atomic_open

SOURCE = "genolong"

# matplotlib's tab20, so BED colours match the plots without importing matplotlib here.
PALETTE = [
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
    (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207), (174, 199, 232), (255, 187, 120),
    (152, 223, 138), (255, 152, 150), (197, 176, 213), (196, 156, 148), (247, 182, 210), (199, 199, 199),
    (219, 219, 141), (158, 218, 229),
]

# GFF3 spec: seqid may keep [a-zA-Z0-9.:^*$@!+_?-|]; column 9 must escape ;=&, and controls.
_SEQID_SAFE = ".:^*$@!+_?-|"
_ATTR_SAFE = " !\"#$'()*+-./:<>?@[\\]^_`{|}~"


def escape_seqid(seqid: str) -> str:
    return quote(seqid, safe=_SEQID_SAFE)


def escape_attr(value: str) -> str:
    return quote(value, safe=_ATTR_SAFE)


def class_colours(classes: Sequence[str]) -> dict[str, tuple[int, int, int]]:
    """One colour per class name, and per class name without its strand suffix."""
    from genolong.data.labels import split_strand

    colours: dict[str, tuple[int, int, int]] = {}
    for i, name in enumerate(classes):
        colour = PALETTE[i % len(PALETTE)]
        colours.setdefault(name, colour)
        colours.setdefault(split_strand(name)[0], colour)
    return colours


def gff3_lines(segments: Iterable[Segment], lengths: dict[str, int]) -> Iterable[str]:
    yield "##gff-version 3\n"
    for seqid, length in lengths.items():
        yield f"##sequence-region {escape_seqid(seqid)} 1 {length}\n"
    counters: dict[str, int] = {}
    for seg in segments:
        counters[seg.seqid] = counters.get(seg.seqid, 0) + 1
        gene_id = f"genolong_{seg.seqid}_{counters[seg.seqid]}"
        function = ",".join(escape_attr(term) for term in (seg.functions or (seg.label,)))
        attrs = [f"ID={escape_attr(gene_id)}", f"Name={escape_attr(seg.label)}", f"function={function}"]
        cols = [escape_seqid(seg.seqid), SOURCE, "gene", str(seg.start + 1), str(seg.end),
                f"{seg.score:.4f}", seg.strand, ".", ";".join(attrs)]
        yield "\t".join(cols) + "\n"


def write_gff3(path: str | os.PathLike, segments: Iterable[Segment], lengths: dict[str, int]) -> None:
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.writelines(gff3_lines(segments, lengths))


def bed_lines(segments: Iterable[Segment | GeneCall], classes: Sequence[str],
              lengths: dict[str, int] | None = None) -> Iterable[str]:
    """BED9 of decoded segments or of gene calls (whose multilabel label is ";"-joined terms); with
    the records' `lengths`, a call past its record's end is cut at the origin into two lines."""
    colours = class_colours(classes)
    yield 'track name=genolong description="genolong predicted genes" itemRgb="On"\n'
    for seg in segments:
        first_label = (getattr(seg, "functions", ()) or (seg.label.split(";")[0],))[0]
        r, g, b = colours.get(first_label, PALETTE[-1])
        score = int(round(max(0.0, min(1.0, seg.score)) * 1000))
        name = seg.label.replace("\t", " ").replace(" ", "_") or "."
        length = None if lengths is None else lengths.get(seg.seqid)
        pieces = [(seg.start, seg.end)]
        if length is not None and seg.end > length:
            pieces = [(seg.start, length), (0, seg.end - length)]
        for start, end in pieces:
            cols = [seg.seqid, str(start), str(end), name, str(score), seg.strand, str(start), str(end),
                    f"{r},{g},{b}"]
            yield "\t".join(cols) + "\n"


def write_bed(path: str | os.PathLike, segments: Iterable[Segment], classes: Sequence[str],
              lengths: dict[str, int] | None = None) -> None:
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.writelines(bed_lines(segments, classes, lengths))


TSV_FIXED = ["seqid", "start", "end", "strand", "gene_id", "name", "biotype", "source", "label", "score"]


def _cell(value: str) -> str:
    return str(value).replace("\t", " ").replace("\n", " ")


def tsv_lines(genes: Iterable[GeneCall], classes: Sequence[str]) -> Iterable[str]:
    yield "\t".join(TSV_FIXED + [f"p_{c}" for c in classes]) + "\n"
    for g in genes:
        fixed = [g.seqid, g.start, g.end, g.strand, g.gene_id, g.name, g.biotype, g.source, g.label, f"{g.score:.4f}"]
        yield "\t".join([_cell(v) for v in fixed] + [f"{p:.4f}" for p in g.probs]) + "\n"


def write_genes_tsv(path: str | os.PathLike, genes: Iterable[GeneCall], classes: Sequence[str]) -> None:
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.writelines(tsv_lines(genes, classes))
