"""genolong evaluate with bad input: exit 2, one line naming the file or option, no traceback, no
file of the user's changed and no metrics written (issue 21)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from genolong.annotate import Annotator
from genolong.cli import main
from genolong.data.labels import LabelVocab
from genolong.data.tokenizer import KmerTokenizer

from tests.refusals import immutable, refused

from .helpers import LocalNet

BIOTYPE = LabelVocab("biotype", "single", ["intergenic", "protein_coding", "rRNA", "tRNA"])
SEQID = "NC_005816.1"


@pytest.fixture(scope="module")
def predicted(tmp_path_factory, data_dir) -> Path:
    """PREFIX of predictions on the Y. pestis plasmid (9.6 kbp), by a small untrained network."""
    prefix = tmp_path_factory.mktemp("pred") / "p"
    ann = Annotator(LocalNet(4101, BIOTYPE.n_outputs, radius=3), KmerTokenizer(6), BIOTYPE, window=64,
                    batch_size=16, min_length=30, p_switch=0.05, progress=False)
    ann.annotate(data_dir / "NC_005816.gb").write(prefix)
    return prefix


def _plasmid_bases(data_dir) -> str:
    from Bio import SeqIO

    return str(SeqIO.read(data_dir / "NC_005816.gb", "genbank").seq)


def cases(tmp: Path, data: Path, pred: Path) -> dict:
    """name -> (arguments after `evaluate`, fragment of the one error line). Inputs live in `tmp`."""
    ref = str(data / "NC_005816.gb")
    bases = _plasmid_bases(data)
    copy = tmp / "p"
    for ext in ("probs.npz", "gff3"):
        shutil.copy(f"{pred}.{ext}", f"{copy}.{ext}")
    no_gff = tmp / "nogff"
    shutil.copy(f"{pred}.probs.npz", f"{no_gff}.probs.npz")
    bad_gff = tmp / "badgff"
    shutil.copy(f"{pred}.probs.npz", f"{bad_gff}.probs.npz")
    (tmp / "badgff.gff3").write_text("##gff-version 3\nNC_005816.1\tx\tgene\t1\n")
    mixed = tmp / "mixed"  # the probabilities of this run beside the GFF3 of a run on another genome
    shutil.copy(f"{pred}.probs.npz", f"{mixed}.probs.npz")
    (tmp / "mixed.gff3").write_text(f"##gff-version 3\n##sequence-region {SEQID} 1 120000\n")
    broken = tmp / "broken"
    (tmp / "broken.probs.npz").write_bytes(b"PK\x03\x04 not really a zip")
    existing = tmp / "existing.txt"
    existing.write_text("mine\n")
    blocked = tmp / "blocked"
    blocked.mkdir()
    fasta_ref = tmp / "ref.fa"
    fasta_ref.write_text(f">{SEQID}\n{bases}\n")
    empty = tmp / "empty.gff3"
    empty.write_text("")
    past = tmp / "past.gff3"
    past.write_text(f"##gff-version 3\n{SEQID}\tx\tCDS\t1\t999999\t.\t+\t0\tID=c1\n")
    wraps = tmp / "wraps.gff3"  # a gene across the origin of a record the reference does not mark circular
    wraps.write_text(f"##gff-version 3\n##sequence-region {SEQID} 1 9609\n{SEQID}\tx\tCDS\t9001\t9700\t.\t+\t0\tID=w1\n")
    shorter = tmp / "shorter.gff3"
    shorter.write_text(f"##gff-version 3\n##sequence-region {SEQID} 1 5000\n{SEQID}\tx\tgene\t10\t400\t.\t+\t.\tID=g1\n")
    swapped = tmp / "swapped.fa"  # the same name and length, other bases
    swapped.write_text(f">{SEQID}\n{bases[::-1]}\n")
    short_genome = tmp / "short.fa"
    short_genome.write_text(f">{SEQID}\n{bases[:8000]}\n")
    other_genome = tmp / "other.fa"
    other_genome.write_text(f">chr1\n{bases}\n")
    text = tmp / "notes.txt"
    text.write_text("not a model\n")
    not_csv = tmp / "log.csv"
    not_csv.write_text("epoch;loss\n1;0.5\n")
    not_store = tmp / "not_store"
    not_store.mkdir()
    out = str(tmp / "out")
    base = ["--pred", str(copy), "--reference", ref]
    return {
        "out is a file": ([*base, "--out", str(existing)], "existing.txt: --out: exists and is a file"),
        "out under a file": ([*base, "--out", str(existing / "e")], "is a file, not a folder"),
        "out unwritable": ([*base, "--out", str(blocked / "e")], "cannot write in"),
        "pred missing": (["--pred", str(tmp / "none"), "--reference", ref, "--out", out], "none.probs.npz: no such file"),
        "pred broken": (["--pred", str(broken), "--reference", ref, "--out", out], "broken.probs.npz: not a genolong"),
        "pred without gff3": (["--pred", str(no_gff), "--reference", ref, "--out", out], "nogff.gff3: no such file"),
        "pred gff3 columns": (["--pred", str(bad_gff), "--reference", ref, "--out", out], "badgff.gff3: line 2: expected 9"),
        "pred of two runs": (["--pred", str(mixed), "--reference", ref, "--out", out],
                             "mixed.gff3: record NC_005816.1 (120,000 bp) is not in"),
        "reference missing": (["--pred", str(copy), "--reference", str(tmp / "none.gff3"), "--out", out], "none.gff3"),
        "reference is FASTA": (["--pred", str(copy), "--reference", str(fasta_ref), "--out", out],
                               "ref.fa: is a FASTA genome, expected"),
        "reference empty": (["--pred", str(copy), "--reference", str(empty), "--out", out], "empty.gff3: file is empty"),
        "reference elsewhere": (["--pred", str(copy), "--reference", str(data / "D10483.gbk"), "--out", out],
                                "D10483.gbk: none of its"),
        "CDS past the end": (["--pred", str(copy), "--reference", str(past), "--out", out],
                             "past.gff3: gene c1 ends at 999999, past the end of record NC_005816.1"),
        "gene across a linear origin": (["--pred", str(copy), "--reference", str(wraps), "--out", out],
                                        "wraps.gff3: gene w1 ends at 9700, past the end of record NC_005816.1 "
                                        "(length 9609); a gene across the origin needs the record marked circular"),
        "reference of another length": (["--pred", str(copy), "--reference", str(shorter), "--out", out],
                                        "shorter.gff3: record NC_005816.1 is 5,000 bp, but"),
        "genome other bases": ([*base, "--genome", str(swapped), "--out", out],
                               "swapped.fa (--genome): record NC_005816.1: its sequence differs"),
        "genome other length": ([*base, "--genome", str(short_genome), "--out", out],
                                "short.fa (--genome): record NC_005816.1 is 8,000 bp"),
        "genome without the record": ([*base, "--genome", str(other_genome), "--out", out],
                                      "other.fa: --genome has no record 'NC_005816.1'"),
        "genome missing": ([*base, "--genome", str(tmp / "none.fa"), "--out", out], "none.fa: genome file does not exist"),
        "baseline missing": ([*base, "--baseline", str(tmp / "none.json"), "--out", out], "none.json"),
        "baseline not a model": ([*base, "--baseline", str(text), "--out", out], "notes.txt"),
        "store not a store": ([*base, "--store", str(not_store), "--out", out], "not a token store"),
        "split without store": ([*base, "--split", "val", "--out", out], "--split val: needs --store"),
        "train log not Lightning's": ([*base, "--train-log", str(not_csv), "--out", out],
                                      "log.csv: --train-log: not a Lightning CSV log"),
        "train log missing": ([*base, "--train-log", str(tmp / "none.csv"), "--out", out], "none.csv"),
        "translation table": ([*base, "--translation-table", "99", "--out", out], "99"),
    }


NAMES = ["out is a file", "out under a file", "out unwritable", "pred missing", "pred broken", "pred without gff3",
         "pred gff3 columns", "pred of two runs", "reference missing", "reference is FASTA", "reference empty", "reference elsewhere",
         "CDS past the end", "gene across a linear origin", "reference of another length", "genome other bases", "genome other length",
         "genome without the record", "genome missing", "baseline missing", "baseline not a model",
         "store not a store", "split without store", "train log not Lightning's", "train log missing",
         "translation table"]


@pytest.mark.parametrize("name", NAMES)
def test_bad_evaluate_input_is_one_line(name, predicted, tmp_path, data_dir, capsys):
    argv, fragment = cases(tmp_path, data_dir, predicted)[name]
    blocked = tmp_path / "blocked" if name == "out unwritable" else None
    if blocked is not None and not immutable(blocked):
        pytest.skip("cannot make a folder unwritable here")
    refused("evaluate", [*argv, "--no-plots", "--prodigal", "off"], tmp_path, capsys, fragment, blocked)
    assert not (tmp_path / "out").exists()


def test_the_good_case_passes(predicted, tmp_path, data_dir, capsys):
    """The same inputs, right: so each row above fails for its own fault."""
    assert main(["evaluate", "--pred", str(predicted), "--reference", str(data_dir / "NC_005816.gb"),
                 "--genome", str(data_dir / "NC_005816.gb"), "--out", str(tmp_path / "out"), "--no-plots",
                 "--prodigal", "off"]) == 0
    assert (tmp_path / "out" / "metrics.json").is_file()
