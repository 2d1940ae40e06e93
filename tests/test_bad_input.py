"""Every user mistake: exit status 2, one line naming the file and what is wrong, no output."""

from __future__ import annotations

import gzip
import os
import shutil

import pytest

from genolong.cli import main

PLASMID_ID = "NC_005816.1"


def _gff(tmp_path, body: str):
    p = tmp_path / f"ann{len(list(tmp_path.glob('ann*.gff3')))}.gff3"
    p.write_text("##gff-version 3\n" + body)
    return p


def _fasta(tmp_path, text=">NC_005816.1\n" + "ACGT" * 500 + "\n", name="g.fa"):
    p = tmp_path / name
    p.write_text(text)
    return p


def _snapshot(root):
    """The readable files under `root` but FASTA indexes (.fai), which reading a FASTA may add."""
    return {p: p.read_bytes() for p in root.rglob("*")
            if p.is_file() and p.suffix != ".fai" and os.access(p, os.R_OK)}


ROW = "NC_005816.1\tx\tgene\t{s}\t{e}\t.\t{st}\t.\tID=g1;locus_tag=g1\n"


def cases(tmp_path, data_dir):
    """name -> (argv extra, expected message fragment)."""
    empty = tmp_path / "empty.fa"
    empty.write_text("")
    notfasta = tmp_path / "notes.txt"
    notfasta.write_text("hello, this is not a genome\n")
    empty_rec = _fasta(tmp_path, ">a\n>b\nACGTACGT\n", name="emptyrec.fa")
    dup = tmp_path / "dup.fa"
    dup.write_text(">a\nACGTACGTAA\n>a\nACGTACGT\n")
    nogbk = tmp_path / "noseq.gb"
    text = (data_dir / "NC_005816.gb").read_text()
    nogbk.write_text(text[: text.index("ORIGIN")] + "//\n")
    unreadable = tmp_path / "secret.fa"
    unreadable.write_text(">a\nACGT\n")
    unreadable.chmod(0)
    fa = _fasta(tmp_path)
    plasmid = str(data_dir / "NC_005816.gb")
    rna = _fasta(tmp_path, ">NC_005816.1\n" + "ACGU" * 500 + "\n", name="rna.fa")
    afile = tmp_path / "afile.txt"
    afile.write_text("mine\n")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "meta.json").write_text("{}")
    (mine / "important.txt").write_text("keep\n")
    text_vocab = tmp_path / "vocab.json"
    text_vocab.write_text("not json")
    return {
        "empty file": (["--genome", str(empty), "--annotation", plasmid], "empty.fa: file is empty"),
        "not fasta/genbank": (["--genome", str(notfasta)], "notes.txt: not a FASTA, GenBank"),
        "empty record": (["--genome", str(empty_rec), "--annotation", plasmid], "record a: empty sequence"),
        "duplicate ids": (["--genome", str(dup), "--annotation", plasmid], "record a: duplicate record id"),
        "seqid absent": (["--genome", str(fa), "--annotation", str(_gff(tmp_path, ROW.format(s=1, e=10, st="+").replace("NC_005816.1", "chrZ", 1)))], "seqid 'chrZ' is not in the genome"),
        "past the end": (["--genome", str(fa), "--annotation", str(_gff(tmp_path, ROW.format(s=1, e=5000, st="+")))], "line 2: gene g1 ends at 5000, past the end of record NC_005816.1"),
        "column count": (["--genome", str(fa), "--annotation", str(_gff(tmp_path, "NC_005816.1\tx\tgene\t1\t10\n"))], "line 2: expected 9 tab-separated columns, found 5"),
        "bad strand": (["--genome", str(fa), "--annotation", str(_gff(tmp_path, ROW.format(s=1, e=10, st="x")))], "line 2: bad strand 'x'"),
        "start > end": (["--genome", str(fa), "--annotation", str(_gff(tmp_path, ROW.format(s=20, e=10, st="+")))], "line 2: start 20 > end 10"),
        "genbank without sequence": (["--genome", str(nogbk)], "GenBank record has no sequence"),
        "no labelled genes": (["--genome", plasmid, "--labels", "attribute:nonexistent"], "labels none of the 10 genes"),
        "unknown scheme": (["--genome", plasmid, "--labels", "cog"], "unknown label scheme 'cog'"),
        "missing path": (["--genome", str(tmp_path / "nope.fa")], "nope.fa: genome file does not exist"),
        "unreadable path": (["--genome", str(unreadable)], "secret.fa: genome file is not readable"),
        "bad split": (["--genome", plasmid, "--labels", "biotype", "--split", "records:val=chr9"], "record 'chr9' is not in the genome"),
        "fasta without annotation": (["--genome", str(fa)], "a FASTA genome needs --annotation"),
        "directory as genome": (["--genome", str(data_dir)], "is a directory, expected a genome file"),
        "annotation as genome": (["--genome", str(_gff(tmp_path, ROW.format(s=1, e=10, st="+")))], "is a GFF3 annotation, expected a FASTA or GenBank genome"),
        "RNA genome": (["--genome", str(rna), "--annotation", plasmid], "rna.fa: record NC_005816.1: an RNA sequence (U"),
        "out is a file": (["--genome", plasmid, "--labels", "biotype", "--out", str(afile)], "afile.txt: --out: exists and is a file"),
        "out under a file": (["--genome", plasmid, "--labels", "biotype", "--out", str(afile / "s")], "is a file, not a folder"),
        "out holds the user's files": (["--genome", plasmid, "--labels", "biotype", "--out", str(mine)],
                                       "mine: exists, is not empty and is not a token store"),
        "k too large": (["--genome", plasmid, "--labels", "biotype", "--k", "9"], "--k 9"),
        "bad vocab": (["--genome", plasmid, "--labels", "biotype", "--vocab", str(text_vocab)], "vocab.json: --vocab"),
        "bad transl table": (["--genome", plasmid, "--labels", "biotype", "--transl-table", "99"], "99"),
    }




@pytest.mark.parametrize("name", [
    "empty file", "not fasta/genbank", "empty record", "duplicate ids", "seqid absent", "past the end",
    "column count", "bad strand", "start > end", "genbank without sequence", "no labelled genes",
    "unknown scheme", "missing path", "unreadable path", "bad split", "fasta without annotation",
    "directory as genome", "annotation as genome", "RNA genome", "out is a file", "out under a file",
    "out holds the user's files", "k too large", "bad vocab", "bad transl table",
])
def test_bad_input_exits_2_with_one_line(name, tmp_path, data_dir, capsys):
    if name == "unreadable path" and os.geteuid() == 0:
        pytest.skip("root can read any file, so permissions cannot make one unreadable")
    extra, fragment = cases(tmp_path, data_dir)[name]
    out = tmp_path / "store"
    before = _snapshot(tmp_path)
    rc = main(["prepare", *extra, *([] if "--out" in extra else ["--out", str(out)])])
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("genolong prepare: error: ") and fragment in lines[0], lines[0]
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert _snapshot(tmp_path) == before  # no file of the user's changed


def test_crlf_inputs_just_work(tmp_path, data_dir):
    fna = tmp_path / "afade.fa"
    fna.write_bytes(gzip.open(data_dir / "mycoides_Afade.fna.gz").read().replace(b"\n", b"\r\n"))
    gff = tmp_path / "afade.gff3"
    gff.write_bytes(gzip.open(data_dir / "mycoides_Afade.gff3.gz").read().replace(b"\n", b"\r\n"))
    assert main(["prepare", "--genome", str(fna), "--annotation", str(gff), "--labels", "biotype",
                 "--split", "records:val=NZ_LAEX01000004.1;test=NZ_LAEX01000005.1", "--allow-leak", "--out", str(tmp_path / "s")]) == 0
    from genolong.data.store import TokenStore

    assert len(TokenStore(tmp_path / "s").seqids) == 8


def test_interrupted_store_is_not_a_store(tmp_path, data_dir):
    from genolong.errors import GenolongError
    from genolong.data.store import TokenStore

    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "tokens").mkdir()
    with pytest.raises(GenolongError, match="not a token store"):
        TokenStore(tmp_path / "half")
    shutil.rmtree(tmp_path / "half")


SMALL = ["--split", "contiguous:val=0.2;test=0.1;gap=100"]  # the plasmid is too short for the default gap


def test_prepare_replaces_only_a_folder_that_is_a_token_store(tmp_path, data_dir, capsys):
    """Issue 21 case 6: a folder that merely holds a meta.json is the user's, not a store."""
    plasmid = str(data_dir / "NC_005816.gb")
    mine = tmp_path / "d"
    mine.mkdir()
    (mine / "meta.json").write_text("{}")
    (mine / "important.txt").write_text("keep\n")
    assert main(["prepare", "--genome", plasmid, *SMALL, "--labels", "biotype", "--out", str(mine)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not a token store; refusing to replace it (it holds important.txt)" in err[0], err
    assert (mine / "important.txt").read_text() == "keep\n" and (mine / "meta.json").read_text() == "{}"
    (mine / "important.txt").unlink()  # a meta.json that is not a store's is not enough either
    assert main(["prepare", "--genome", plasmid, *SMALL, "--labels", "biotype", "--out", str(mine)]) == 2
    assert "its meta.json is not a store's" in capsys.readouterr().err
    store = tmp_path / "store"
    assert main(["prepare", "--genome", plasmid, *SMALL, "--labels", "biotype", "--out", str(store)]) == 0
    first = (store / "meta.json").read_text()
    assert main(["prepare", "--genome", plasmid, *SMALL, "--labels", "product", "--out", str(store)]) == 0  # a store: replaced
    assert (store / "meta.json").read_text() != first
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_killed_runs_temporaries_are_removed_by_the_next_run(tmp_path, data_dir):
    """Issue 21 case 8: a killed prepare leaves a hidden work folder, a killed atomic write a hidden
    file; the next run of the same output removes them, and leaves a live process's alone."""
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    left = tmp_path / f".store.{dead}.abc123.tmp"
    (left / "tokens").mkdir(parents=True)
    (left / "tokens" / "x.npy").write_bytes(b"half")
    half = tmp_path / f".out.txt.{dead}.q1w2e3.tmp"
    half.write_text("half")
    live = tmp_path / f".store.{os.getppid()}.zz9.tmp"  # a running process's: not ours to remove
    live.mkdir()
    other = tmp_path / f".store.1.{dead}.abc.tmp"  # a temporary of "store.1", not of "store"
    other.mkdir()
    assert main(["prepare", "--genome", str(data_dir / "NC_005816.gb"), *SMALL, "--labels", "biotype",
                 "--out", str(tmp_path / "store")]) == 0
    from genolong.atomic import atomic_write_text

    atomic_write_text(tmp_path / "out.txt", "whole\n")
    hidden = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("."))
    assert hidden == sorted([live.name, other.name])
