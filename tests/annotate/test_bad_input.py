"""genolong annotate with bad input: exit 2, one line naming the file or option, no traceback, no
file of the user's changed and no output under its final name (issue 21)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from genolong.data.tokenizer import KmerTokenizer

from tests.refusals import immutable, refused

from .helpers import BIOTYPE, TINY_ENCODER, save_checkpoint

GFF_ROW = "NC_005816.1\tx\t{type}\t{s}\t{e}\t.\t+\t0\tID={id}\n"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return save_checkpoint(TINY_ENCODER, BIOTYPE, KmerTokenizer(6), tmp_path_factory.mktemp("ckpt") / "tiny.ckpt")


def cases(tmp: Path, data: Path, ckpt: Path) -> dict:
    """name -> (arguments after `annotate`, fragment of the one error line). Inputs live in `tmp`."""
    gbk = tmp / "x.gbk"
    shutil.copy(data / "NC_005816.gb", gbk)
    fa = tmp / "g.fa"
    fa.write_text(">NC_005816.1\n" + "ACGTTGCAAT" * 300 + "\n")
    gff = tmp / "y.gff3"
    gff.write_text("##gff-version 3\n" + GFF_ROW.format(type="gene", s=1, e=300, id="g1"))
    past = tmp / "past.gff3"
    past.write_text("##gff-version 3\n" + GFF_ROW.format(type="CDS", s=1, e=999999, id="c1"))
    wraps = tmp / "wraps.gff3"  # a gene across the origin of a record nothing marks circular
    wraps.write_text("##gff-version 3\n" + GFF_ROW.format(type="CDS", s=2901, e=3120, id="w1"))
    too_long = tmp / "too_long.gff3"  # circular, but the gene is longer than the record
    too_long.write_text("##gff-version 3\nNC_005816.1\tx\tregion\t1\t3000\t.\t+\t.\tID=r;Is_circular=true\n"
                        + GFF_ROW.format(type="CDS", s=2901, e=6120, id="w2"))
    other_seqid = tmp / "other.gff3"
    other_seqid.write_text("##gff-version 3\n" + GFF_ROW.format(type="gene", s=1, e=300, id="g1").replace("NC_005816.1", "chrZ"))
    rna = tmp / "rna.fa"
    rna.write_text(">r\n" + "ACGUUGCAAU" * 300 + "\n")
    truncated = tmp / "trunc.ckpt"
    truncated.write_bytes(ckpt.read_bytes()[:3000])
    text = tmp / "notes.txt"
    text.write_text("not a genome\n")
    empty = tmp / "empty.fa"
    empty.write_text("")
    bad_chars = tmp / "bad.fa"
    bad_chars.write_text(">a\nACGT!!ACGT\n")
    dup = tmp / "dup.fa"
    dup.write_text(">a\nACGTACGTAA\n>a\nACGTACGT\n")
    blocked = tmp / "blocked"
    blocked.mkdir()
    afile = tmp / "afile"
    afile.write_text("a file\n")
    (tmp / "z.gff3").mkdir()
    not_store = tmp / "not_store"
    not_store.mkdir()
    out = str(tmp / "out" / "x")
    base = ["--checkpoint", str(ckpt), "--no-progress", "--device", "cpu"]
    return {
        "prefix = genome": ([*base, "--genome", str(gbk), "--out", str(tmp / "x")], "would overwrite the input"),
        "prefix = annotation": ([*base, "--genome", str(fa), "--annotation", str(gff), "--out", str(tmp / "y")],
                                "would overwrite the input"),
        "unwritable folder": ([*base, "--genome", str(fa), "--out", str(blocked / "x")], "cannot write in"),
        "parent is a file": ([*base, "--genome", str(fa), "--out", str(afile / "x")], "is a file, not a folder"),
        "output is a folder": ([*base, "--genome", str(fa), "--out", str(tmp / "z")], "exists and is a folder"),
        "missing checkpoint": (["--checkpoint", str(tmp / "no.ckpt"), "--genome", str(fa), "--out", out],
                               "no.ckpt: no such checkpoint file"),
        "truncated checkpoint": (["--checkpoint", str(truncated), "--genome", str(fa), "--out", out],
                                 "trunc.ckpt: not a readable checkpoint"),
        "text as checkpoint": (["--checkpoint", str(text), "--genome", str(fa), "--out", out],
                               "notes.txt: not a readable checkpoint"),
        "missing genome": ([*base, "--genome", str(tmp / "none.fa"), "--out", out], "none.fa: genome file does not exist"),
        "empty genome": ([*base, "--genome", str(empty), "--out", out], "empty.fa: file is empty"),
        "text as genome": ([*base, "--genome", str(text), "--out", out], "notes.txt: not a FASTA, GenBank"),
        "bad characters": ([*base, "--genome", str(bad_chars), "--out", out], "invalid characters in sequence"),
        "duplicate ids": ([*base, "--genome", str(dup), "--out", out], "duplicate record id"),
        "RNA genome": ([*base, "--genome", str(rna), "--out", out], "rna.fa: record r: an RNA sequence (U, line 2)"),
        "CDS past the end": ([*base, "--genome", str(fa), "--annotation", str(past), "--out", out],
                             "past.gff3: gene c1 ends at 999999, past the end of record NC_005816.1"),
        "gene across a linear origin": ([*base, "--genome", str(fa), "--annotation", str(wraps), "--out", out],
                                        "wraps.gff3: gene w1 ends at 3120, past the end of record NC_005816.1 "
                                        "(length 3000); a gene across the origin needs the record marked circular"),
        "circular gene too long": ([*base, "--genome", str(fa), "--annotation", str(too_long), "--out", out],
                                   "must start inside it and be at most its length (3000 bp)"),
        "circular unknown record": ([*base, "--genome", str(fa), "--circular", "chrQ", "--out", out],
                                    "--circular chrQ: "),
        "circular all and a name": ([*base, "--genome", str(fa), "--circular", "all", "NC_005816.1", "--out", out],
                                    "`all` stands alone"),
        "annotation seqid absent": ([*base, "--genome", str(fa), "--annotation", str(other_seqid), "--out", out],
                                    "none of its sequence ids (chrZ"),
        "missing annotation": ([*base, "--genome", str(fa), "--annotation", str(tmp / "none.gff3"), "--out", out],
                               "none.gff3"),
        "go threshold": ([*base, "--genome", str(fa), "--go-threshold", "2", "--out", out], "--go-threshold 2.0"),
        "switch prob": ([*base, "--genome", str(fa), "--switch-prob", "0", "--out", out], "--switch-prob 0.0"),
        "window": ([*base, "--genome", str(fa), "--window", "0", "--out", out], "--window"),
        "overlap": ([*base, "--genome", str(fa), "--window", "64", "--overlap", "64", "--out", out], "--overlap"),
        "batch size": ([*base, "--genome", str(fa), "--batch-size", "0", "--out", out], "--batch-size"),
        "device": ([*base[:2], "--genome", str(fa), "--device", "tpu", "--out", out], "--device tpu"),
        "min gene length": ([*base, "--genome", str(fa), "--min-gene-length", "-10", "--out", out], "--min-gene-length -10"),
        "min length": ([*base, "--genome", str(fa), "--min-length", "-1", "--out", out], "--min-length -1"),
        "transl table": ([*base, "--genome", str(fa), "--transl-table", "99", "--out", out], "99"),
        "store not a store": ([*base, "--genome", str(fa), "--store", str(not_store), "--out", out], "not a token store"),
    }


# every row runs in the default suite: all of them together take a few seconds
NAMES = [
    "prefix = genome", "prefix = annotation", "unwritable folder", "parent is a file", "output is a folder",
    "missing checkpoint", "truncated checkpoint", "text as checkpoint", "missing genome", "empty genome",
    "text as genome", "bad characters", "duplicate ids", "RNA genome", "CDS past the end",
    "gene across a linear origin", "circular gene too long", "circular unknown record", "circular all and a name",
    "annotation seqid absent", "missing annotation", "go threshold", "switch prob", "window", "overlap",
    "batch size", "device", "min gene length", "min length", "transl table", "store not a store"]


@pytest.mark.parametrize("name", NAMES)
def test_bad_annotate_input_is_one_line(name, checkpoint, tmp_path, data_dir, capsys):
    argv, fragment = cases(tmp_path, data_dir, checkpoint)[name]
    blocked = tmp_path / "blocked" if name == "unwritable folder" else None
    if blocked is not None and not immutable(blocked):
        pytest.skip("cannot make a folder unwritable here")
    refused("annotate", argv, tmp_path, capsys, fragment, blocked)
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".")]
