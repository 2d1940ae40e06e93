"""Genome readers: FASTA (plain/gzip/bgzip/CRLF) and GenBank behind one interface."""

from __future__ import annotations

import gzip

import pytest
from Bio import SeqIO, bgzf

from genolong.data.genome import open_genome


@pytest.fixture(scope="module")
def afade_seqs(data_dir):
    with gzip.open(data_dir / "mycoides_Afade.fna.gz", "rt") as fh:
        return {r.id: str(r.seq) for r in SeqIO.parse(fh, "fasta")}


@pytest.mark.parametrize("kind", ["gzip", "plain", "bgzip", "crlf"])
def test_fasta_variants_read_the_same(kind, tmp_path, data_dir, afade_seqs):
    src = data_dir / "mycoides_Afade.fna.gz"
    text = gzip.open(src, "rb").read()
    path = src
    if kind == "plain":
        path = tmp_path / "a.fa"
        path.write_bytes(text)
    elif kind == "bgzip":
        path = tmp_path / "a.fa.gz"
        with bgzf.BgzfWriter(str(path), "wb") as fh:
            fh.write(text)
    elif kind == "crlf":
        path = tmp_path / "a.fa"
        path.write_bytes(text.replace(b"\n", b"\r\n"))
    with open_genome(path) as g:
        assert g.format == "fasta"
        assert g.ids == list(afade_seqs)
        assert g.lengths == {k: len(v) for k, v in afade_seqs.items()}
        sid = g.ids[3]
        assert g.fetch(sid) == afade_seqs[sid].encode()
        assert g.fetch(sid, 1000, 1234) == afade_seqs[sid][1000:1234].encode()
        assert g.fetch(sid, 5, 5) == b""


def test_fasta_keeps_case(tmp_path):
    p = tmp_path / "x.fa"
    p.write_text(">r1 some description\nACGTacgtNN\nAC\n>r2\nggg\n")
    with open_genome(p) as g:
        assert g.ids == ["r1", "r2"] and g.lengths == {"r1": 12, "r2": 3}
        assert g.fetch("r1", 2, 8) == b"GTacgt"


def test_fasta_and_genbank_agree(data_dir, afade_seqs):
    with open_genome(data_dir / "mycoides_Afade.gbff.gz") as g:
        assert g.format == "genbank" and g.ids == list(afade_seqs)
        assert all(g.fetch(i) == s.encode() for i, s in afade_seqs.items())


def test_default_genome(default_genome):
    with open_genome(default_genome) as g:
        assert g.ids == ["NZ_CP001668.1"] and g.lengths["NZ_CP001668.1"] == 1_084_586


def test_stale_fai_of_another_file_is_not_used(tmp_path, capsys):
    """Issue 21 case 3: a FASTA replaced by an older-dated file of other lengths (`cp -p`, `tar x`)
    keeps a .fai newer than itself, which pyfaidx trusts; the index is checked against the file."""
    import os

    from genolong.data.genome import open_genome

    fasta = tmp_path / "g.fa"
    fasta.write_text(">r1\n" + "ACGT" * 30 + "\nGG\n>r2\n" + "T" * 50 + "\n")
    with open_genome(fasta) as genome:
        assert genome.lengths == {"r1": 122, "r2": 50}
    index = tmp_path / "g.fa.fai"
    stale = index.read_bytes()
    older = tmp_path / "older.fa"
    older.write_text(">r1\n" + "ACGT" * 20 + "\n>r2\n" + "CA" * 40 + "\n")
    os.utime(older, (1e9, 1e9))
    os.replace(older, fasta)  # older than the index now, as `cp -p` of an old file leaves it
    assert fasta.stat().st_mtime < index.stat().st_mtime
    with open_genome(fasta) as genome:
        assert genome.lengths == {"r1": 80, "r2": 80}
        assert genome.fetch("r2", 0, 6) == b"CACACA"
        assert genome.fetch("r1", 76, 80) == b"ACGT"
    assert "g.fa.fai: index does not match" in capsys.readouterr().err
    assert index.read_bytes() == stale  # the user's file is left as it was
